"""Models: one SageMaker Model, EndpointConfig and Endpoint per deployable model in
model_artifacts/, each with Application Auto Scaling on invocations per instance."""
from __future__ import annotations

import re
from dataclasses import replace

from aws_cdk import Annotations, Aws, CfnMapping, Fn
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import Duration
from constructs import Construct

from cdk_app.config import ModelConfig, PipelineConfig
from cdk_app.house import checkov
from cdk_app.house.bundling import BUILD_DIR
from cdk_app.house.nag import BUCKET_OBJECTS, GRANT_ACTIONS, suppress
from cdk_app.storage import Storage
from model_artifacts.catalog import CATALOG, ModelSpec
from model_artifacts.package import package_model

VARIANT = "AllTraffic"
# Instance families with local NVMe storage encrypt it in hardware and reject a KmsKeyId
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html).
_INSTANCE_STORE = re.compile(r"^ml\.(g4dn|g5|g6|g6e|p3dn|p4d|p4de|p5|p5e|inf2|trn1|[a-z0-9]+d)\.")


def image_uris_by_region(spec: ModelSpec) -> dict[str, str]:
    """Every region's container image for `spec`, resolved offline by the sagemaker SDK."""
    from sagemaker.core import image_uris

    config = image_uris.config_for_framework(spec.framework)["inference"]["versions"]
    version = config[spec.transformers_version or spec.framework_version]
    registries = version.get(f"pytorch{spec.framework_version}", version)["registries"]
    uris = {}
    for region in sorted(registries):
        try:
            uris[region] = spec.image_uri(region)
        except ValueError:
            continue  # that image is not published in that region
    return uris


def effective_spec(spec: ModelSpec, overrides: ModelConfig) -> ModelSpec:
    """The catalog's spec with the cdk.json overrides applied."""
    changes = {
        "instance_type": overrides.instance_type,
        "min_instances": overrides.min_instances,
        "max_instances": overrides.max_instances,
        "target_override": overrides.target_invocations_per_instance,
        "hub_revision": overrides.hub_revision,
    }
    return replace(spec, **{k: v for k, v in changes.items() if v is not None})


def _mapping_key(role: str) -> str:
    return role.replace("_", "")  # mapping keys must be alphanumeric


