"""The one place that makes a state machine with our defaults: Standard type (executions
visible in the console for 90 days and exactly-once task starts), logging to a retained,
encrypted log group, and X-Ray tracing."""
from __future__ import annotations

from typing import Mapping

from aws_cdk import Duration, RemovalPolicy
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
