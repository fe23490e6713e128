"""The search function in the synthesized template: IAM-authorized URL, in the VPC, through the
proxy with IAM auth, and allowed to invoke the two embedding endpoints and nothing else."""
from __future__ import annotations

import json
import re

from functions.common import constants as c

HANDLER = "functions.search.handler.lambda_handler"


def _search_function(template_json: dict) -> tuple[str, dict]:
    [(logical_id, fn)] = [(k, v) for k, v in template_json["Resources"].items()
                          if v["Type"] == "AWS::Lambda::Function" and v["Properties"].get("Handler") == HANDLER]
    return logical_id, fn


def _role_statements(template_json: dict, role_ref: dict) -> list[dict]:
    return [s for r in template_json["Resources"].values()
            if r["Type"] == "AWS::IAM::Policy" and role_ref in r["Properties"].get("Roles", [])
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


def test_search_function_url_requires_iam_auth(template_json):
    logical_id, _ = _search_function(template_json)
    urls = [r["Properties"] for r in template_json["Resources"].values() if r["Type"] == "AWS::Lambda::Url"]
    [url] = [u for u in urls if u["TargetFunctionArn"] == {"Fn::GetAtt": [logical_id, "Arn"]}]
    assert url["AuthType"] == "AWS_IAM"
    # no resource policy opens the URL to anyone: callers need lambda:InvokeFunctionUrl in their own policies
    permissions = [r["Properties"] for r in template_json["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"
                   and r["Properties"].get("FunctionName") in ({"Fn::GetAtt": [logical_id, "Arn"]}, {"Ref": logical_id})]
    assert not [p for p in permissions if p.get("FunctionUrlAuthType") == "NONE" or p.get("Principal") == "*"]
    assert c.OUTPUT_SEARCH_URL in template_json["Outputs"]


def test_search_function_runs_in_the_isolated_subnets_and_reaches_the_proxy_with_iam(template_json):
    _, fn = _search_function(template_json)
    props = fn["Properties"]
    assert props["VpcConfig"]["SubnetIds"] and props["VpcConfig"]["SecurityGroupIds"]
    env = props["Environment"]["Variables"]
    assert env[c.ENV_DB_AUTH] == "iam" and env[c.ENV_DB_USER] == c.DB_APP_USER
    assert "DatabaseClusterProxy" in json.dumps(env[c.ENV_DB_HOST])
    assert "StorageIngest" in json.dumps(env[c.ENV_SEARCH_BUCKETS])
    endpoints = json.dumps(env[c.ENV_MODEL_ENDPOINTS])
    assert "TextEmbeddingEndpoint" in endpoints and "ImageEmbeddingEndpoint" in endpoints
    assert "GenerationEndpoint" not in endpoints and "SpeechEndpoint" not in endpoints


def test_search_role_may_invoke_only_the_embedding_endpoints_and_connect_as_the_app_user(template_json):
    _, fn = _search_function(template_json)
    role = {"Ref": fn["Properties"]["Role"]["Fn::GetAtt"][0]}
    statements = _role_statements(template_json, role)
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    # logs and traces, ENIs in the VPC, the proxy and the endpoints: no S3, no KMS, no secrets
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                       "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                       "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
                       "rds-db:connect", "sagemaker:InvokeEndpoint"}, actions
    [invoke] = [s for s in statements if s["Action"] == "sagemaker:InvokeEndpoint"]
    endpoints = set(re.findall(r"Models(\w+?)Endpoint[0-9A-F]{8}", json.dumps(invoke["Resource"])))
    assert endpoints == {"TextEmbedding", "ImageEmbedding"}
    [connect] = [s for s in statements if s["Action"] == "rds-db:connect"]
    assert c.DB_APP_USER in json.dumps(connect["Resource"])


def test_the_caller_policy_grants_both_actions_a_function_url_needs(template_json):
    """Since October 2025 an AWS_IAM function URL needs lambda:InvokeFunctionUrl and
    lambda:InvokeFunction (via the URL); with the first alone a caller gets 403
    (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html)."""
    logical_id, _ = _search_function(template_json)
    output = template_json["Outputs"][c.OUTPUT_SEARCH_CALLER_POLICY]["Value"]
    policy = template_json["Resources"][output["Ref"]]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    by_action = {s["Action"]: s for s in statements}
    assert set(by_action) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    for statement in statements:
        assert statement["Resource"] == {"Fn::GetAtt": [logical_id, "Arn"]}
    assert by_action["lambda:InvokeFunction"]["Condition"] == {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}
    assert by_action["lambda:InvokeFunctionUrl"]["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}
