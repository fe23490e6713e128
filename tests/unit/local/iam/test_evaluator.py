"""local.iam.evaluator against the examples of AWS's IAM and KMS documentation.

Each test names the documented example it reproduces:
- https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
- https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
- https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html
- https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
"""
from __future__ import annotations

import pytest

from local.iam.evaluator import Decision, Request, conditions_hold, evaluate

ACCOUNT = "123456789012"
CARLOS = f"arn:aws:iam::{ACCOUNT}:user/carlossalazar"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Worker"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# --------------------------------------------------------------------------- evaluation logic

CARLOS_IDENTITY = policy(
    {"Sid": "AllowS3ListRead", "Effect": "Allow",
     "Action": ["s3:GetBucketLocation", "s3:GetAccountPublicAccessBlock", "s3:ListAccessPoints", "s3:ListAllMyBuckets"],
     "Resource": "arn:aws:s3:::*"},
    {"Sid": "AllowS3Self", "Effect": "Allow", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"]},
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
)
CARLOS_BUCKET = policy(
    {"Effect": "Allow", "Principal": {"AWS": CARLOS}, "Action": "s3:*",
     "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"]},
)


def test_explicit_deny_in_identity_policy_wins_over_any_allow():
    """Policy evaluation logic, "Example identity-based and resource-based policy evaluation":
    Carlos saving a file to the carlossalazar-logs bucket is denied by DenyS3Logs."""
    # given Carlos's identity policy and his bucket's policy
    # when he puts an object into a bucket with "log" in its name
    decision = evaluate(Request(CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar-logs/today.log"),
                        [("carlos", CARLOS_IDENTITY)], ("carlossalazar bucket", CARLOS_BUCKET))
    # then the explicit deny decides
    assert not decision.allowed
    assert decision.reason == "explicit deny in carlos statement DenyS3Logs"


def test_identity_and_resource_policy_both_allowing_allow():
    """Policy evaluation logic, same example: Carlos then saves the file to the carlossalazar
    bucket, which both his identity policy and the bucket policy allow."""
    decision = evaluate(Request(CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/today.txt"),
                        [("carlos", CARLOS_IDENTITY)], ("carlossalazar bucket", CARLOS_BUCKET))
    assert decision.allowed
    assert decision.reason == "allowed by identity policy carlos statement AllowS3Self"


def test_resource_policy_naming_the_principal_allows_without_identity_policy():
    """Policy evaluation logic, same example: "If one of the policy types allows the request
    and the other doesn't, the request is still allowed" (within one account)."""
    # given no identity policy at all, only the bucket policy naming Carlos
    decision = evaluate(Request(CARLOS, "s3:GetObject", "arn:aws:s3:::carlossalazar/today.txt"),
                        [], ("carlossalazar bucket", CARLOS_BUCKET))
    assert decision.allowed
    assert decision.reason.startswith("allowed by resource policy carlossalazar bucket")


REPORTS = policy(
    {"Sid": "AllowGetList", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
    {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"},
)


@pytest.mark.parametrize("action, allowed, reason", [
    ("iam:GetUser", True, "allowed by identity policy reports statement AllowGetList"),
    ("iam:CreatePolicy", False, "no statement allows iam:CreatePolicy on *"),
    ("iam:GetOrganizationsAccessReport", False, "explicit deny in reports statement DenyReports"),
])
def test_allowed_implicitly_denied_and_explicitly_denied_actions(action, allowed, reason):
    """Policy evaluation logic, "The difference between explicit and implicit denies":
    AllowGetList allows Get/List, everything else is implicitly denied, DenyReports denies
    actions ending in Report."""
    decision = evaluate(Request(ROLE, action, "*"), [("reports", REPORTS)])
    assert (decision.allowed, decision.reason) == (allowed, reason)


def test_explicit_deny_holds_when_another_policy_grants_the_action():
    """Same section: "If someone adds another policy ... to grant them access to IAM reports,
    such as iam:GenerateCredentialReport, report-related requests are still denied"."""
    grant = policy({"Effect": "Allow", "Action": "iam:GenerateCredentialReport", "Resource": "*"})
    decision = evaluate(Request(ROLE, "iam:GenerateCredentialReport", "*"), [("reports", REPORTS), ("grant", grant)])
    assert not decision.allowed and "DenyReports" in decision.reason


def test_actions_match_case_insensitively_and_resources_case_sensitively():
    """IAM JSON policy elements: Action ("action names are case insensitive"); ARNs in Resource
    are matched case-sensitively."""
    identity = [("p", policy({"Effect": "Allow", "Action": "S3:getobject", "Resource": "arn:aws:s3:::Bucket/*"}))]
    assert evaluate(Request(ROLE, "s3:GetObject", "arn:aws:s3:::Bucket/k"), identity).allowed
    assert not evaluate(Request(ROLE, "s3:GetObject", "arn:aws:s3:::bucket/k"), identity).allowed


def test_not_action_allows_everything_but_the_listed_actions():
    """IAM JSON policy elements: NotAction, "Allow all actions except IAM" example."""
    document = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert evaluate(Request(ROLE, "s3:ListAllMyBuckets", "*"), [("p", document)]).allowed
    assert not evaluate(Request(ROLE, "iam:CreateUser", "*"), [("p", document)]).allowed


def test_not_resource_denies_everything_outside_the_listed_resources():
    """IAM JSON policy elements: NotResource, the Deny + NotResource example (deny every S3
    resource except one bucket's objects)."""
    document = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                      {"Sid": "OnlyHr", "Effect": "Deny", "Action": "s3:*",
                       "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]})
    assert evaluate(Request(ROLE, "s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/june"), [("p", document)]).allowed
    decision = evaluate(Request(ROLE, "s3:GetObject", "arn:aws:s3:::Other/x"), [("p", document)])
    assert not decision.allowed and "OnlyHr" in decision.reason


def test_resource_wildcards_do_not_cross_the_arn_sections_but_cross_colons_in_the_resource_id():
    """IAM JSON policy elements: Resource ("you can use wildcards ... within any ARN segment");
    a log group's `:*` covers its log streams."""
    document = policy({"Effect": "Allow", "Action": "logs:PutLogEvents",
                       "Resource": "arn:aws:logs:*:123456789012:log-group:/aws/lambda/fn:*"})
    stream = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fn:log-stream:2024/01/01/abc"
    assert evaluate(Request(ROLE, "logs:PutLogEvents", stream), [("p", document)]).allowed
    other_account = "arn:aws:logs:us-east-1:999999999999:log-group:/aws/lambda/fn:log-stream:x"
    decision = evaluate(Request(ROLE, "logs:PutLogEvents", other_account), [("p", document)], resource_account=ACCOUNT)
    assert not decision.allowed and decision.reason.startswith("no statement allows")


def test_resource_account_root_in_the_same_account_does_not_allow_by_itself():
    """IAM JSON policy elements: Principal, "AWS account principals": naming an account
    delegates to the account's identity policies, so without one the request is denied."""
    bucket = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                     "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})
    assert not evaluate(Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/k"), [], ("bucket", bucket)).allowed


def test_resource_policy_deny_to_an_account_applies_to_its_roles():
    """Secrets Manager's attachment policy as CDK writes it: a Deny whose Principal is the
    account root denies every principal of the account."""
    secret = policy({"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                     "Action": "secretsmanager:DeleteSecret", "Resource": "*"})
    identity = [("admin", policy({"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}))]
    arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db-AbCdEf"
    assert not evaluate(Request(ROLE, "secretsmanager:DeleteSecret", arn), identity, ("secret", secret)).allowed
    assert evaluate(Request(ROLE, "secretsmanager:GetSecretValue", arn), identity, ("secret", secret)).allowed


def test_cross_account_needs_both_identity_and_resource_policy():
    """Cross-account policy evaluation logic: the requesting account's identity policy AND the
    trusting account's resource policy must both allow."""
    # given a role of account 111122223333 and a bucket of 444455556666
    role = "arn:aws:iam::111122223333:role/Reader"
    identity = [("reader", policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"}))]
    bucket = policy({"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "s3:GetObject",
                     "Resource": "arn:aws:s3:::shared/*"})
    request = Request(role, "s3:GetObject", "arn:aws:s3:::shared/k")
    # then the identity policy alone is not enough, nor the bucket policy alone, both are
    assert not evaluate(request, identity, None, resource_account="444455556666").allowed
    assert not evaluate(request, [], ("shared", bucket), resource_account="444455556666").allowed
    assert evaluate(request, identity, ("shared", bucket), resource_account="444455556666").allowed


def test_service_principal_is_allowed_only_by_a_resource_policy_naming_the_service():
    """Policy evaluation logic / Principal element, "AWS service principals": a service has no
    identity policy; the resource policy must name it."""
    queue = "arn:aws:sqs:us-east-1:123456789012:dlq"
    document = policy({"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                       "Resource": queue})
    assert evaluate(Request("sns.amazonaws.com", "sqs:SendMessage", queue), [], ("queue", document)).allowed
    everything = [("ignored", policy({"Effect": "Allow", "Action": "*", "Resource": "*"}))]
    decision = evaluate(Request("events.amazonaws.com", "sqs:SendMessage", queue), everything, ("queue", document))
    assert not decision.allowed and "service principal" in decision.reason


def test_not_principal_with_deny_spares_only_the_listed_principal():
    """IAM JSON policy elements: NotPrincipal, "NotPrincipal with Deny" (deny everyone but the
    listed role; the account is listed too, as the example does)."""
    bucket = policy({"Effect": "Allow", "Action": "s3:*", "Principal": "*", "Resource": "arn:aws:s3:::b/*"},
                    {"Sid": "OnlyAdmin", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*",
                     "NotPrincipal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:role/Admin", "arn:aws:iam::444455556666:root"]}})
    admin = f"arn:aws:iam::{ACCOUNT}:role/Admin"
    assert evaluate(Request(admin, "s3:GetObject", "arn:aws:s3:::b/k"), [], ("b", bucket)).allowed
    assert not evaluate(Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/k"), [], ("b", bucket)).allowed


def test_role_arn_in_a_resource_policy_names_its_sessions():
    """Policy evaluation logic, "IAM role session": the caller is the session
    (arn:aws:sts::...:assumed-role/NAME/SESSION) of the role the policy names."""
    bucket = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/service/Worker"},
                     "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/Worker/i-123"
    assert evaluate(Request(session, "s3:GetObject", "arn:aws:s3:::b/k"), [], ("b", bucket)).allowed


# --------------------------------------------------------------------------- KMS key policies

KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ENABLE_IAM = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
              "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
KEY_USERS = {"Sid": "Allow use of the key", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/ExampleUserRole"},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
             "Resource": "*"}
DECRYPT = [("decrypt", policy({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY}))]


def test_default_key_policy_delegates_to_iam_so_an_identity_policy_allows():
    """KMS default key policy, "Allows access to the AWS account and enables IAM policies": with
    that statement an IAM policy allowing kms:Decrypt lets the role decrypt."""
    decision = evaluate(Request(ROLE, "kms:Decrypt", KEY), DECRYPT, ("key", policy(ENABLE_IAM)), key_policy=True)
    assert decision.allowed and "delegates to IAM" in decision.reason


def test_default_key_policy_without_an_identity_policy_denies():
    """Same statement: it grants nothing by itself, the IAM policies must allow."""
    decision = evaluate(Request(ROLE, "kms:Decrypt", KEY), [], ("key", policy(ENABLE_IAM)), key_policy=True)
    assert not decision.allowed and "no identity policy allows" in decision.reason


def test_identity_policy_is_ineffective_when_the_key_policy_does_not_enable_iam():
    """Key policies in AWS KMS: "Unless the key policy explicitly allows it, you cannot use IAM
    policies to allow access to a KMS key" (a key policy with key users only)."""
    everything = [("admin", policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}))]
    decision = evaluate(Request(ROLE, "kms:Decrypt", KEY), everything, ("key", policy(KEY_USERS)), key_policy=True)
    assert not decision.allowed and "neither names" in decision.reason


def test_key_user_named_in_the_key_policy_needs_no_identity_policy():
    """KMS default key policy, "Allows key users to use the KMS key": the named role may use
    the key without any IAM policy."""
    user = f"arn:aws:iam::{ACCOUNT}:role/ExampleUserRole"
    decision = evaluate(Request(user, "kms:GenerateDataKey", KEY), [], ("key", policy(KEY_USERS)), key_policy=True)
    assert decision.allowed and decision.reason == "allowed by key policy key statement Allow use of the key"


def test_key_policy_service_statement_checks_source_account_and_arn():
    """CloudWatch Logs' documented key policy statement for delivery.logs.amazonaws.com
    (StringEquals aws:SourceAccount, ArnLike aws:SourceArn)."""
    statement = {"Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"}, "Action": "kms:Decrypt*",
                 "Resource": "*", "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                                                "ArnLike": {"aws:SourceArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:*"}}}
    ok = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:delivery-source:x"}
    request = Request("delivery.logs.amazonaws.com", "kms:Decrypt", KEY, ok)
    assert evaluate(request, [], ("key", policy(statement)), key_policy=True).allowed
    confused = Request("delivery.logs.amazonaws.com", "kms:Decrypt", KEY, {**ok, "aws:SourceAccount": "999999999999"})
    assert not evaluate(confused, [], ("key", policy(statement)), key_policy=True).allowed


def test_missing_key_policy_denies():
    """Key policies in AWS KMS: every KMS key must have a key policy; without one nothing allows."""
    decision = evaluate(Request(ROLE, "kms:Decrypt", KEY), DECRYPT, None, key_policy=True)
    assert not decision.allowed


# --------------------------------------------------------------------------- condition operators


def allows(statement: dict, context: dict, *, action: str = "iam:CreateAccessKey",
           resource: str = f"arn:aws:iam::{ACCOUNT}:user/bob", principal: str = ROLE) -> Decision:
    return evaluate(Request(principal, action, resource, context), [("p", policy(statement))])


JOB_CATEGORY = {"Effect": "Allow", "Action": "iam:*AccessKey*", "Resource": f"arn:aws:iam::{ACCOUNT}:user/*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}}


def test_string_equals_allows_the_tagged_principal():
    """Condition operators, String example: aws:PrincipalTag/job-category = iamuser-admin."""
    assert allows(JOB_CATEGORY, {"aws:PrincipalTag/job-category": "iamuser-admin"}).allowed


def test_condition_with_a_missing_key_is_false():
    """Condition operators, same example: "If a user without the tag attempts to view or edit
    an access key, the condition returns false and the request is implicitly denied"."""
    assert not allows(JOB_CATEGORY, {}).allowed


def test_condition_key_names_are_case_insensitive():
    """Condition element: "Condition key names are not case-sensitive" (aws:SourceIP ==
    AWS:SourceIp)."""
    assert allows(JOB_CATEGORY, {"AWS:PRINCIPALTAG/JOB-CATEGORY": "iamuser-admin"}).allowed


HOME = [
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::BUCKET-NAME",
     "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}}},
    {"Effect": "Allow", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::BUCKET-NAME/home/${aws:username}", "arn:aws:s3:::BUCKET-NAME/home/${aws:username}/*"]},
]


@pytest.mark.parametrize("prefix, allowed", [("", True), ("home/", True), ("home/carlos/", True), ("home/ana/", False)])
def test_string_like_with_a_policy_variable_limits_listing_to_the_home_prefix(prefix, allowed):
    """Condition operators, StringLike with the ${aws:username} policy variable (home directory
    example); the empty prefix is a present value, not a missing key."""
    document = policy(*HOME)
    request = Request(CARLOS, "s3:ListBucket", "arn:aws:s3:::BUCKET-NAME", {"aws:username": "carlos", "s3:prefix": prefix})
    assert evaluate(request, [("home", document)]).allowed is allowed


def test_policy_variable_in_resource_limits_objects_to_the_users_home():
    """Same example's third statement: s3:* on BUCKET-NAME/home/${aws:username}/*."""
    document = policy(*HOME)
    own = Request(CARLOS, "s3:PutObject", "arn:aws:s3:::BUCKET-NAME/home/carlos/a.txt", {"aws:username": "carlos"})
    other = Request(CARLOS, "s3:PutObject", "arn:aws:s3:::BUCKET-NAME/home/ana/a.txt", {"aws:username": "carlos"})
    no_user = Request(ROLE, "s3:PutObject", "arn:aws:s3:::BUCKET-NAME/home/carlos/a.txt")
    assert evaluate(own, [("home", document)]).allowed
    assert not evaluate(other, [("home", document)]).allowed
    assert not evaluate(no_user, [("home", document)]).allowed  # roles have no aws:username


@pytest.mark.parametrize("max_keys, allowed", [("10", True), (5, True), ("11", False)])
def test_numeric_less_than_equals_caps_max_keys(max_keys, allowed):
    """Condition operators, Numeric example: NumericLessThanEquals s3:max-keys 10."""
    statement = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::example_bucket",
                 "Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}}}
    assert allows(statement, {"s3:max-keys": max_keys}, action="s3:ListBucket",
                  resource="arn:aws:s3:::example_bucket").allowed is allowed


def test_date_greater_than_requires_fresh_temporary_credentials():
    """Condition operators, Date example: DateGreaterThan aws:TokenIssueTime
    2020-01-01T00:00:01Z; an IAM user's access keys carry no aws:TokenIssueTime and are denied."""
    statement = {"Effect": "Allow", "Action": "iam:*AccessKey*", "Resource": f"arn:aws:iam::{ACCOUNT}:user/*",
                 "Condition": {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}}
    assert allows(statement, {"aws:TokenIssueTime": "2020-06-30T12:00:00Z"}).allowed
    assert not allows(statement, {"aws:TokenIssueTime": "2019-12-31T23:59:59Z"}).allowed
    assert not allows(statement, {}).allowed


@pytest.mark.parametrize("secure, denied", [(False, True), ("false", True), (True, False)])
def test_bool_secure_transport_denies_plain_http(secure, denied):
    """Condition operators, Boolean example (BooleanExample): deny s3:* when
    aws:SecureTransport is false."""
    document = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                      {"Sid": "BooleanExample", "Action": "s3:*", "Effect": "Deny",
                       "Resource": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"],
                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    request = Request(ROLE, "s3:GetObject", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/k", {"aws:SecureTransport": secure})
    assert evaluate(request, [("p", document)]).allowed is not denied


@pytest.mark.parametrize("source_ip, allowed", [
    ("203.0.113.7", True), ("198.51.100.1", False), ("2001:db8:1234:5678::1", True), ("2001:db8:1234:9999::1", False),
])
def test_ip_address_mixes_ipv4_and_ipv6_ranges(source_ip, allowed):
    """Condition operators, IP address examples: 203.0.113.0/24 and 2001:DB8:1234:5678::/64."""
    statement = {"Effect": "Allow", "Action": "someservice:*", "Resource": "*",
                 "Condition": {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}}}
    assert allows(statement, {"aws:SourceIp": source_ip}, action="someservice:Do", resource="*").allowed is allowed


def test_not_ip_address_denies_outside_the_range():
    """Condition operators, NotIpAddress: "All IP addresses except the specified IP address or range"."""
    assert conditions_hold({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "198.51.100.1"})
    assert not conditions_hold({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.9"})


def test_arn_like_matches_each_arn_component_separately_unlike_string_like():
    """Condition operators, ARN: pattern arn:aws:someservice:*:111122223333:finance/* against
    ...:us-east-2:999999999999:store/abc:111122223333:finance/document.txt matches with
    StringLike, not with ArnLike."""
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    assert conditions_hold({"StringLike": {"aws:SourceArn": pattern}}, {"aws:SourceArn": value})
    assert not conditions_hold({"ArnLike": {"aws:SourceArn": pattern}}, {"aws:SourceArn": value})


def test_arn_equals_source_arn_is_false_when_called_directly():
    """Condition operators, ARN example (SQS queue policy for an SNS topic): the condition holds
    for the topic's SourceArn; "If an IAM user attempts to perform this operation directly, the
    condition returns false"."""
    block = {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:REGION:123456789012:TOPIC-ID"}}
    assert conditions_hold(block, {"aws:SourceArn": "arn:aws:sns:REGION:123456789012:TOPIC-ID"})
    assert not conditions_hold(block, {"aws:SourceArn": "arn:aws:sns:REGION:123456789012:OTHER"})
    assert not conditions_hold(block, {})


def test_negated_operator_with_a_missing_key_is_true():
    """Condition operators, "Important": "If the policy condition requires that the key is not
    matched, such as StringNotLike or ArnNotLike, and the right key is not present, the
    condition is true"."""
    assert conditions_hold({"StringNotLike": {"aws:PrincipalTag/team": "red*"}}, {})
    assert conditions_hold({"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:*:t"}}, {})
    assert not conditions_hold({"StringLike": {"aws:PrincipalTag/team": "red*"}}, {})


RUN_INSTANCE = {"Sid": "RunInstance", "Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*",
                "Condition": {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}}


@pytest.mark.parametrize("context, allowed", [({}, True), ({"ec2:InstanceType": "t2.micro"}, True),
                                               ({"ec2:InstanceType": "c5.large"}, False)])
def test_if_exists_checks_the_key_only_where_the_resource_has_it(context, allowed):
    """Condition operators, "...IfExists": the RunInstance statement with StringLikeIfExists
    ec2:InstanceType; resources without the key (images, key pairs) pass."""
    assert allows(RUN_INSTANCE, context, action="ec2:RunInstances", resource="*").allowed is allowed


def test_without_if_exists_resources_lacking_the_key_are_denied():
    """Same section, the THISPOLICYDOESNOTWORK statement (StringLike, no IfExists)."""
    statement = {**RUN_INSTANCE, "Sid": "THISPOLICYDOESNOTWORK",
                 "Condition": {"StringLike": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}}
    assert not allows(statement, {}, action="ec2:RunInstances", resource="*").allowed


def test_deny_with_negated_if_exists_operator_denies_when_the_key_is_missing():
    """Same section: "If you are using an "Effect": "Deny" element with a negated condition
    operator like StringNotEqualsIfExists, the request is still denied even if the tag is missing"."""
    document = policy({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
                      {"Sid": "TeamOnly", "Effect": "Deny", "Action": "ec2:*", "Resource": "*",
                       "Condition": {"StringNotEqualsIfExists": {"aws:ResourceTag/team": "red"}}})
    assert not evaluate(Request(ROLE, "ec2:StopInstances", "*"), [("p", document)]).allowed
    assert evaluate(Request(ROLE, "ec2:StopInstances", "*", {"aws:ResourceTag/team": "red"}), [("p", document)]).allowed


@pytest.mark.parametrize("context, allowed", [({}, True), ({"aws:TokenIssueTime": "2024-01-01T00:00:00Z"}, False)])
def test_null_condition_requires_the_key_to_be_absent(context, allowed):
    """Condition operators, "Condition operator to check existence of condition keys": Null
    aws:TokenIssueTime true (no temporary credentials)."""
    statement = {"Action": "ec2:*", "Effect": "Allow", "Resource": "*", "Condition": {"Null": {"aws:TokenIssueTime": "true"}}}
    assert allows(statement, context, action="ec2:DescribeInstances", resource="*").allowed is allowed


def test_unknown_condition_operator_is_an_error():
    """Condition operators: IAM rejects a policy with an operator it does not define; the
    evaluator says so rather than guess."""
    with pytest.raises(ValueError, match="StringRoughlyEquals"):
        conditions_hold({"StringRoughlyEquals": {"aws:username": "x"}}, {"aws:username": "x"})


# --------------------------------------------------------------------------- multiple keys and values

TAGS_AND_ARN = {"StringEquals": {"aws:PrincipalTag/department": ["finance", "hr", "legal"],
                                 "aws:PrincipalTag/role": ["audit", "security"]},
                "ArnLike": {"aws:PrincipalArn": ["arn:aws:iam::222222222222:user/Ana",
                                                 "arn:aws:iam::222222222222:user/Mary"]}}
MARY = "arn:aws:iam::222222222222:user/Mary"
NIKKI = "arn:aws:iam::222222222222:user/Nikki"


@pytest.mark.parametrize("context, match", [
    ({"aws:PrincipalTag/department": "legal", "aws:PrincipalTag/role": "audit", "aws:PrincipalArn": MARY}, True),
    ({"aws:PrincipalTag/department": "hr", "aws:PrincipalTag/role": "audit", "aws:PrincipalArn": NIKKI}, False),
    ({"aws:PrincipalTag/department": "hr", "aws:PrincipalTag/role": "payroll", "aws:PrincipalArn": MARY}, False),
    ({"aws:PrincipalTag/department": "hr", "aws:PrincipalArn": MARY}, False),
    ({"aws:PrincipalArn": MARY}, False),
])
def test_operators_and_keys_are_anded_and_values_ored(context, match):
    """Conditions with multiple context keys or values, "Evaluation logic for multiple context
    keys or values": the ExamplePolicy bucket policy and its table of request contexts."""
    assert conditions_hold(TAGS_AND_ARN, context) is match


@pytest.mark.parametrize("context, match", [
    ({"aws:PrincipalTag/department": "legal", "aws:PrincipalTag/role": "audit", "aws:PrincipalArn": NIKKI}, True),
    ({"aws:PrincipalTag/department": "hr", "aws:PrincipalTag/role": "audit", "aws:PrincipalArn": MARY}, False),
    ({"aws:PrincipalTag/department": "hr", "aws:PrincipalTag/role": "payroll", "aws:PrincipalArn": NIKKI}, False),
    ({"aws:PrincipalTag/department": "hr", "aws:PrincipalArn": NIKKI}, False),
    ({"aws:PrincipalArn": NIKKI}, False),
])
def test_negated_operator_values_are_nored(context, match):
    """Same page, "Evaluation logic for negated matching condition operators": the
    ExamplePolicy with ArnNotLike and its table."""
    block = {"StringEquals": TAGS_AND_ARN["StringEquals"], "ArnNotLike": TAGS_AND_ARN["ArnLike"]}
    assert conditions_hold(block, context) is match


THREAD = "arn:aws:dynamodb:us-east-1:123456789012:table/Thread"


@pytest.mark.parametrize("attributes, allowed", [
    (["PostDateTime", "Message"], True), (["PostDateTime", "UserName"], False), ([], True),
])
def test_for_all_values_requires_every_requested_value_in_the_list(attributes, allowed):
    """Creating a condition that tests multiple key values (set operations): ForAllValues:
    StringLike dynamodb:requestedAttributes [PostDateTime, Message, Tags]; an empty set is true."""
    statement = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": THREAD,
                 "Condition": {"ForAllValues:StringLike": {"dynamodb:requestedAttributes":
                                                            ["PostDateTime", "Message", "Tags"]}}}
    decision = allows(statement, {"dynamodb:requestedAttributes": attributes}, action="dynamodb:GetItem", resource=THREAD)
    assert decision.allowed is allowed


@pytest.mark.parametrize("attributes, denied", [
    (["UserName", "Message", "PostDateTime"], True), (["UserName"], False), ([], False),
])
def test_for_any_value_deny_applies_when_one_requested_value_is_listed(attributes, denied):
    """Same page: the Deny PutItem statement with ForAnyValue:StringLike [ID, PostDateTime];
    an empty set is false (not denied)."""
    document = policy({"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": THREAD},
                      {"Sid": "Fixed", "Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": THREAD,
                       "Condition": {"ForAnyValue:StringLike": {"dynamodb:requestedAttributes": ["ID", "PostDateTime"]}}})
    request = Request(ROLE, "dynamodb:PutItem", THREAD, {"dynamodb:requestedAttributes": attributes})
    assert evaluate(request, [("p", document)]).allowed is not denied


def test_kms_encryption_context_key_with_colons_is_one_key():
    """Step Functions encryption at rest: the key policy condition on
    kms:EncryptionContext:aws:states:stateMachineArn (a key name containing colons)."""
    machine = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:Pipeline"
    block = {"ArnEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": machine},
             "StringEquals": {"kms:ViaService": "states.us-east-1.amazonaws.com"}}
    context = {"kms:EncryptionContext:aws:states:stateMachineArn": machine, "kms:ViaService": "states.us-east-1.amazonaws.com"}
    assert conditions_hold(block, context)
    assert not conditions_hold(block, {**context, "kms:ViaService": "s3.us-east-1.amazonaws.com"})


def test_principal_keys_are_in_every_request_context():
    """Global condition keys: aws:PrincipalArn and aws:PrincipalAccount are always present for
    IAM principals (here without the caller passing them)."""
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                 "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}, "ArnLike": {"aws:PrincipalArn": ROLE}}}
    assert allows(statement, {}, action="s3:GetObject", resource="arn:aws:s3:::b/k").allowed
