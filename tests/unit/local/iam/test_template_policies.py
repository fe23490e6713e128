"""local.iam.template: a synthesized template's policies, resolved, and decisions against them.

Small inline templates in the shapes CDK synthesizes, and one test on the app's own template.
"""
from __future__ import annotations

import pytest

from local.iam.evaluator import Request
from local.iam.template import UNRESOLVED, TemplatePolicies

ACCOUNT, REGION = "123456789012", "us-east-1"
ROOT = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]}
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]}
BASIC = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]]}
TLS_ONLY = {"Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}, "Effect": "Deny",
            "Principal": {"AWS": "*"}}


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def role(**props) -> dict:
    return {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": LAMBDA_TRUST, **props}}


def bucket_arn(logical_id: str) -> dict:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def objects(logical_id: str, suffix: str = "/*") -> dict:
    return {"Fn::Join": ["", [bucket_arn(logical_id), suffix]]}


TEMPLATE = {
    "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
    "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
                   "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]}},
    "Mappings": {"Sizes": {"dev": {"memory": "512"}}},
    "Resources": {
        "DataKey": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": doc(
            {"Action": "kms:*", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Resource": "*"},
            {"Action": "kms:Decrypt*", "Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"},
             "Resource": "*", "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}})}},
        "Ingest": {"Type": "AWS::S3::Bucket", "Properties": {}},
        "IngestPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": "Ingest"},
            "PolicyDocument": doc({**TLS_ONLY, "Resource": [bucket_arn("Ingest"), objects("Ingest")]})}},
        "ExtractRole": role(ManagedPolicyArns=[BASIC, {"Ref": "CallerPolicy"}]),
        "ExtractRoleDefaultPolicy": {"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": "ExtractRoleDefaultPolicy", "Roles": [{"Ref": "ExtractRole"}],
            "PolicyDocument": doc(
                {"Action": ["s3:GetObject*", "s3:List*"], "Effect": "Allow",
                 "Resource": [bucket_arn("Ingest"), objects("Ingest")]},
                {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": {"Fn::GetAtt": ["DataKey", "Arn"]}},
                {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": ["Dlq", "Arn"]}},
                {"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": {"Ref": "DbSecret"}})}},
        "CallerPolicy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"Path": "/", "PolicyDocument": doc(
            {"Action": "lambda:InvokeFunctionUrl", "Effect": "Allow", "Resource": {"Fn::GetAtt": ["Search", "Arn"]},
             "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}})}},
        "NamedRole": role(RoleName="pipeline-named", Path="/service/", Policies=[
            {"PolicyName": "Inline", "PolicyDocument": doc({"Action": "states:StartExecution", "Effect": "Allow",
                                                            "Resource": {"Ref": "Machine"}})}]),
        "MonitoringRole": role(ManagedPolicyArns=[
            {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"}]),
        "Forwarder": {"Type": "AWS::Lambda::Function", "Properties": {
            "Role": {"Fn::GetAtt": ["ExtractRole", "Arn"]},
            "MemorySize": {"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "memory"]}}},
        "Search": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "pipeline-search"}},
        "ForwarderPermission": {"Type": "AWS::Lambda::Permission", "Properties": {
            "Action": "lambda:InvokeFunction", "FunctionName": {"Fn::GetAtt": ["Forwarder", "Arn"]},
            "Principal": "s3.amazonaws.com", "SourceAccount": {"Ref": "AWS::AccountId"},
            "SourceArn": bucket_arn("Ingest")}},
        "SearchUrlPermission": {"Type": "AWS::Lambda::Permission", "Properties": {
            "Action": "lambda:InvokeFunctionUrl", "FunctionName": {"Ref": "Search"}, "Principal": "*",
            "FunctionUrlAuthType": "NONE"}},
        "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "DlqPolicy": {"Type": "AWS::SQS::QueuePolicy", "Properties": {
            "Queues": [{"Ref": "Dlq"}],
            "PolicyDocument": doc({**TLS_ONLY, "Action": "sqs:*", "Resource": {"Fn::GetAtt": ["Dlq", "Arn"]}})}},
        "Alarms": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "AlarmsPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {"Topics": [{"Ref": "Alarms"}], "PolicyDocument": doc(
            {"Sid": "CloudWatch", "Action": "sns:Publish", "Effect": "Allow",
             "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Resource": {"Ref": "Alarms"}})}},
        "DbSecret": {"Type": "AWS::SecretsManager::Secret", "Properties": {}},
        "DbSecretAttachment": {"Type": "AWS::SecretsManager::SecretTargetAttachment",
                               "Properties": {"SecretId": {"Ref": "DbSecret"}}},
        "DbSecretPolicy": {"Type": "AWS::SecretsManager::ResourcePolicy", "Properties": {
            "SecretId": {"Ref": "DbSecretAttachment"},
            "ResourcePolicy": doc({"Action": "secretsmanager:DeleteSecret", "Effect": "Deny",
                                   "Principal": {"AWS": ROOT}, "Resource": "*"})}},
        "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {"StateMachineName": "Pipeline"}},
        "ProdOnly": {"Type": "AWS::SNS::Topic", "Condition": "IsProd", "Properties": {}},
        "ProdOnlyPolicy": {"Type": "AWS::SNS::TopicPolicy", "Condition": "IsProd", "Properties": {
            "Topics": [{"Ref": "ProdOnly"}],
            "PolicyDocument": doc({"Action": "sns:Publish", "Effect": "Allow", "Principal": "*", "Resource": "*"})}},
    },
}


