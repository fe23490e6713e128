#!/usr/bin/env python3
"""CDK entry point: read the typed config from cdk.json, build the stack, apply cdk-nag."""
from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from cdk_app.config import CONTEXT_KEY, load_config
from cdk_app.pipeline_stack import PipelineStack


def build_app(app: cdk.App | None = None) -> tuple[cdk.App, PipelineStack]:
    app = app or cdk.App()
    config = load_config(app.node.try_get_context(CONTEXT_KEY))
    # Environment-agnostic unless the user's CLI profile names one: synth needs no account.
    env = None
    if os.environ.get("CDK_DEFAULT_ACCOUNT") and os.environ.get("CDK_DEFAULT_REGION"):
        env = cdk.Environment(account=os.environ["CDK_DEFAULT_ACCOUNT"], region=os.environ["CDK_DEFAULT_REGION"])
    stack = PipelineStack(app, f"MultimodalPipeline-{config.environment}", config=config, env=env)
    # AWS::RDS::DBProxyTargetGroup takes no tags (CloudFormation rejects the property).
    untaggable = ["AWS::RDS::DBProxyTargetGroup"]
    cdk.Tags.of(stack).add("application", "multimodal-pipeline", exclude_resource_types=untaggable)
    cdk.Tags.of(stack).add("environment", config.environment, exclude_resource_types=untaggable)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app, stack


if __name__ == "__main__":
    app, _ = build_app()
    app.synth()
