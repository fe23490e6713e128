"""The synthesized template holds every resource family with the properties that matter."""
from __future__ import annotations

import json

from aws_cdk.assertions import Match

from functions.common import constants as c
from step_functions import definition as asl


def _resources(template_json: dict, cfn_type: str) -> dict:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == cfn_type}


def test_vpc_has_isolated_subnets_in_two_azs_and_no_nat(template):
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    template.resource_count_is("AWS::EC2::Subnet", 2)


def test_vpc_endpoints_cover_what_the_functions_and_airflow_call(template_json):
    services = json.dumps([r["Properties"]["ServiceName"] for r in _resources(template_json, "AWS::EC2::VPCEndpoint").values()])
    for service in ("s3", "sagemaker.runtime", "states", "secretsmanager", "logs", "kms"):
        assert f".{service}" in services or f"{service}\"" in services, service
    # Nothing in the subnets calls STS or Lambda (provisioned Kafka pollers need no PrivateLink).
    for service in ("sts", "lambda"):
        assert f".{service}\"" not in services, service


def test_every_bucket_is_private_encrypted_and_tls_only(template_json):
    buckets = _resources(template_json, "AWS::S3::Bucket")
    assert len(buckets) >= 4
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True
        }, name
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], name
    policies = _resources(template_json, "AWS::S3::BucketPolicy").values()
    tls_denies = [p for p in policies if "aws:SecureTransport" in json.dumps(p)]
    assert len(tls_denies) == len(buckets)


def test_ingest_bucket_is_versioned_with_access_logs(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "ingest/"}),
            "BucketEncryption": Match.object_like({
                "ServerSideEncryptionConfiguration": [Match.object_like({
                    "ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"})})]
            }),
        },
    )


def test_staging_area_expires(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {"LifecycleConfiguration": {"Rules": Match.array_with([Match.object_like(
            {"Prefix": f"{c.STAGING_PREFIX}/", "ExpirationInDays": 7, "Status": "Enabled"})])}},
    )


def test_msk_serverless_uses_iam_auth(template):
    template.has_resource_properties(
        "AWS::MSK::ServerlessCluster",
        {"ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}}},
    )


def test_forwarder_is_notified_by_the_ingest_bucket_and_has_a_dlq(template_json):
    notifications = _resources(template_json, "Custom::S3BucketNotifications")
    assert "LambdaFunctionConfigurations" in json.dumps(notifications)
    configs = _resources(template_json, "AWS::Lambda::EventInvokeConfig").values()
    assert any(cfg["Properties"]["MaximumRetryAttempts"] == 2 and "OnFailure" in json.dumps(cfg) for cfg in configs)


def test_dispatcher_consumes_the_topic_with_failure_destination_and_provisioned_pollers(template):
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "Topics": ["object-events"],
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 100,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ProvisionedPollerConfig": {"MinimumPollers": 1, "MaximumPollers": 12},
            "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}},
            "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "mmpipe-dev-dispatcher"},
        },
    )


def _kafka_esm(template_json: dict) -> dict:
    [esm] = [r["Properties"] for r in _resources(template_json, "AWS::Lambda::EventSourceMapping").values()
             if "AmazonManagedKafkaEventSourceConfig" in r["Properties"]]
    return esm


def test_kafka_esm_error_handling_is_within_what_lambda_accepts_for_msk(template_json):
    # https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html: retries 0-10000
    # (-1 infinite), record age 60-604800 s (-1 infinite), only in provisioned mode;
    # https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html: SNS, SQS, S3 or Kafka.
    esm = _kafka_esm(template_json)
    kafka = json.loads(open("cdk.json").read())["context"]["pipeline"]["kafka"]
    assert esm["ProvisionedPollerConfig"]["MinimumPollers"] >= 1
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["MaximumRetryAttempts"] == kafka["retry_attempts"] and 0 <= esm["MaximumRetryAttempts"] <= 10_000
    assert 60 <= esm["MaximumRecordAgeInSeconds"] <= 604_800
    assert "BisectBatchOnFunctionError" not in esm


def test_kafka_esm_discards_to_the_failed_items_bucket(template_json):
    destination = _kafka_esm(template_json)["DestinationConfig"]["OnFailure"]["Destination"]
    [bucket] = destination["Fn::GetAtt"][:1]
    assert destination["Fn::GetAtt"][1] == "Arn"
    assert template_json["Resources"][bucket]["Type"] == "AWS::S3::Bucket"
    assert "FailedItems" in bucket