@pytest.fixture
def policies() -> TemplatePolicies:
    return TemplatePolicies.from_template(TEMPLATE, account=ACCOUNT, region=REGION, stack_name="Pipeline-dev",
                                          physical={"Ingest": "local-ingest"})


def tls(**context) -> dict:
    return {"aws:SecureTransport": True, **context}


# --------------------------------------------------------------------------- names and intrinsics


def test_role_arns_use_the_role_name_and_path_or_a_deterministic_default(policies):
    """Given roles with and without RoleName, their ARNs are what IAM would name them, the
    same on every read."""
    assert policies.role_arn("NamedRole") == f"arn:aws:iam::{ACCOUNT}:role/service/pipeline-named"
    generated = policies.role_arn("ExtractRole")
    assert generated.startswith(f"arn:aws:iam::{ACCOUNT}:role/Pipeline-dev-ExtractRole-")
    assert len(generated.rsplit("/", 1)[-1]) <= 64
    again = TemplatePolicies.from_template(TEMPLATE, account=ACCOUNT, region=REGION, stack_name="Pipeline-dev")
    assert again.role_arn("ExtractRole") == generated
    assert set(policies.roles()) == {"ExtractRole", "NamedRole", "MonitoringRole"}


def test_role_arn_of_a_non_role_is_a_key_error(policies):
    with pytest.raises(KeyError):
        policies.role_arn("Ingest")


