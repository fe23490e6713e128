"""The taxonomy in the synthesized template: the file as an asset the label writers read, and
the relabel function, allowed to read it, embed with the two embedding endpoints and connect as
the app user, invoked by the Airflow role."""
from __future__ import annotations

import json
import re

from functions.reprocess import names
from functions.taxonomy.taxonomy import ENV_TAXONOMY_URI

HANDLER = "functions.relabel.handler.lambda_handler"


def _relabel(template_json: dict) -> tuple[str, dict]:
    [(logical_id, fn)] = [(k, v) for k, v in template_json["Resources"].items()
                          if v["Type"] == "AWS::Lambda::Function" and v["Properties"].get("Handler") == HANDLER]
    return logical_id, fn


def _statements(template_json: dict, role_ref: dict) -> list[dict]:
    return [s for r in template_json["Resources"].values()
            if r["Type"] == "AWS::IAM::Policy" and role_ref in r["Properties"].get("Roles", [])
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statements: list[dict]) -> set[str]:
    return {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}


def test_the_relabel_function_reads_the_taxonomy_asset_embeds_labels_and_writes_as_the_app_user(template_json):
    _, fn = _relabel(template_json)
    env = fn["Properties"]["Environment"]["Variables"]
    assert "s3://" in json.dumps(env[ENV_TAXONOMY_URI]) and fn["Properties"]["Timeout"] == 900
    statements = _statements(template_json, {"Ref": fn["Properties"]["Role"]["Fn::GetAtt"][0]})
    actions = _actions(statements)
    assert {"rds-db:connect", "sagemaker:InvokeEndpoint", "s3:GetObject"} <= actions
    # the one object, not the asset bucket: no other S3 action, no wildcard key
    assert {a for a in actions if a.startswith("s3:")} == {"s3:GetObject"}
    [get] = [s for s in statements if s["Action"] == "s3:GetObject"]
    assert "*" not in json.dumps(get["Resource"]) and ".json" in json.dumps(get["Resource"])
    [invoke] = [s for s in statements if s["Action"] == "sagemaker:InvokeEndpoint"]
    assert set(re.findall(r"Models(\w+?)Endpoint[0-9A-F]{8}", json.dumps(invoke["Resource"]))) == {
        "TextEmbedding", "ImageEmbedding"}


def test_the_airflow_role_may_invoke_the_relabel_function_which_the_dag_finds_by_setting(template_json):
    logical_id, _ = _relabel(template_json)
    [env] = [r["Properties"] for r in template_json["Resources"].values() if r["Type"] == "AWS::MWAA::Environment"]
    setting = env["AirflowConfigurationOptions"][f"{names.CONF_SECTION}.{names.SETTING_RELABEL_FUNCTION}"]
    assert setting == {"Ref": logical_id}
    role = {"Ref": env["ExecutionRoleArn"]["Fn::GetAtt"][0]}
    invokes = [s for s in _statements(template_json, role) if "lambda:InvokeFunction" in _actions([s])]
    assert any(logical_id in json.dumps(s["Resource"]) for s in invokes)