class Models(Construct):
    """Exposes `endpoint_names` ({role: endpoint name}), `endpoint_arns` and `batch_items`
    ({role: items per request}, what the functions send and the scaling targets assume).

    A model's artefact is `model_artifacts/<folder>` packaged as model.tar.gz, with the weights
    of `models.<role>.weights_dir` when set (served from model_dir, nothing downloaded), else
    code only: the toolkit then downloads HF_MODEL_ID at HF_MODEL_REVISION when the endpoint starts.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        self.endpoint_names: dict[str, str] = {}
        self.endpoint_arns: dict[str, str] = {}
        self.endpoints: dict[str, sagemaker.CfnEndpoint] = {}
        self.batch_items: dict[str, int] = {}
        specs = {
            role: effective_spec(CATALOG[role], overrides)
            for role, overrides in config.models.items()
            if overrides.enabled
        }
        images = CfnMapping(self, "ModelImages")
        for role, spec in specs.items():
            for region, uri in image_uris_by_region(spec).items():
                images.set_value(region, _mapping_key(role), uri)
        for role, spec in specs.items():
            self._endpoint(config, storage, spec, config.models[role], images.find_in_map(Aws.REGION, _mapping_key(role)))

    def _endpoint(self, config: PipelineConfig, storage: Storage, spec: ModelSpec, model_cfg: ModelConfig,
                  image: str) -> None:
        role_id = "".join(part.title() for part in spec.role.split("_"))
        weights = model_cfg.weights_dir
        if weights is None and spec.hub_revision is None:
            Annotations.of(self).add_warning_v2(
                f"models:{spec.role}-unpinned",
                f"{spec.role}: {spec.hub_model_id} is downloaded at its default branch when the endpoint starts; "
                f"pin a commit with models.{spec.role}.hub_revision (or package weights with models.{spec.role}.weights_dir)")
        self.batch_items[spec.role] = spec.client_batch_items
        artefact = s3_assets.Asset(self, f"{role_id}Artefact",
                                   path=str(package_model(spec.role, BUILD_DIR / "models", weights)))
        execution_role = iam.Role(
            self,
            f"{role_id}ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker endpoint {spec.role} of the multimodal pipeline",
        )
        artefact.grant_read(execution_role)
        # Large inputs arrive as s3:// pointers into the staging area.
        storage.staging_bucket.grant_read(execution_role)
        registry_account = Fn.select(0, Fn.split(".", image))
        execution_role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                resources=[f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{registry_account}:repository/*"],
            )
        )
        execution_role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        execution_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/*"],
            )
        )
        execution_role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}},
            )
        )
        suppress(
            execution_role,
            "AwsSolutions-IAM5",
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData (namespace-conditioned) do not support "
            "resource-level permissions; image pulls are limited to the AWS Deep Learning Containers registry "
            "account of the region; endpoint logs to /aws/sagemaker/Endpoints/*; asset and staging reads are "
            "the CDK grants (object-level wildcards inside one bucket).",
            [GRANT_ACTIONS, BUCKET_OBJECTS, "Resource::*",
             {"regex": "/^Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:.*:repository\\/\\*$/"},
             {"regex": "/^Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:\\/aws\\/sagemaker\\/Endpoints\\/\\*$/"}],
        )

        environment = spec.container_env(weights_packaged=weights is not None)
        model = sagemaker.CfnModel(
            self,
            f"{role_id}Model",
            execution_role_arn=execution_role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image, model_data_url=artefact.s3_object_url, environment=environment
            ),
        )
        model.node.add_dependency(execution_role)
        checkov.skip(model, "CKV_AWS_370",
                     "The container reads staged inputs from S3 (s3_uri items) and, for a code-only package, "
                     "downloads the pinned hub weights when it starts; network isolation would block both. "
                     "Its role can read only the model artefact and the staging bucket.")
        has_instance_store = bool(_INSTANCE_STORE.match(spec.instance_type))
        endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            f"{role_id}EndpointConfig",
            kms_key_id=None if has_instance_store else storage.key.key_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT,
                    model_name=model.attr_model_name,
                    initial_instance_count=spec.min_instances,
                    instance_type=spec.instance_type,
                    initial_variant_weight=1.0,
                )
            ],
        )
        if has_instance_store:
            suppress(endpoint_config, "AwsSolutions-SM2",
                     f"{spec.instance_type} has instance-store volumes, encrypted by the hardware; "
                     "SageMaker rejects a KmsKeyId for them.")
        else:
            storage.key.grant_encrypt_decrypt(execution_role)
        endpoint = sagemaker.CfnEndpoint(self, f"{role_id}Endpoint", endpoint_config_name=endpoint_config.attr_endpoint_config_name)
        self.endpoints[spec.role] = endpoint
        self.endpoint_names[spec.role] = endpoint.attr_endpoint_name
        # Ref of an endpoint is its ARN as SageMaker writes it (names lowercased), which is what
        # IAM compares against; an ARN built from the name would keep its capitals.
        self.endpoint_arns[spec.role] = endpoint.ref

        target = appscaling.ScalableTarget(
            self,
            f"{role_id}Scaling",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{endpoint.attr_endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=spec.min_instances,
            max_capacity=spec.max_instances,
        )
        target.node.add_dependency(endpoint)
        target.scale_to_track_metric(
            f"{role_id}InvocationsPerInstance",
            target_value=spec.scaling_target,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=Duration.seconds(model_cfg.scale_in_cooldown_seconds),
            scale_out_cooldown=Duration.seconds(model_cfg.scale_out_cooldown_seconds),
        )