def test_physical_names_override_and_getatt_builds_arns_from_them(policies):
    """Given `physical` for the bucket, Ref and GetAtt Arn follow it; other types get their
    documented ARN shapes."""
    assert policies.resolve({"Ref": "Ingest"}) == "local-ingest"
    assert policies.resolve(bucket_arn("Ingest")) == "arn:aws:s3:::local-ingest"
    assert policies.resolve({"Fn::GetAtt": ["Search", "Arn"]}) == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:pipeline-search"
    assert policies.resolve({"Ref": "Machine"}) == f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:Pipeline"
    assert policies.resolve({"Fn::GetAtt": ["Machine", "Name"]}) == "Pipeline"
    assert policies.resolve({"Ref": "Dlq"}).startswith(f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/Pipeline-dev-Dlq-")
    assert policies.resolve({"Ref": "Alarms"}).startswith(f"arn:aws:sns:{REGION}:{ACCOUNT}:Pipeline-dev-Alarms-")
    key_id = policies.resolve({"Ref": "DataKey"})
    assert policies.resolve({"Fn::GetAtt": ["DataKey", "Arn"]}) == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
    assert policies.resolve({"Ref": "DbSecretAttachment"}) == policies.resolve({"Ref": "DbSecret"})


def test_default_bucket_names_are_lower_case():
    """S3 bucket names are lower case; a generated default follows that rule."""
    policies = TemplatePolicies.from_template(TEMPLATE, stack_name="Pipeline-dev")
    name = policies.resolve({"Ref": "Ingest"})
    assert name == name.lower() and name.startswith("pipeline-dev-ingest-") and len(name) <= 63


def test_intrinsic_functions_resolve(policies):
    """Fn::Sub (both forms), Fn::Join, Fn::Select, Fn::Split, Fn::If, Fn::FindInMap, Fn::GetAZs,
    pseudo parameters and parameter defaults."""
    resolve = policies.resolve
    assert resolve({"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"}) == \
        f"arn:aws:logs:{REGION}:{ACCOUNT}:*"
    assert resolve({"Fn::Sub": ["${Bucket}/${Machine.Name}/${!Literal}", {"Bucket": {"Ref": "Ingest"}}]}) == \
        "local-ingest/Pipeline/${Literal}"
    assert resolve({"Fn::Select": [1, {"Fn::Split": [":", "a:b:c"]}]}) == "b"
    assert resolve({"Fn::If": ["IsProd", "big", "small"]}) == "small"
    assert resolve({"Fn::If": ["NotProd", "yes", {"Ref": "AWS::NoValue"}]}) == "yes"
    assert resolve(["a", {"Fn::If": ["IsProd", "b", {"Ref": "AWS::NoValue"}]}]) == ["a"]
    assert resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "memory"]}) == "512"
    assert resolve({"Fn::GetAZs": ""}) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert resolve({"Ref": "AWS::URLSuffix"}) == "amazonaws.com"
    assert resolve({"Fn::ImportValue": "Shared-VpcId"}) == f"{UNRESOLVED}import:Shared-VpcId"


def test_unknown_attribute_is_a_placeholder_that_matches_nothing(policies):
    """A GetAtt this module cannot build stays visible and never matches a real ARN."""
    assert policies.resolve({"Fn::GetAtt": ["Ingest", "WebsiteURL"]}) == f"{UNRESOLVED}Ingest.WebsiteURL"
    fixed = TemplatePolicies.from_template(TEMPLATE, attributes={("Ingest", "WebsiteURL"): "http://site"})
    assert fixed.resolve({"Fn::GetAtt": ["Ingest", "WebsiteURL"]}) == "http://site"


def test_resources_whose_condition_is_false_are_left_out(policies):
    """Given a topic and its policy only for Stage=prod, a dev template has no policy for it."""
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:"
    assert not any(arn.startswith(topic + "Pipeline-dev-ProdOnly") for arn in policies._resource_policies)


# --------------------------------------------------------------------------- policies read


def test_identity_policies_collect_policy_resources_managed_and_aws_managed(policies):
    """A role's policies: AWS::IAM::Policy attached through Roles, the template's own managed
    policy and the AWS-managed basic execution role from ManagedPolicyArns."""
    labels = [label for label, _ in policies.identity_policies(policies.role_arn("ExtractRole"))]
    assert labels == ["aws-managed:AWSLambdaBasicExecutionRole", "CallerPolicy", "ExtractRoleDefaultPolicy"]
    inline = [label for label, _ in policies.identity_policies(policies.role_arn("NamedRole"))]
    assert inline == ["NamedRole/Inline"]


def test_unknown_aws_managed_policy_is_labelled_and_allows_nothing(policies):
    """Given a role with only AmazonRDSEnhancedMonitoringRole (not in the built-in table), its
    policy is listed as unknown and a call that policy would allow is denied locally."""
    monitoring = policies.role_arn("MonitoringRole")
    [(label, document)] = policies.identity_policies(monitoring)
    assert "unknown" in label and document["Statement"] == []
    assert not policies.authorize(Request(monitoring, "logs:PutLogEvents", "*")).allowed


