"""Every service that uses the pipeline's customer-managed key gets what its documentation says
the key policy must allow. A resource type that starts using the key without an entry in
KEY_POLICY_NEEDS fails the first test: decide and document its needs before it can land."""
from __future__ import annotations

import json

# Resource type -> the service principals its use of the key needs in the key policy (beyond the
# account statement that delegates to IAM), with the documentation that says so.
KEY_POLICY_NEEDS: dict[str, set[str]] = {
    # MWAA encrypts its task, scheduler and worker logs through CloudWatch Logs, which uses the key
    # as its own service principal: https://docs.aws.amazon.com/mwaa/latest/userguide/custom-keys-certs.html
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
    "AWS::MWAA::Environment": {"logs"},
    "AWS::Logs::LogGroup": {"logs"},
    # Alarms publish to the encrypted topic as cloudwatch.amazonaws.com:
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
    "AWS::SNS::Topic": {"cloudwatch"},
    # Vended logs of an encrypted state machine are delivered by delivery.logs.amazonaws.com:
    # https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html
    "AWS::StepFunctions::StateMachine": {"delivery.logs"},
    # These use the key on behalf of the caller (IAM policies with kms:ViaService), so the account
    # statement suffices: S3 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html),
    # SQS (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html),
    # Secrets Manager and its rotation (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html),
    # Aurora (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Overview.Encryption.Keys.html),
    # SageMaker ML storage volumes (https://docs.aws.amazon.com/sagemaker/latest/dg/encryption-at-rest-nbi.html).
    "AWS::S3::Bucket": set(),
    "AWS::SQS::Queue": set(),
    "AWS::SecretsManager::Secret": set(),
    "AWS::SecretsManager::RotationSchedule": set(),
    "AWS::RDS::DBCluster": set(),
    "AWS::SageMaker::EndpointConfig": set(),
}
_POLICY_TYPES = {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role"}


def _key(template_json: dict) -> tuple[str, dict]:
    [(name, key)] = [(k, v) for k, v in template_json["Resources"].items() if v["Type"] == "AWS::KMS::Key"]
    return name, key


def _users(template_json: dict, key_name: str) -> set[str]:
    refs = (f'"Ref": "{key_name}"', f'["{key_name}", "Arn"]')
    return {r["Type"] for name, r in template_json["Resources"].items()
            if name != key_name and r["Type"] not in _POLICY_TYPES
            and any(ref in json.dumps(r.get("Properties", {})) for ref in refs)}


def _service_statements(key: dict) -> dict[str, dict]:
    """Key policy statements by service principal prefix ("logs" for logs.<region>.amazonaws.com)."""
    found = {}
    for statement in key["Properties"]["KeyPolicy"]["Statement"]:
        service = (statement.get("Principal") or {}).get("Service")
        if service is None:
            continue
        text = json.dumps(service)
        prefix = "logs" if '"logs."' in text else text.strip('"').replace(".amazonaws.com", "")
        found[prefix] = statement
    return found


def test_every_service_using_the_key_has_documented_key_policy_needs(template_json):
    name, _ = _key(template_json)
    users = _users(template_json, name)
    assert users, "nothing uses the key?"
    assert users <= set(KEY_POLICY_NEEDS), f"decide the key-policy needs of {sorted(users - set(KEY_POLICY_NEEDS))}"


def test_the_key_policy_allows_what_each_user_needs(template_json):
    name, key = _key(template_json)
    statements = _service_statements(key)
    needed = set().union(*(KEY_POLICY_NEEDS[t] for t in _users(template_json, name)))
    assert needed <= set(statements), f"missing key-policy statements for {sorted(needed - set(statements))}"


def test_cloudwatch_logs_may_use_the_key_only_for_log_groups_of_this_account():
    """MWAA's logs (and any log group we encrypt) need it; the encryption context limits it."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from cdk_app.config import load_config
    from cdk_app.storage import Storage

    context = json.loads(open("cdk.json").read())["context"]
    stack = cdk.Stack(cdk.App(context=context))
    Storage(stack, "Storage", config=load_config(context["pipeline"]))
    _, key = _key(Template.from_stack(stack).to_json())
    logs = _service_statements(key)["logs"]
    assert set(logs["Action"]) == {"kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"}
    context_arn = json.dumps(logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    assert '":logs:"' in context_arn and '"AWS::AccountId"' in context_arn and "log-group:*" in context_arn


def test_cloudwatch_alarms_may_only_decrypt_and_make_data_keys(template_json):
    _, key = _key(template_json)
    alarms = _service_statements(key)["cloudwatch"]
    assert sorted(alarms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert "aws:SourceAccount" in json.dumps(alarms["Condition"])


def test_every_service_principal_statement_of_the_key_policy_is_conditioned(template_json):
    """A service principal acts for any account unless the statement names whose requests it
    allows (aws:SourceAccount / aws:SourceArn, or an encryption context of this account's
    resources): the confused-deputy conditions
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html). CDK's state machine
    logging adds delivery.logs without one; cdk_app/house/key_policy.py adds them."""
    _, key = _key(template_json)
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    services = [s for s in statements if isinstance(s.get("Principal"), dict) and "Service" in s["Principal"]]
    assert services
    for statement in services:
        keys = {k for block in statement.get("Condition", {}).values() for k in block}
        assert keys & {"aws:SourceAccount", "aws:SourceArn", "kms:EncryptionContext:aws:logs:arn",
                       "kms:ViaService", "kms:CallerAccount"}, statement
