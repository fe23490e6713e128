"""The one place that makes a state machine with our defaults: Standard type (executions
visible in the console for 90 days and exactly-once task starts), logging to a retained,
encrypted log group, and X-Ray tracing."""
from __future__ import annotations

from typing import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.config import PipelineConfig
from cdk_app.house.log_retention import retention


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
    """A Standard state machine from an ASL string with `${...}` DefinitionSubstitutions."""
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=retention(config.log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )
    return sfn.StateMachine(
        scope,
        construct_id,
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


# Step Functions encrypts execution data with the state machine's customer-managed key under this
# encryption context, on behalf of the caller.
# https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html
KMS_CONTEXT_KEY = "kms:EncryptionContext:aws:states:stateMachineArn"


def key_use_statement(action: str, key: kms.IKey, state_machine_arn: str) -> iam.PolicyStatement:
    """`action` on `key`, only for execution data of the state machine `state_machine_arn`."""
    return iam.PolicyStatement(actions=[action], resources=[key.key_arn],
                               conditions={"StringEquals": {KMS_CONTEXT_KEY: state_machine_arn}})


def grant_start_execution(machine: sfn.StateMachine, key: kms.IKey, grantee: iam.IGrantable) -> None:
    """StartExecution on `machine` and the key use it needs: the caller's kms:GenerateDataKey
    encrypts the execution input (without it StartExecution fails with KMS.AccessDeniedException)."""
    machine.grant_start_execution(grantee)
    grantee.grant_principal.add_to_principal_policy(
        key_use_statement("kms:GenerateDataKey", key, machine.state_machine_arn))