def test_unknown_principal_has_no_policies(policies):
    assert policies.identity_policies(f"arn:aws:iam::{ACCOUNT}:role/Stranger") == []


def test_aws_managed_basic_execution_role_allows_writing_logs(policies):
    extract = policies.role_arn("ExtractRole")
    stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/x:log-stream:y"
    assert policies.authorize(Request(extract, "logs:PutLogEvents", stream)).allowed


def test_assumed_role_session_gets_its_roles_policies(policies):
    """The role's sessions (as Lambda runs a function) carry the role's identity policies."""
    name = policies.role_arn("ExtractRole").rsplit("/", 1)[-1]
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/Pipeline-dev-Forwarder"
    assert policies.authorize(Request(session, "s3:GetObject", "arn:aws:s3:::local-ingest/a.png", tls())).allowed


# --------------------------------------------------------------------------- decisions


def test_bucket_policy_covers_the_buckets_objects(policies):
    """Given the ingest bucket's TLS-only policy, reading an object is allowed over TLS by the
    role's policy and explicitly denied over plain HTTP."""
    extract = policies.role_arn("ExtractRole")
    assert policies.resource_policy("arn:aws:s3:::local-ingest/a/b.png")[0] == "IngestPolicy"
    assert policies.authorize(Request(extract, "s3:GetObject", "arn:aws:s3:::local-ingest/a.png", tls())).allowed
    denied = policies.authorize(Request(extract, "s3:GetObject", "arn:aws:s3:::local-ingest/a.png",
                                        {"aws:SecureTransport": False}))
    assert not denied.allowed and denied.reason == "explicit deny in IngestPolicy statement #0"


def test_a_call_the_role_was_not_granted_is_denied(policies):
    extract = policies.role_arn("ExtractRole")
    decision = policies.authorize(Request(extract, "s3:PutObject", "arn:aws:s3:::local-ingest/a.png", tls()))
    assert not decision.allowed and decision.reason.startswith("no statement allows")


def test_kms_key_policy_delegates_to_the_roles_identity_policy(policies):
    """Given CDK's key policy (account root: kms:*), the role's kms:Decrypt grant applies, and a
    role without one is denied."""
    key = policies.resolve({"Fn::GetAtt": ["DataKey", "Arn"]})
    assert policies.key_policy(key)[0] == "DataKey"
    assert policies.authorize(Request(policies.role_arn("ExtractRole"), "kms:Decrypt", key)).allowed
    assert not policies.authorize(Request(policies.role_arn("NamedRole"), "kms:Decrypt", key)).allowed


def test_kms_key_policy_lets_the_named_service_in_under_its_condition(policies):
    key = policies.resolve({"Fn::GetAtt": ["DataKey", "Arn"]})
    ok = Request("delivery.logs.amazonaws.com", "kms:Decrypt", key, {"aws:SourceAccount": ACCOUNT})
    other = Request("delivery.logs.amazonaws.com", "kms:Decrypt", key, {"aws:SourceAccount": "999999999999"})
    assert policies.authorize(ok).allowed and not policies.authorize(other).allowed


def test_lambda_permission_allows_s3_only_for_its_source_bucket_and_account(policies):
    """AWS::Lambda::Permission becomes the function-policy statement Lambda writes: Principal
    service, aws:SourceArn (ArnLike) and aws:SourceAccount (StringEquals)."""
    function = policies.resolve({"Fn::GetAtt": ["Forwarder", "Arn"]})
    label, document = policies.resource_policy(function)
    [statement] = document["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"] == {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::local-ingest"},
                                      "StringEquals": {"aws:SourceAccount": ACCOUNT}}
    context = {"aws:SourceArn": "arn:aws:s3:::local-ingest", "aws:SourceAccount": ACCOUNT}
    assert policies.authorize(Request("s3.amazonaws.com", "lambda:InvokeFunction", function, context)).allowed
    other = {**context, "aws:SourceArn": "arn:aws:s3:::someone-elses-bucket"}
    assert not policies.authorize(Request("s3.amazonaws.com", "lambda:InvokeFunction", function, other)).allowed


