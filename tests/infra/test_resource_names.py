"""Every name an alarm, a dashboard, a scaling target or a function's environment uses for a
resource is the name the service emits for it (cdk_app/house/names.py).

CloudWatch matches dimension values case-sensitively and SageMaker writes inference-component and
endpoint ARNs in lower case: a name cut out of the ARN of a mixed-case component never matches its
metrics, and the alarm that wakes a component scaled to zero never fires (issue 23, item 2).
"""
from __future__ import annotations

import json

import pytest

from cdk_app.house.names import SAGEMAKER_NAME
from functions.common import constants as c

# Dimension name -> how a value must name a resource of the template: a literal equal to the
# resource's name property, or a Ref / GetAtt of a resource of that type.
DIMENSION_RESOURCES = {
    "InferenceComponentName": ("AWS::SageMaker::InferenceComponent", "InferenceComponentName"),
    "EndpointName": ("AWS::SageMaker::Endpoint", "EndpointName"),
    "StateMachineArn": ("AWS::StepFunctions::StateMachine", None),
    "FunctionName": ("AWS::Lambda::Function", None),
    "QueueName": ("AWS::SQS::Queue", None),
    "DBClusterIdentifier": ("AWS::RDS::DBCluster", None),
}
# Our own metrics' dimensions (Powertools EMF): values we emit ourselves.
OWN_DIMENSIONS = {"service": {c.POWERTOOLS_SERVICE}, "modality": set(c.MODALITIES) | {c.UNSUPPORTED},
                  c.METRIC_DIMENSION_ROLE: set(c.MODEL_ROLES)}


def _of_type(template_json: dict, cfn_type: str) -> dict:
    return {k: r for k, r in template_json["Resources"].items() if r["Type"] == cfn_type}


def _alarm_dimensions(alarm: dict) -> list[dict]:
    props = alarm["Properties"]
    dims = list(props.get("Dimensions") or [])
    for metric in props.get("Metrics", []):
        dims += metric.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    return dims


def _names_a_resource(template_json: dict, name: str, value) -> bool:
    cfn_type, name_property = DIMENSION_RESOURCES[name]
    resources = _of_type(template_json, cfn_type)
    if isinstance(value, str):
        return name_property is not None and value in {r["Properties"].get(name_property) for r in resources.values()}
    target = value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0]
    return target in resources


def test_every_alarm_dimension_names_a_resource_of_the_template_as_the_service_emits_it(template_json):
    alarms = _of_type(template_json, "AWS::CloudWatch::Alarm")
    checked = 0
    for logical_id, alarm in alarms.items():
        for dim in _alarm_dimensions(alarm):
            name, value = dim["Name"], dim["Value"]
            if name in OWN_DIMENSIONS:
                assert value in OWN_DIMENSIONS[name], (logical_id, name, value)
                continue
            assert name in DIMENSION_RESOURCES, f"{logical_id}: no rule for dimension {name!r}; add one"
            assert _names_a_resource(template_json, name, value), (logical_id, name, value)
            checked += 1
    assert checked >= 10, checked


def test_model_resources_are_named_explicitly_in_lower_case(template_json):
    components = _of_type(template_json, "AWS::SageMaker::InferenceComponent")
    endpoints = _of_type(template_json, "AWS::SageMaker::Endpoint")
    assert components and len(components) == len(endpoints)
    for resources, prop in ((components, "InferenceComponentName"), (endpoints, "EndpointName")):
        for logical_id, resource in resources.items():
            name = resource["Properties"].get(prop)
            # A literal: the ARN SageMaker writes ends in exactly this (lower-case) name.
            assert isinstance(name, str) and SAGEMAKER_NAME.match(name), (logical_id, name)


def test_wake_alarm_and_scaling_target_name_the_component_as_created(template_json):
    names = {r["Properties"]["InferenceComponentName"] for r in _of_type(template_json, "AWS::SageMaker::InferenceComponent").values()}
    targets = [r["Properties"]["ResourceId"] for r in _of_type(template_json, "AWS::ApplicationAutoScaling::ScalableTarget").values()
               if r["Properties"]["ServiceNamespace"] == "sagemaker"]
    assert sorted(targets) == sorted(f"inference-component/{n}" for n in names)
    wake = [a for a in _of_type(template_json, "AWS::CloudWatch::Alarm").values()
            if a["Properties"].get("MetricName") == "NoCapacityInvocationFailures"]
    assert wake and {d["Value"] for a in wake for d in _alarm_dimensions(a)} <= names


@pytest.mark.parametrize("step", [c.STEP_EXTRACT, c.STEP_GENERATE, c.STEP_EMBED, c.FN_SEARCH])
def test_functions_name_the_components_and_endpoints_as_created(template_json, step):
    [fn] = [r for r in _of_type(template_json, "AWS::Lambda::Function").values()
            if r["Properties"].get("Handler") == f"functions.{step}.handler.lambda_handler"]
    env = fn["Properties"]["Environment"]["Variables"]
    components = {r["Properties"]["InferenceComponentName"] for r in _of_type(template_json, "AWS::SageMaker::InferenceComponent").values()}
    named = json.loads(env[c.ENV_MODEL_COMPONENTS]) if isinstance(env[c.ENV_MODEL_COMPONENTS], str) else None
    # The names are literals now, so the environment is plain JSON naming exactly those components.
    assert named and set(named.values()) <= components, env[c.ENV_MODEL_COMPONENTS]
