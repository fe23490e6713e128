"""bench/cost.py's pricing walk and per-file arithmetic on hand-made templates: no synth, no network."""
from __future__ import annotations

import pytest

from bench import cost
from functions.common import constants as c

H = cost.HOURS_PER_MONTH
SUBNETS = [{"Ref": "Subnet1"}, {"Ref": "Subnet2"}]


def _endpoint(resources: dict, name: str, instance_type: str, min_capacity: int | None) -> dict:
    resources[f"{name}EndpointConfig"] = {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {
        "ProductionVariants": [{"InitialInstanceCount": 1, "InstanceType": instance_type, "VariantName": "AllTraffic"}]}}
    resources[f"{name}Endpoint"] = {"Type": "AWS::SageMaker::Endpoint", "Properties": {
        "EndpointConfigName": {"Fn::GetAtt": [f"{name}EndpointConfig", "EndpointConfigName"]}}}
    if min_capacity is not None:
        resources[f"{name}Scaling"] = {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "Properties": {
            "MinCapacity": min_capacity, "MaxCapacity": 4, "ServiceNamespace": "sagemaker",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "ResourceId": {"Fn::Join": ["", ["endpoint/", {"Fn::GetAtt": [f"{name}Endpoint", "EndpointName"]},
                                             "/variant/AllTraffic"]]}}}
    return resources


def _inference_component_endpoint(resources: dict, name: str, min_instances: int, min_copies: int) -> dict:
    resources[f"{name}EndpointConfig"] = {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {
        "ProductionVariants": [{"InstanceType": "ml.g5.xlarge", "VariantName": "AllTraffic", "InitialInstanceCount": 1,
                                "ManagedInstanceScaling": {"Status": "ENABLED", "MinInstanceCount": min_instances,
                                                           "MaxInstanceCount": 4}}]}}
    resources[f"{name}Endpoint"] = {"Type": "AWS::SageMaker::Endpoint", "Properties": {
        "EndpointConfigName": {"Fn::GetAtt": [f"{name}EndpointConfig", "EndpointConfigName"]}}}
    resources[f"{name}Component"] = {"Type": "AWS::SageMaker::InferenceComponent", "Properties": {
        "EndpointName": {"Fn::GetAtt": [f"{name}Endpoint", "EndpointName"]}, "VariantName": "AllTraffic",
        "RuntimeConfig": {"CopyCount": 1}}}
    resources[f"{name}ComponentScaling"] = {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "Properties": {
        "MinCapacity": min_copies, "MaxCapacity": 4, "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount",
        "ResourceId": {"Fn::Join": ["", ["inference-component/",
                                         {"Fn::GetAtt": [f"{name}Component", "InferenceComponentName"]}]]}}}
    return resources


def _total(resources: dict) -> float:
    return sum(line.monthly for line in cost.at_rest({"Resources": resources}))


def test_endpoint_at_min_one_costs_an_instance_month():
    resources = _endpoint({}, "Text", "ml.c6i.xlarge", min_capacity=1)
    assert _total(resources) == pytest.approx(H * cost.SAGEMAKER_INSTANCE_HOUR["ml.c6i.xlarge"].usd)


def test_endpoint_whose_scalable_target_minimum_is_zero_costs_nothing_at_rest():
    resources = _endpoint({}, "Ocr", "ml.g5.xlarge", min_capacity=0)
    assert _total(resources) == 0


def test_endpoint_without_autoscaling_costs_its_initial_instances():
    resources = _endpoint({}, "Ocr", "ml.g5.xlarge", min_capacity=None)
    assert _total(resources) == pytest.approx(H * cost.SAGEMAKER_INSTANCE_HOUR["ml.g5.xlarge"].usd)


def test_inference_components_at_zero_copies_and_zero_managed_instances_cost_nothing_at_rest():
    resources = _inference_component_endpoint({}, "Speech", min_instances=0, min_copies=0)
    assert _total(resources) == 0


def test_inference_component_kept_at_one_copy_keeps_an_instance():
    resources = _inference_component_endpoint({}, "Speech", min_instances=0, min_copies=1)
    assert _total(resources) == pytest.approx(H * cost.SAGEMAKER_INSTANCE_HOUR["ml.g5.xlarge"].usd)


def test_instance_type_missing_from_the_price_table_is_refused():
    with pytest.raises(KeyError, match="ml.p5.48xlarge"):
        cost.at_rest({"Resources": _endpoint({}, "Big", "ml.p5.48xlarge", min_capacity=1)})


def test_interface_endpoint_in_two_azs_costs_two_endpoint_hours_per_hour_and_gateway_is_free():
    resources = {
        "Sts": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {
            "VpcEndpointType": "Interface", "SubnetIds": SUBNETS,
            "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".sts"]]}}},
        "S3": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"ServiceName": "com.amazonaws.us-east-1.s3"}},
    }
    assert _total(resources) == pytest.approx(2 * cost.PRICES["interface_endpoint_az_hour"].usd * 730)