def test_local_esm_runs_with_the_deployed_mappings_error_handling(template_json):
    from local.run import esm_error_handling

    esm = _kafka_esm(template_json)
    assert esm_error_handling() == {
        "maximum_retry_attempts": esm["MaximumRetryAttempts"],
        "maximum_record_age_s": esm["MaximumRecordAgeInSeconds"],
        "report_batch_item_failures": esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"],
    }


def test_one_sagemaker_endpoint_per_enabled_model_with_autoscaling(template_json, template):
    config = json.loads(open("cdk.json").read())["context"]["pipeline"]
    enabled = [role for role, m in config["models"].items() if m.get("enabled", True)]
    for cfn_type in ("AWS::SageMaker::Model", "AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Endpoint",
                     "AWS::SageMaker::InferenceComponent", "AWS::ApplicationAutoScaling::ScalableTarget"):
        template.resource_count_is(cfn_type, len(enabled))
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {"TargetTrackingScalingPolicyConfiguration": Match.object_like({
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"},
            "ScaleInCooldown": 600,
        })},
    )
    for target in _resources(template_json, "AWS::ApplicationAutoScaling::ScalableTarget").values():
        props = target["Properties"]
        assert 0 <= props["MinCapacity"] <= props["MaxCapacity"]
        assert props["ScalableDimension"] == "sagemaker:inference-component:DesiredCopyCount"


def test_model_images_resolve_per_region_from_a_mapping(template_json):
    images = template_json["Mappings"]["ModelsModelImages" + next(
        k[len("ModelsModelImages"):] for k in template_json["Mappings"] if k.startswith("ModelsModelImages"))]
    assert "us-east-1" in images and "eu-west-1" in images
    assert all(".dkr.ecr." in uri for uri in images["us-east-1"].values())


def _pipeline_machines(template_json: dict) -> dict:
    """The pipeline's state machine(s); the backfill's (tests/infra/test_backfill.py) aside."""
    return {name: r for name, r in _resources(template_json, "AWS::StepFunctions::StateMachine").items()
            if not name.startswith("Backfill")}


def test_state_machine_has_a_map_per_modality_logging_and_tracing(template_json):
    machines = _pipeline_machines(template_json)
    assert len(machines) == 1
    props = next(iter(machines.values()))["Properties"]
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    definition = json.loads(props["DefinitionString"]) if isinstance(props["DefinitionString"], str) else None
    if definition is None:  # Fn::Join with tokens: check the rendered file instead
        definition = json.loads(asl.render())
    branches = definition["States"]["Process batch"]["Branches"]
    maps = {name for b in branches for name, s in b["States"].items() if s["Type"] == "Map"}
    assert maps == {asl.map_state_name(m) for m in (*c.MODALITIES, c.UNSUPPORTED)}
    assert set(props["DefinitionSubstitutions"]) == set(asl.FUNCTION_ARN_KEYS.values())


def test_map_concurrency_comes_from_the_config(template_json):
    props = next(iter(_pipeline_machines(template_json).values()))["Properties"]
    definition = json.loads(props["DefinitionString"])
    video = definition["States"]["Process batch"]["Branches"][1]["States"][asl.map_state_name("video")]
    assert video["MaxConcurrency"] == 4


def test_processing_functions_get_the_pipeline_environment(template_json):
    functions = _resources(template_json, "AWS::Lambda::Function")
    extract = next(f for f in functions.values() if f["Properties"].get("Handler") == "functions.extract.handler.lambda_handler")
    env = extract["Properties"]["Environment"]["Variables"]
    for name in (c.ENV_PIPELINE_VERSION, c.ENV_STAGING_BUCKET, c.ENV_MODEL_ENDPOINTS, c.ENV_DB_HOST, c.ENV_DB_AUTH,
                 c.ENV_MAX_OBJECT_BYTES, c.ENV_VIDEO_CHUNK_SECONDS, c.ENV_VIDEO_CHUNKING):
        assert name in env, name
    assert env[c.ENV_DB_AUTH] == "iam"
    assert extract["Properties"]["TracingConfig"] == {"Mode": "Active"}
    assert extract["Properties"]["Timeout"] == 900


def test_no_function_has_the_default_timeout_or_unbounded_logs(template_json):
    for name, fn in _resources(template_json, "AWS::Lambda::Function").items():
        assert fn["Properties"].get("Timeout", 3) > 3, name
    for name, group in _resources(template_json, "AWS::Logs::LogGroup").items():
        assert "RetentionInDays" in group["Properties"], name


