"""The one place that makes a state machine with our defaults: Standard type (executions
visible in the console for 90 days and exactly-once task starts), logging to a retained,
encrypted log group, and X-Ray tracing."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.house.log_retention import retention
from cdk_app.house.nag import suppress

if TYPE_CHECKING:  # house is below the constructs and the config it serves: types only
    from cdk_app.config import PipelineConfig



def pipeline_state_machine(
    scope: Construct,
    construct_id: str,
    *,
    config: PipelineConfig,
    definition: str,
    substitutions: Mapping[str, str],
    key: kms.IKey,
    timeout: Duration = Duration.hours(24),
) -> sfn.StateMachine:
    """A Standard state machine from an ASL string with `${...}` DefinitionSubstitutions, named
    `state_machine_name(scope, construct_id)`.

    The name is explicit because CDK builds the `kms:EncryptionContext:aws:states:stateMachineArn`
    condition of the role's key grant from it: without one the condition names
    `...:stateMachine:` (an empty name), the role can neither encrypt nor decrypt its own
    execution data, and every execution fails
    (https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html).
    """
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=retention(config.log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )
    return sfn.StateMachine(
        scope,
        construct_id,
        state_machine_name=state_machine_name(scope, construct_id),
        definition_body=sfn.DefinitionBody.from_string(definition),
        definition_substitutions=dict(substitutions),
        state_machine_type=sfn.StateMachineType.STANDARD,
        timeout=timeout,
        tracing_enabled=True,
        encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(key),
        logs=sfn.LogOptions(
            destination=log_group,
            level=sfn.LogLevel.ALL,
            # Execution data can hold object keys and extracted text: keep it out of the logs.
            include_execution_data=False,
        ),
    )


MAX_NAME = 80  # https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html


def state_machine_name(scope: Construct, construct_id: str) -> str:
    """`<stack name>-<scope id><construct id>` (for example MultimodalPipeline-OrchestrationStateMachine),
    within Step Functions' 80 characters. Raises ValueError when the stack name leaves no room."""
    name = f"{Stack.of(scope).stack_name}-{scope.node.id}{construct_id}"
    if len(name) > MAX_NAME:
        raise ValueError(f"state machine name {name!r} is longer than {MAX_NAME} characters: shorten the stack name")
    return name


# Step Functions encrypts execution data with the state machine's customer-managed key under this
# encryption context, on behalf of the caller.
# https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html
KMS_CONTEXT_KEY = "kms:EncryptionContext:aws:states:stateMachineArn"


def key_use_statement(action: str, key: kms.IKey, state_machine_arn: str) -> iam.PolicyStatement:
    """`action` on `key`, only for execution data of the state machine `state_machine_arn`."""
    return iam.PolicyStatement(actions=[action], resources=[key.key_arn],
                               conditions={"StringEquals": {KMS_CONTEXT_KEY: state_machine_arn}})


def grant_start_execution(machine: sfn.IStateMachine, key: kms.IKey, grantee: iam.IGrantable) -> None:
    """StartExecution on `machine` and the key use it needs: the caller's kms:GenerateDataKey
    encrypts the execution input (without it StartExecution fails with KMS.AccessDeniedException)."""
    machine.grant_start_execution(grantee)
    grantee.grant_principal.add_to_principal_policy(
        key_use_statement("kms:GenerateDataKey", key, machine.state_machine_arn))


def grant_child_executions(scope: Construct, machine: sfn.StateMachine, key: kms.IKey) -> iam.Policy:
    """A Distributed Map runs its items as child executions of its own state machine: the
    machine's role starts executions of itself (encrypting their input under the machine's
    context) and describes and stops them.
    https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html

    The ARNs are built from the machine's (explicit) name, in a policy of its own (`ChildExecutions`
    in `scope`): the machine depends on its role's default policy, so naming the machine there
    would make a circular dependency."""
    stack = Stack.of(scope)
    name = machine.state_machine_name
    own = stack.format_arn(service="states", resource="stateMachine", resource_name=name,
                           arn_format=ArnFormat.COLON_RESOURCE_NAME)
    children = stack.format_arn(service="states", resource="execution", resource_name=f"{name}/*",
                                arn_format=ArnFormat.COLON_RESOURCE_NAME)
    policy = iam.Policy(scope, "ChildExecutions", roles=[machine.role], statements=[
        iam.PolicyStatement(actions=["states:StartExecution"], resources=[own]),
        key_use_statement("kms:GenerateDataKey", key, own),
        iam.PolicyStatement(actions=["states:DescribeExecution", "states:StopExecution"], resources=[children]),
    ])
    suppress(policy, "AwsSolutions-IAM5",
             "Distributed Map child executions of this state machine only (execution:<its name>/*); "
             "their ids are generated at run time "
             "(https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html).",
             [{"regex": "/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
                        "[^:]+\\/\\*$/"}])
    return policy
