"""The one place that makes a custom resource backed by one of our Lambda functions,
through the CDK Provider framework (which answers CloudFormation for the function)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnElement, CustomResource, Stack
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_app.house.nag import BASIC_EXECUTION_ROLE, suppress
from cdk_app.house.python_function import PipelineFunction


def function_custom_resource(
    scope: Construct, construct_id: str, *, handler: PipelineFunction, properties: Mapping[str, Any]
) -> CustomResource:
    """A CustomResource whose Create/Update/Delete events run `handler`."""
    provider = cr.Provider(scope, f"{construct_id}Provider", on_event_handler=handler.function)
    resource = handler.function.node.default_child
    if not isinstance(resource, CfnElement):
        raise TypeError(f"{handler.function.node.path} has no CloudFormation resource as its default child")
    logical_id = Stack.of(scope).get_logical_id(resource)
    suppress(provider, "AwsSolutions-IAM4", "The CDK Provider framework function uses the basic execution role.",
             [BASIC_EXECUTION_ROLE])
    suppress(provider, "AwsSolutions-IAM5", "The CDK Provider framework may invoke any version of our function.",
             [f"Resource::<{logical_id}.Arn>:*"])
    suppress(provider, "AwsSolutions-L1", "The CDK Provider framework function's runtime is chosen by CDK.")
    return CustomResource(scope, construct_id, service_token=provider.service_token, properties=dict(properties))