def test_aurora_serverless_v2_is_encrypted_with_iam_auth_behind_a_tls_proxy(template):
    template.has_resource_properties(
        "AWS::RDS::DBCluster",
        {
            "Engine": "aurora-postgresql",
            "StorageEncrypted": True,
            "EnableIAMDatabaseAuthentication": True,
            "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 8},
            "DeletionProtection": True,
        },
    )
    template.has_resource_properties("AWS::RDS::DBProxy", {"RequireTLS": True, "Auth": Match.array_with(
        [Match.object_like({"IAMAuth": "REQUIRED"})])})
    template.has_resource_properties("AWS::RDS::DBClusterParameterGroup", {"Parameters": {"rds.force_ssl": "1"}})


def test_migration_custom_resource_tracks_the_migration_files(template_json):
    from cdk_app.database import migrations_digest

    custom = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::CloudFormation::CustomResource"]
    assert any(r["Properties"].get("MigrationsDigest") == migrations_digest() for r in custom)


def test_mwaa_environment_is_private_and_receives_the_dags(template):
    template.has_resource_properties(
        "AWS::MWAA::Environment",
        {"WebserverAccessMode": "PRIVATE_ONLY", "DagS3Path": "dags", "RequirementsS3Path": "requirements.txt",
         "AirflowVersion": Match.string_like_regexp(r"^\d+\.\d+\.\d+$")},
    )
    template.has_resource_properties("Custom::CDKBucketDeployment", {"DestinationBucketKeyPrefix": "dags"})


def test_dashboard_and_alarms_publish_to_an_encrypted_topic(template_json, template):
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    body = json.dumps(next(iter(_resources(template_json, "AWS::CloudWatch::Dashboard").values())))
    for needle in ("FilesIn", "FilesFailed", "ExecutionTime", "OffsetLag", "ModelLatency", "Invocations"):
        assert needle in body, needle
    alarms = _resources(template_json, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 6
    assert all(a["Properties"]["AlarmActions"] for a in alarms.values())
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def test_the_stack_is_within_the_quotas_cloudformation_and_step_functions_enforce(template_path, template_json):
    # CloudFormation's quotas as cfn-lint (AWS's linter) holds them: a template body uploaded
    # through S3 (cdk deploy's assets bucket), resources, outputs and parameters per stack; Step
    # Functions: a definition up to 1 MB. Over any of them the deploy fails; the figures say how
    # close the stack is.
    from cfnlint.helpers import LIMITS

    size = template_path.stat().st_size
    counts = {key: len(template_json.get(key, {})) for key in ("Resources", "Outputs", "Parameters")}
    definitions = {name: len(json.dumps(r["Properties"]["DefinitionString"]))
                   for name, r in _resources(template_json, "AWS::StepFunctions::StateMachine").items()}
    print(f"template {size:,} bytes, {counts}, state machine definitions {definitions}")
    assert size < LIMITS["template"]["body"] * 0.8  # room to grow before the hard limit
    assert counts["Resources"] < LIMITS["Resources"]["number"] * 0.8
    assert counts["Outputs"] <= LIMITS["Outputs"]["number"] and counts["Parameters"] <= LIMITS["Parameters"]["number"]
    assert definitions and max(definitions.values()) < 1_000_000 * 0.5


def test_every_roles_inline_policies_fit_iams_size_quota(template_json):
    # IAM: the inline policies of one role together at most 10,240 characters (whitespace not
    # counted); CDK adds every grant to one DefaultPolicy per role, which would fail the deploy.
    per_role: dict[str, int] = {}
    for policy in _resources(template_json, "AWS::IAM::Policy").values():
        size = len(json.dumps(policy["Properties"]["PolicyDocument"], separators=(",", ":")))
        for role in policy["Properties"].get("Roles", []):
            per_role[role["Ref"]] = per_role.get(role["Ref"], 0) + size
    for name, role in _resources(template_json, "AWS::IAM::Role").items():
        per_role[name] = per_role.get(name, 0) + sum(
            len(json.dumps(p["PolicyDocument"], separators=(",", ":"))) for p in role["Properties"].get("Policies", []))
    largest = sorted(per_role.items(), key=lambda kv: -kv[1])[:3]
    print(f"largest inline policy totals: {largest}")
    assert len(per_role) >= 10 and largest[0][1] < 10_240 * 0.8, largest
