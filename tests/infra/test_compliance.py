"""Compliance in the synthesized template: the scan step between extract and generate, its two
model roles served like the others, and the flagged-rate alarm to the alarm topic (issue 27)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.common import constants as c

ROOT = Path(__file__).resolve().parents[2]


def _resources(template_json: dict, cfn_type: str) -> dict:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == cfn_type}


def _scan_function(template_json: dict) -> dict:
    [fn] = [f for f in _resources(template_json, "AWS::Lambda::Function").values()
            if f["Properties"].get("Handler") == "functions.scan.handler.lambda_handler"]
    return fn


def test_scan_runs_after_extract_and_before_generate_in_every_modality(template_json):
    from step_functions.definition import build, map_state_name

    [machine] = [v for v in _resources(template_json, "AWS::StepFunctions::StateMachine").values()
                 if "ScanFunctionArn" in v["Properties"].get("DefinitionSubstitutions", {})]
    assert machine["Properties"]["DefinitionSubstitutions"]["ScanFunctionArn"]["Fn::GetAtt"][1] == "Arn"
    branches = build()["States"]["Process batch"]["Branches"]
    for modality, branch in zip(c.MODALITIES, branches):
        states = branch["States"][map_state_name(modality)]["ItemProcessor"]["States"]
        assert states[f"{modality}: scan"]["Next"] == f"{modality}: generate"
        assert states[f"{modality}: scan"]["Catch"][0]["Next"] == f"{modality}: record_failure_scan"
        assert states[f"{modality}: extract"]["Next"] in (f"{modality}: scan", f"{modality}: segmented?")


def test_scan_function_gets_the_compliance_policy_and_may_invoke_only_its_two_endpoints(template_json):
    fn = _scan_function(template_json)
    env = fn["Properties"]["Environment"]["Variables"]
    assert c.ENV_COMPLIANCE in env
    role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [p for p in _resources(template_json, "AWS::IAM::Policy").values()
                if any(r.get("Ref") == role_id for r in p["Properties"]["Roles"])]
    invoked = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]
               if s["Action"] == "sagemaker:InvokeEndpoint"]
    assert len(invoked) == 1
    refs = sorted(r.get("Ref") or r["Fn::GetAtt"][0] for r in invoked[0]["Resource"])
    assert [r.rstrip("0123456789ABCDEF") for r in refs] == ["ModelsModerationComponent", "ModelsModerationEndpoint",
                                                            "ModelsPiiComponent", "ModelsPiiEndpoint"]


def test_pii_and_moderation_are_inference_components_that_scale_to_zero(template_json):
    components = [v["Properties"] for v in _resources(template_json, "AWS::SageMaker::InferenceComponent").values()]
    names = json.dumps([p.get("InferenceComponentName") for p in components])
    assert "-pii-ic" in names and "-moderation-ic" in names
    targets = json.dumps(_resources(template_json, "AWS::ApplicationAutoScaling::ScalableTarget"))
    assert "pii-ic" in targets and "moderation-ic" in targets
    models = json.dumps(_resources(template_json, "AWS::SageMaker::Model"))
    assert "PII_SCORE_THRESHOLD" in models  # thresholds from the catalog in the container environment
    assert '"HF_MODEL_ID": "presidio' not in models and '"HF_MODEL_ID": "nudenet' not in models


def test_flagged_rate_alarm_notifies_the_alarm_topic(template_json):
    alarms = [a["Properties"] for a in _resources(template_json, "AWS::CloudWatch::Alarm").values()
              if "compliance flag" in a["Properties"].get("AlarmDescription", "")]
    assert len(alarms) == 1
    alarm = alarms[0]
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    assert "IF(scanned >= 20, flagged / scanned, 0)" == metrics[next(k for k, m in metrics.items() if "Expression" in m)][
        "Expression"]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert names == {c.METRIC_FILES_SCANNED, c.METRIC_FILES_WITH_FLAGS}
    assert alarm["Threshold"] == 0.2 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    topics = _resources(template_json, "AWS::SNS::Topic")
    (action,) = alarm["AlarmActions"]
    assert action["Ref"] in topics


def _compliance_env(template_json: dict) -> dict:
    """The scan function's COMPLIANCE, with the stack-id salt (a token) left out."""
    raw = _scan_function(template_json)["Properties"]["Environment"]["Variables"][c.ENV_COMPLIANCE]
    text = json.dumps(raw)  # Fn::Join of literal JSON pieces around the salt
    return {"redact": '\\"redact\\":true' in text, "budget": '\\"scan_budget_seconds\\":720' in text,
            "profanity": '\\"profanity_threshold\\":0.9' in text}


def test_redaction_is_off_by_default_and_the_scan_budget_leaves_room_in_the_timeout(template_json):
    assert _compliance_env(template_json) == {"redact": False, "budget": True, "profanity": True}
    assert _scan_function(template_json)["Properties"]["Timeout"] == 900


def _context(**compliance) -> dict:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["pipeline"] = {**context["pipeline"], "compliance": compliance}
    return context


def test_compliance_redact_reaches_the_scan_function(tmp_path):
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from app import build_app

    app, stack = build_app(cdk.App(context=_context(redact=True), outdir=str(tmp_path)))
    app.synth()
    assert _compliance_env(Template.from_stack(stack).to_json())["redact"] is True


def test_redaction_without_the_pii_role_stops_synth():
    from cdk_app.config import ConfigError, load_config

    pipeline = _context(redact=True)["pipeline"]
    pipeline["models"] = {**pipeline["models"], "pii": {"enabled": False}}
    with pytest.raises(ConfigError, match="compliance.redact needs the pii model role"):
        load_config(pipeline)


def test_a_profanity_threshold_below_the_endpoints_floor_is_refused():
    from cdk_app.config import ConfigError, load_config

    assert load_config(_context(profanity_threshold=0.95)["pipeline"]).compliance.profanity_threshold == 0.95
    with pytest.raises(ConfigError, match="profanity_threshold"):
        load_config(_context(profanity_threshold=0.3)["pipeline"])