def test_lambda_permission_function_url_auth_type_becomes_a_condition(policies):
    """FunctionUrlAuthType -> StringEquals lambda:FunctionUrlAuthType, as Lambda writes it for
    function URLs (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html): a public URL
    lets a caller with no grant of its own in only through a NONE-auth URL."""
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:pipeline-search"
    [statement] = policies.resource_policy(function)[1]["Statement"]
    assert statement["Principal"] == "*"
    assert statement["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
    caller = policies.role_arn("NamedRole")  # no lambda grant in its own policies
    public = Request(caller, "lambda:InvokeFunctionUrl", function, {"lambda:FunctionUrlAuthType": "NONE"})
    signed = Request(caller, "lambda:InvokeFunctionUrl", function, {"lambda:FunctionUrlAuthType": "AWS_IAM"})
    assert policies.authorize(public).allowed
    assert not policies.authorize(signed).allowed


def test_managed_policy_condition_gates_function_url_calls(policies):
    """The template's CallerPolicy allows lambda:InvokeFunctionUrl only with AWS_IAM auth."""
    extract, function = policies.role_arn("ExtractRole"), f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:pipeline-search"
    iam = Request(extract, "lambda:InvokeFunctionUrl", function, {"lambda:FunctionUrlAuthType": "AWS_IAM"})
    assert policies.authorize(iam).allowed
    assert not policies.authorize(Request(extract, "lambda:InvokeFunctionUrl", function)).allowed


def test_queue_topic_and_secret_policies_are_found_by_arn(policies):
    extract = policies.role_arn("ExtractRole")
    queue = policies.resolve({"Fn::GetAtt": ["Dlq", "Arn"]})
    assert policies.resource_policy(queue)[0] == "DlqPolicy"
    assert policies.authorize(Request(extract, "sqs:SendMessage", queue, tls())).allowed
    assert not policies.authorize(Request(extract, "sqs:SendMessage", queue, {"aws:SecureTransport": False})).allowed

    topic = policies.resolve({"Ref": "Alarms"})
    assert policies.authorize(Request("cloudwatch.amazonaws.com", "sns:Publish", topic)).allowed
    assert not policies.authorize(Request("events.amazonaws.com", "sns:Publish", topic)).allowed

    secret = policies.resolve({"Ref": "DbSecret"})
    assert policies.resource_policy(secret)[0] == "DbSecretPolicy"
    assert policies.authorize(Request(extract, "secretsmanager:GetSecretValue", secret)).allowed
    admin = f"arn:aws:iam::{ACCOUNT}:role/Admin"
    assert not policies.authorize(Request(admin, "secretsmanager:DeleteSecret", secret)).allowed


def test_trust_policy_decides_who_may_assume_the_role(policies):
    """Role trust policies must allow by themselves (policy evaluation logic): Lambda may
    assume the function role, Step Functions may not."""
    role_arn = policies.role_arn("ExtractRole")
    assert policies.authorize(Request("lambda.amazonaws.com", "sts:AssumeRole", role_arn)).allowed
    denied = policies.authorize(Request("states.amazonaws.com", "sts:AssumeRole", role_arn))
    assert not denied.allowed and "trust policy" in denied.reason


def test_state_machine_arn_from_physical_is_used_verbatim():
    """Given the local run's state machine ARN as `physical` (Ref of a state machine is its ARN),
    the role's statement on it matches that ARN."""
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:local-pipeline"
    policies = TemplatePolicies.from_template(TEMPLATE, physical={"Machine": machine})
    named = policies.role_arn("NamedRole")
    assert policies.resolve({"Fn::GetAtt": ["Machine", "Name"]}) == "local-pipeline"
    assert policies.authorize(Request(named, "states:StartExecution", machine)).allowed
