"""The one place that makes a custom resource backed by one of our Lambda functions,
through the CDK Provider framework (which answers CloudFormation for the function)."""
from __future__ import annotations

from typing import Any, Mapping

from aws_cdk import CustomResource, Stack
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_app.house.nag import BASIC_EXECUTION_ROLE, suppress
from cdk_app.house.python_function import PipelineFunction


def function_custom_resource(
    scope: Construct, construct_id: str, *, handler: PipelineFunction, properties: Mapping[str, Any]
) -> CustomResource:
    """A CustomResource whose Create/Update/Delete events run `handler`."""
    provider = cr.Provider(scope, f"{construct_id}Provider", on_event_handler=handler.function)
    logical_id = Stack.of(scope).get_logical_id(handler.function.node.default_child)
    suppress(provider, "AwsSolutions-IAM4", "The CDK Provider framework function uses the basic execution role.",
             [BASIC_EXECUTION_ROLE])
    suppress(provider, "AwsSolutions-IAM5", "The CDK Provider framework may invoke any version of our function.",
             [f"Resource::<{logical_id}.Arn>:*"])
    suppress(provider, "AwsSolutions-L1", "The CDK Provider framework function's runtime is chosen by CDK.")
    return CustomResource(scope, construct_id, service_token=provider.service_token, properties=dict(properties))
