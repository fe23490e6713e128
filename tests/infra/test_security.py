"""Security properties of the synthesized template: cdk-nag clean, least privilege, cfn-lint."""
from __future__ import annotations

import json
import subprocess
import sys

from aws_cdk.assertions import Annotations, Match


def test_cdk_nag_reports_no_unsuppressed_errors_or_warnings(stack):
    annotations = Annotations.from_stack(stack)
    errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert [f"{e.id}: {e.entry.data}"[:300] for e in errors + warnings] == []


def test_every_nag_suppression_has_a_reason(template_json):
    for name, resource in template_json["Resources"].items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            assert len(rule["reason"]) >= 40, (name, rule)


def _statements(template_json: dict):
    for name, resource in template_json["Resources"].items():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::Role"):
            props = resource["Properties"]
            documents = [props["PolicyDocument"]] if "PolicyDocument" in props else []
            documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
            for document in documents:
                for statement in document["Statement"]:
                    yield name, statement


def test_no_iam_statement_allows_every_action(template_json):
    for name, statement in _statements(template_json):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        assert "*" not in actions and not any(a.endswith(":*") for a in actions), (name, statement)


# Actions AWS offers no resource-level permission for: "*" is the only valid resource.
_NO_RESOURCE_LEVEL = {
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses", "ec2:DescribeVpcs",
    "ec2:DescribeSecurityGroups", "ecr:GetAuthorizationToken", "cloudwatch:PutMetricData",
    "xray:GetSamplingRules", "xray:GetSamplingTargets",
    # Step Functions vended-log delivery (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html)
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    # MWAA's execution role: an account-level read (https://docs.aws.amazon.com/mwaa/latest/userguide/mwaa-create-role.html)
    "s3:GetAccountPublicAccessBlock",
}


def test_star_resources_only_where_no_resource_can_be_named(template_json):
    for name, statement in _statements(template_json):
        if statement.get("Resource") == "*" and statement["Effect"] == "Allow":
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            allowed = _NO_RESOURCE_LEVEL | {a for a in actions if a.startswith("kms:")}  # key policy statements
            assert set(actions) <= allowed or "Principal" in statement, (name, statement)


def test_no_secret_in_function_environments(template_json):
    for name, resource in template_json["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            env = resource["Properties"].get("Environment", {}).get("Variables", {})
            assert "DB_PASSWORD" not in env, name
            assert not any("password" in str(v).lower() for v in env.values()), name


def test_cfn_lint_finds_no_errors(template_path):
    result = subprocess.run(
        [sys.executable, "-m", "cfnlint", "--format", "json", str(template_path)],
        capture_output=True, text=True,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], errors[:5]


def test_both_database_secrets_rotate_single_user_inside_the_vpc(template_json, stack):
    resources = template_json["Resources"]
    secrets = {k for k, r in resources.items() if r["Type"] == "AWS::SecretsManager::Secret" and k.startswith("Database")}
    attachments = {k: r["Properties"]["SecretId"]["Ref"] for k, r in resources.items()
                   if r["Type"] == "AWS::SecretsManager::SecretTargetAttachment"}
    schedules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::SecretsManager::RotationSchedule"]
    rotated = {attachments[s["SecretId"]["Ref"]] for s in schedules}
    assert len(secrets) == 2 and rotated == secrets  # admin and app
    days = stack.config.database.secret_rotation_days
    for schedule in schedules:
        hosted = schedule["HostedRotationLambda"]
        # Single user: IAM sign-in through the proxy is bound to the user name.
        assert hosted["RotationType"] == "PostgreSQLSingleUser"
        assert hosted["VpcSubnetIds"] and hosted["VpcSecurityGroupIds"]
        assert "StorageDataKey" in json.dumps(hosted["KmsKeyArn"])
        assert schedule["RotationRules"]["ScheduleExpression"] == f"rate({days} days)"
    assert any(t.startswith("AWS::SecretsManager-") for t in template_json["Transform"])
    assert all("AwsSolutions-SMG4" not in json.dumps(resources[k].get("Metadata", {})) for k in secrets)
