"""The one place that makes a pipeline Lambda function with our house defaults.

Runtime, architecture, tracing, log retention, Powertools environment, VPC placement and
an explicit least-privilege role (no AWS-managed policies) are decided here, so each
construct only states what differs: handler, memory, timeout, environment, grants.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import jsii
from aws_cdk import CfnResource, Duration, IAspect, RemovalPolicy, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from cdk_app.house import bundling, checkov, environment_size
from cdk_app.house.log_retention import retention
from cdk_app.house.nag import ENI_REASON, XRAY_REASON, suppress
from functions.common.constants import METRICS_NAMESPACE, POWERTOOLS_SERVICE

if TYPE_CHECKING:  # house is below the constructs and the config it serves: types only
    from cdk_app.config import PipelineConfig
    from cdk_app.network import Network


RUNTIME = lambda_.Runtime.PYTHON_3_14


class PipelineFunction(Construct):
    """A Python Lambda running `functions.<name>.handler.lambda_handler`.

    Exposes `.function` and `.role`. Grants are added by the caller; this construct only
    lets the function write its own log group and trace segments (and, with `network`,
    manage its ENIs: it then runs in the network's isolated subnets with the functions'
    security group, `Network.lambda_security_group`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        name: str,
        description: str,
        layers: Sequence[lambda_.ILayerVersion],
        memory_mb: int = 512,
        timeout: Duration = Duration.seconds(60),
        environment: Mapping[str, str] | None = None,
        network: Network | None = None,
        ephemeral_storage_mb: int = 512,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        vpc = network.vpc if network is not None else None
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{name} function of the multimodal pipeline",
        )
        self.log_group.grant_write(self.role)
        env = {
            "POWERTOOLS_SERVICE_NAME": POWERTOOLS_SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_LOGGER_LOG_EVENT": "false",
            **(environment or {}),
        }
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=bundling.runtime_architecture(config.lambda_architecture),
            handler=f"functions.{name}.handler.lambda_handler",
            code=bundling.function_code(),
            layers=list(layers),
            memory_size=memory_mb,
            timeout=timeout,
            ephemeral_storage_size=Size.mebibytes(ephemeral_storage_mb),
            environment=env,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED) if vpc else None,
            security_groups=[network.lambda_security_group] if network is not None else None,
            reserved_concurrent_executions=reserved_concurrency,
        )
        # Checked at synth, after every add_environment a construct makes later.
        self.function.node.add_validation(environment_size.EnvironmentSizeValidation(self.function))
        self.unzipped_bytes = bundling.check_package_size(
            name, {layer.node.path: bundling.LAYER_BYTES[layer.node.path] for layer in layers})
        suppress(self.role, "AwsSolutions-IAM5", XRAY_REASON, ["Resource::*"])
        if vpc is not None:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=[
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSubnets",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    resources=["*"],
                )
            )
            suppress(self.role, "AwsSolutions-IAM5", ENI_REASON + " " + XRAY_REASON, ["Resource::*"])
        checkov.skip(self.function, "CKV_AWS_115", checkov.FUNCTION_CONCURRENCY)
        checkov.skip(self.function, "CKV_AWS_116", checkov.FUNCTION_DLQ)
        checkov.skip(self.function, "CKV_AWS_173", checkov.FUNCTION_ENV)
        # Its role's policy: X-Ray writes (and, in a VPC, the ENI actions) have no resource scope.
        checkov.skip(self.role.node.find_child("DefaultPolicy"), "CKV_AWS_111",
                     XRAY_REASON + (" " + ENI_REASON if vpc is not None else ""))


@jsii.implements(IAspect)
class CdkProvidedFunctions:
    """Skips for the Lambda functions CDK adds itself (every function resource outside our PipelineFunction)."""

    def visit(self, node: IConstruct) -> None:
        # Some CDK providers declare their function as a plain CfnResource of that type.
        if not (isinstance(node, CfnResource) and node.cfn_resource_type == lambda_.CfnFunction.CFN_RESOURCE_TYPE_NAME):
            return
        if any(isinstance(scope, PipelineFunction) for scope in node.node.scopes):
            return
        for check_id, why in (("CKV_AWS_115", checkov.CDK_FUNCTION), ("CKV_AWS_116", checkov.CDK_FUNCTION),
                              ("CKV_AWS_117", checkov.CDK_FUNCTION + " It reaches only public AWS endpoints."),
                              ("CKV_AWS_173", checkov.CDK_FUNCTION + " Its environment holds no secret.")):
            checkov.skip(node, check_id, why)


class PipelineLayers(Construct):
    """The two dependency layers, built once per synth: `core` (every function) and
    `media` (decoders for the extract step)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig) -> None:
        super().__init__(scope, construct_id)
        self.core = self._layer(config, "Core", "core",
                                "Powertools, pydantic, psycopg, pgvector, kafka-python, MSK IAM signer")
        self.media = self._layer(config, "Media", "media",
                                 "Pillow, PyAV (FFmpeg), pypdf, python-docx, charset-normalizer, tokenizers")

    def _layer(self, config: PipelineConfig, construct_id: str, requirements: str, description: str) -> lambda_.LayerVersion:
        code, unzipped = bundling.layer_code(requirements, config.lambda_architecture)
        layer = lambda_.LayerVersion(
            self,
            construct_id,
            code=code,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[bundling.runtime_architecture(config.lambda_architecture)],
            description=description,
        )
        bundling.LAYER_BYTES[layer.node.path] = unzipped
        return layer
