"""The run's permission usage: what a role used, generalised so the table is stable, and the
grants nothing used."""
from __future__ import annotations

from local.iam.authorizer import Authorizer, Identity, TemplateResources
from local.iam.template import TemplatePolicies
from local.iam.usage import general, unused_grants, usage_table
from local.iam.wire import Call


def test_one_object_or_execution_is_shown_as_its_prefix_or_machine():
    assert general("arn:aws:s3:::b/staging/abc/def.json") == "arn:aws:s3:::b/staging/*"
    assert general("arn:aws:s3:::b/top.txt") == "arn:aws:s3:::b/*"
    assert general("arn:aws:states:us-east-1:1:execution:m:e-1") == "arn:aws:states:us-east-1:1:execution:m:*"
    assert general("arn:aws:s3:::b") == "arn:aws:s3:::b"


def _authorizer() -> Authorizer:
    template = {"Resources": {
        "Reader": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "Reader"}},
        "ReaderPolicy": {"Type": "AWS::IAM::Policy", "Properties": {"PolicyName": "p", "Roles": [{"Ref": "Reader"}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:DeleteObject*"], "Resource": "*"},
                {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]}}},
    }}
    policies = TemplatePolicies.from_template(template)
    authorizer = Authorizer(policies, TemplateResources(template, policies), region="us-east-1", account="123456789012")
    authorizer.register("K", Identity(policies.role_arn("Reader"), "function reader"))
    return authorizer


def test_a_granted_action_no_call_used_is_reported_and_a_service_one_is_not():
    authorizer = _authorizer()
    authorizer.check("K", [Call("s3:GetObject", "arn:aws:s3:::b/x/1"), Call("s3:GetObject", "arn:aws:s3:::b/x/2")])
    role = authorizer.policies.role_arn("Reader")
    # logs:PutLogEvents is Lambda's own use of the role (SERVICE_USED), not reported
    assert unused_grants(authorizer, [role]) == {role: ["s3:DeleteObject*"]}
    table = usage_table(authorizer)
    assert "| function reader (`Reader`) | `s3:GetObject` | `arn:aws:s3:::b/x/*` |" in table
