"""The stand-ins' IAM on a small template: the KMS calls a service makes for the caller are
authorized as the caller, with the encryption context the service sends."""
from __future__ import annotations

import pytest

from local.iam.authorizer import ADMIN_KEY, STATES_SERVICE_KEY, AccessDenied, Authorizer, Identity, TemplateResources
from local.iam.template import TemplatePolicies
from local.iam.wire import Call

ACCOUNT, REGION = "123456789012", "us-east-1"
KEY_ARN = {"Fn::GetAtt": ["Key", "Arn"]}
ROOT = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]}


def machine_arn(name: str) -> dict:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":states:", {"Ref": "AWS::Region"}, ":",
                              {"Ref": "AWS::AccountId"}, f":stateMachine:{name}"]]}


def template(machine_name_in_condition: str) -> dict:
    """A bucket and a state machine encrypted with one key (CDK's default key policy: the account
    root delegates to IAM), a reader role and the machine's role."""
    def policy(role: str, statements: list) -> dict:
        return {"Type": "AWS::IAM::Policy", "Properties": {"PolicyName": f"{role}Policy", "Roles": [{"Ref": role}],
                                                           "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}}
    return {"Resources": {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}]}}},
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ARN}, "BucketKeyEnabled": True}]}}},
        "Reader": {"Type": "AWS::IAM::Role", "Properties": {}},
        "ReaderPolicy": policy("Reader", [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*"]]}}]),
        "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "StateMachineName": "pipeline", "RoleArn": {"Fn::GetAtt": ["MachineRole", "Arn"]},
            "EncryptionConfiguration": {"Type": "CUSTOMER_MANAGED_KMS_KEY", "KmsKeyId": KEY_ARN}}},
        "MachineRole": {"Type": "AWS::IAM::Role", "Properties": {}},
        "MachineRolePolicy": policy("MachineRole", [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"},
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": KEY_ARN,
             "Condition": {"StringEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": machine_arn(machine_name_in_condition)}}}]),
    }}


def authorizer(machine_name_in_condition: str = "pipeline") -> tuple[Authorizer, TemplatePolicies]:
    tpl = template(machine_name_in_condition)
    physical = {"Bucket": "local-bucket", "Machine": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:pipeline"}
    policies = TemplatePolicies.from_template(tpl, account=ACCOUNT, region=REGION, partition="aws", physical=physical)
    auth = Authorizer(policies, TemplateResources(tpl, policies), region=REGION, account=ACCOUNT)
    auth.register("READER", Identity(policies.role_arn("Reader"), "reader"))
    auth.register(STATES_SERVICE_KEY, Identity(policies.role_arn("MachineRole"), "machine", state_machine_arn=physical["Machine"]))
    return auth, policies


def test_get_object_of_a_kms_bucket_needs_the_callers_kms_decrypt():
    auth, _ = authorizer()
    with pytest.raises(AccessDenied) as denied:
        auth.check("READER", [Call("s3:GetObject", "arn:aws:s3:::local-bucket/k")])
    assert denied.value.call.action == "kms:Decrypt"
    # s3:GetObject itself was allowed, and recorded so
    assert [(d.action, d.allowed) for d in auth.decisions] == [("s3:GetObject", True), ("kms:Decrypt", False)]


def test_a_state_machine_role_whose_key_grant_names_the_machine_may_run_its_tasks():
    auth, _ = authorizer("pipeline")
    auth.check(STATES_SERVICE_KEY, [Call("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f")])
    assert {d.action for d in auth.decisions} == {"lambda:InvokeFunction", "kms:Decrypt", "kms:GenerateDataKey"}


def test_a_key_grant_conditioned_on_an_empty_machine_name_fails_every_task():
    """Issue 23, item 1: CDK builds the condition from StateMachineName; without one it names
    `...:stateMachine:` and the role can use the key for no execution."""
    auth, _ = authorizer("")
    with pytest.raises(AccessDenied) as denied:
        auth.check(STATES_SERVICE_KEY, [Call("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f")])
    assert denied.value.call.action == "kms:Decrypt"


def test_the_harness_key_is_not_checked_and_an_unknown_key_is_denied():
    auth, _ = authorizer()
    auth.check(ADMIN_KEY, [Call("s3:DeleteBucket", "arn:aws:s3:::local-bucket")])
    with pytest.raises(AccessDenied):
        auth.check("SOMEONE", [Call("s3:GetObject", "arn:aws:s3:::local-bucket/k")])
