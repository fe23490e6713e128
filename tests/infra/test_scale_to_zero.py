"""Model endpoints at rest: zero instances while no work arrives, and what wakes them (issue 18).

SageMaker scales an endpoint to zero only when it hosts inference components, its variant's
instances are managed (MinInstanceCount 0), the component's copies may reach 0, and a step
scaling policy started by an alarm on NoCapacityInvocationFailures adds a copy
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html).
"""
from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk.assertions import Template

from cdk_app.config import load_config
from cdk_app.models import Models
from cdk_app.storage import Storage
from functions.common import constants as c
from model_artifacts.catalog import CATALOG

ROOT = Path(__file__).resolve().parents[2]


def _resources(template_json: dict, cfn_type: str) -> dict:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == cfn_type}


def _enabled_roles() -> list[str]:
    models = json.loads((ROOT / "cdk.json").read_text())["context"]["pipeline"]["models"]
    return [role for role, m in models.items() if m.get("enabled", True)]


def _ref_id(value) -> str:
    """The logical id a Ref / Fn::GetAtt points at."""
    return value.get("Ref") or value["Fn::GetAtt"][0]


def test_every_endpoint_config_lets_its_instances_follow_the_copies_down_to_zero(template_json):
    configs = _resources(template_json, "AWS::SageMaker::EndpointConfig")
    assert len(configs) == len(_enabled_roles())
    for config in configs.values():
        props = config["Properties"]
        [variant] = props["ProductionVariants"]
        assert variant["ManagedInstanceScaling"]["Status"] == "ENABLED"
        assert variant["ManagedInstanceScaling"]["MinInstanceCount"] == 0
        assert variant["ManagedInstanceScaling"]["MaxInstanceCount"] >= 1
        assert "ModelName" not in variant  # the model is the inference component's
        assert "ExecutionRoleArn" in props


def test_each_model_is_an_inference_component_whose_copies_scale_to_zero_and_back(template_json):
    components = _resources(template_json, "AWS::SageMaker::InferenceComponent")
    targets = _resources(template_json, "AWS::ApplicationAutoScaling::ScalableTarget")
    policies = _resources(template_json, "AWS::ApplicationAutoScaling::ScalingPolicy")
    alarms = _resources(template_json, "AWS::CloudWatch::Alarm")
    assert len(components) == len(targets) == len(_enabled_roles())
    for _logical_id, component in components.items():
        spec = component["Properties"]["Specification"]
        assert spec["ComputeResourceRequirements"]["MinMemoryRequiredInMb"] > 0
        assert component["Properties"]["RuntimeConfig"]["CopyCount"] == 1
        name = component["Properties"]["InferenceComponentName"]
        [(target_id, target)] = [(k, t) for k, t in targets.items()
                                 if t["Properties"]["ResourceId"] == f"inference-component/{name}"]
        assert target["Properties"]["ScalableDimension"] == "sagemaker:inference-component:DesiredCopyCount"
        assert target["Properties"]["MinCapacity"] == 0
        own = {k: p for k, p in policies.items() if _ref_id(p["Properties"]["ScalingTargetId"]) == target_id}
        kinds = sorted(p["Properties"]["PolicyType"] for p in own.values())
        assert kinds == ["StepScaling", "TargetTrackingScaling"]
        [(step_id, step)] = [(k, p) for k, p in own.items() if p["Properties"]["PolicyType"] == "StepScaling"]
        config = step["Properties"]["StepScalingPolicyConfiguration"]
        assert config["AdjustmentType"] == "ChangeInCapacity"
        assert [a["ScalingAdjustment"] for a in config["StepAdjustments"]] == [1]
        # The alarm that starts a copy: NoCapacityInvocationFailures of this component.
        [wake] = [a["Properties"] for a in alarms.values()
                  if a["Properties"].get("MetricName") == "NoCapacityInvocationFailures"
                  and a["Properties"]["Dimensions"][0]["Value"] == name]
        assert wake["Dimensions"][0]["Name"] == "InferenceComponentName"
        assert wake["Threshold"] == 1 and wake["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert [_ref_id(a) for a in wake["AlarmActions"]] == [step_id]


def test_gpu_models_reserve_the_gpu_and_cpu_models_none(template_json):
    wanted = sorted(CATALOG[role].copy_resources().accelerators for role in _enabled_roles())
    got = sorted(comp["Properties"]["Specification"]["ComputeResourceRequirements"].get("NumberOfAcceleratorDevicesRequired", 0)
                 for comp in _resources(template_json, "AWS::SageMaker::InferenceComponent").values())
    assert got == wanted and 1 in got and 0 in got


def test_callers_name_the_component_and_may_invoke_it(template_json):
    functions = _resources(template_json, "AWS::Lambda::Function")
    policies = _resources(template_json, "AWS::IAM::Policy")
    components = set(_resources(template_json, "AWS::SageMaker::InferenceComponent"))
    callers = [f for f in functions.values()
               if c.ENV_MODEL_ENDPOINTS in f["Properties"].get("Environment", {}).get("Variables", {})]
    assert callers
    for fn in callers:
        env = fn["Properties"]["Environment"]["Variables"]
        assert c.ENV_MODEL_COMPONENTS in env
    invoked = {_ref_id(r) for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
               if s.get("Action") == "sagemaker:InvokeEndpoint"
               for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]) if isinstance(r, dict)}
    assert components <= invoked


def test_a_role_kept_warm_has_its_minimum_and_no_wake_up_alarm():
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    pipeline = context["pipeline"]
    models = {role: {"enabled": role == "text_embedding"} for role in pipeline["models"]}
    models["text_embedding"] = {"enabled": True, "min_instances": 1}
    config = load_config({**pipeline, "models": models})
    stack = cdk.Stack(cdk.App(context=context))
    Models(stack, "Models", config=config, storage=Storage(stack, "Storage", config=config))
    template = Template.from_stack(stack).to_json()

    [target] = _resources(template, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert target["Properties"]["MinCapacity"] == 1
    [config_] = _resources(template, "AWS::SageMaker::EndpointConfig").values()
    assert config_["Properties"]["ProductionVariants"][0]["ManagedInstanceScaling"]["MinInstanceCount"] == 1
    assert not any(a["Properties"].get("MetricName") == "NoCapacityInvocationFailures"
                   for a in _resources(template, "AWS::CloudWatch::Alarm").values())


def test_the_dashboard_shows_the_wait_for_capacity_and_each_models_no_capacity_failures(template_json):
    [dashboard] = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert c.METRIC_MODEL_CAPACITY_WAIT in body and "Waiting for model capacity" in body
    assert body.count("NoCapacityInvocationFailures") == len(_enabled_roles())


def test_scaling_dimension_and_metric_are_ones_application_auto_scaling_knows(template_json):
    """Checked against botocore's model of the Application Auto Scaling API, not our own words."""
    import botocore.session

    api = botocore.session.get_session().get_service_model("application-autoscaling")
    dimensions, metrics = set(api.shape_for("ScalableDimension").enum), set(api.shape_for("MetricType").enum)
    for target in _resources(template_json, "AWS::ApplicationAutoScaling::ScalableTarget").values():
        assert target["Properties"]["ScalableDimension"] in dimensions
    for policy in _resources(template_json, "AWS::ApplicationAutoScaling::ScalingPolicy").values():
        tracking = policy["Properties"].get("TargetTrackingScalingPolicyConfiguration")
        if tracking:
            assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] in metrics