def test_mwaa_is_counted_only_when_present_with_workers_above_the_included_one():
    mwaa = {"Airflow": {"Type": "AWS::MWAA::Environment", "Properties": {"EnvironmentClass": "mw1.small", "MinWorkers": 2}}}
    with_mwaa = _total({**_endpoint({}, "Text", "ml.c6i.xlarge", 0), **mwaa})
    without = _total(_endpoint({}, "Text", "ml.c6i.xlarge", 0))
    assert without == 0
    assert with_mwaa == pytest.approx(H * (cost.MWAA_ENVIRONMENT_HOUR["mw1.small"].usd + cost.MWAA_WORKER_HOUR["mw1.small"].usd))


def test_serverless_v2_writer_and_reader_at_min_acu_and_proxy_at_its_eight_acu_minimum():
    resources = {
        "Cluster": {"Type": "AWS::RDS::DBCluster", "Properties": {
            "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 8}}},
        "Writer": {"Type": "AWS::RDS::DBInstance", "Properties": {"DBClusterIdentifier": {"Ref": "Cluster"},
                                                                  "DBInstanceClass": "db.serverless"}},
        "Reader": {"Type": "AWS::RDS::DBInstance", "Properties": {"DBClusterIdentifier": {"Ref": "Cluster"},
                                                                  "DBInstanceClass": "db.serverless"}},
        "Proxy": {"Type": "AWS::RDS::DBProxy", "Properties": {}},
    }
    assert _total(resources) == pytest.approx(H * (2 * 0.5 * 0.12 + 8 * 0.015))


def test_msk_serverless_counts_cluster_hours_and_the_topic_partitions_from_the_template():
    resources = {"Cluster": {"Type": "AWS::MSK::ServerlessCluster", "Properties": {}},
                 "Topic": {"Type": "AWS::CloudFormation::CustomResource", "Properties": {"Topic": "t", "Partitions": 12}}}
    assert _total(resources) == pytest.approx(H * (0.75 + 12 * 0.0015))


def _figures(**kw) -> cost.FileFigures:
    base = dict(transitions=4.0, lambda_invocations={c.STEP_EXTRACT: 1.0, c.STEP_STORE: 1.0},
                lambda_seconds={c.STEP_EXTRACT: 2.0, c.STEP_STORE: 1.0, c.FN_FORWARDER: 0.5, c.FN_DISPATCHER: 1.0},
                endpoint_items={c.MODEL_TEXT_EMBEDDING: 10.0}, dispatcher_per_file=0.01)
    return cost.FileFigures(**{**base, **kw})


SIZING = {c.STEP_EXTRACT: (2048, "x86_64"), c.STEP_STORE: (1024, "arm64"),
          c.FN_FORWARDER: (512, "x86_64"), c.FN_DISPATCHER: (512, "x86_64")}


def test_state_transitions_are_priced_per_thousand():
    when = cost.file_cost(_figures(transitions=8.0), "design", SIZING, {c.MODEL_TEXT_EMBEDDING: "ml.c6i.xlarge"})
    assert when["Step Functions transitions"] == pytest.approx(8 * 0.025 / 1000)


def test_lambda_cost_is_gb_seconds_at_each_architectures_price_plus_requests():
    when = cost.file_cost(_figures(), "design", SIZING, {c.MODEL_TEXT_EMBEDDING: "ml.c6i.xlarge"})
    x86 = 2.0 * 2 + 0.5 * 0.5 + 0.01 * 1.0 * 0.5
    arm = 1.0 * 1
    requests = 1 + 1 + 1 + 0.01
    expected = (x86 * cost.PRICES["lambda_gb_s_x86_64"].usd + arm * cost.PRICES["lambda_gb_s_arm64"].usd
                + requests * cost.PRICES["lambda_request"].usd)
    assert when["Lambda GB-s and requests"] == pytest.approx(expected)


def test_batched_throughput_makes_the_same_items_cheaper_than_naive():
    figures = _figures(endpoint_items={c.MODEL_TEXT_EMBEDDING: 100.0, c.MODEL_IMAGE_EMBEDDING: 1.0})
    instances = {c.MODEL_TEXT_EMBEDDING: "ml.c6i.xlarge", c.MODEL_IMAGE_EMBEDDING: "ml.g5.xlarge"}
    key = "SageMaker instance-hours while busy"
    assert cost.file_cost(figures, "design", SIZING, instances)[key] < cost.file_cost(figures, "naive", SIZING, instances)[key]


def test_a_role_without_an_endpoint_in_the_template_costs_nothing_per_file():
    when = cost.file_cost(_figures(), "design", SIZING, instances={})
    assert when["SageMaker instance-hours while busy"] == 0
