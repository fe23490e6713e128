"""Each role may use the customer-managed key for every call it makes on encrypted data, through
its own policies or the key policy, and no role relies on a grant made for something else.

The calls and what KMS needs for them:
* StartExecution on a state machine encrypted with a customer-managed key: kms:GenerateDataKey
  (the input is encrypted); DescribeExecution / GetExecutionHistory: kms:Decrypt
  https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html
* S3 GetObject on SSE-KMS objects: kms:Decrypt; PutObject: kms:GenerateDataKey
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
* SQS SendMessage to an SSE-KMS queue (the forwarder's async-invocation DLQ, sent with the
  function's role): kms:GenerateDataKey and kms:Decrypt
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html
* Secrets Manager GetSecretValue on a secret encrypted with our key: kms:Decrypt
  https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
"""
from __future__ import annotations

import fnmatch
import json

import pytest

GENERATE, DECRYPT = "kms:GenerateDataKey", "kms:Decrypt"

# Role logical-id prefix -> the KMS actions its calls need on the pipeline key, and why.
ROLE_NEEDS: dict[str, tuple[set[str], str]] = {
    "StreamingDispatcherRole": ({GENERATE}, "StartExecution on the pipeline; PutObject of poison records"),
    "StreamingForwarderRole": ({GENERATE, DECRYPT}, "SendMessage to its encrypted DLQ; PutObject to the failed bucket"),
    "OrchestrationExtractRole": ({GENERATE, DECRYPT}, "GetObject of uploads; PutObject to staging and of "
                                                     "e-mail attachments to the ingest bucket's attachments/"),
    "OrchestrationGenerateRole": ({GENERATE, DECRYPT}, "GetObject/PutObject in staging"),
    "OrchestrationEmbedRole": ({GENERATE, DECRYPT}, "GetObject/PutObject in staging"),
    "OrchestrationStoreRole": ({DECRYPT}, "GetObject in staging"),
    "OrchestrationStateMachineRole": ({GENERATE, DECRYPT}, "its own encrypted executions"),
    "BackfillBatchesReprocessBatchRole": ({GENERATE}, "StartExecution on the pipeline"),
    "BackfillBatchesStateMachineRole": ({GENERATE, DECRYPT}, "its own executions and children; ResultWriter PutObject"),
    "BackfillExecutionRole": ({GENERATE, DECRYPT}, "MWAA: StartExecution and DescribeExecution on both machines, "
                                                   "results and connection secret reads"),
    "DatabaseMigrateFunctionRole": ({DECRYPT}, "GetSecretValue of the admin and app secrets"),
    "DatabaseClusterProxyIAMRole": ({DECRYPT}, "GetSecretValue of the database secrets"),
    "ModelsTextEmbeddingExecutionRole": ({DECRYPT}, "GetObject of staged inputs"),
    "ModelsImageEmbeddingExecutionRole": ({DECRYPT}, "GetObject of staged inputs"),
    "ModelsGenerationExecutionRole": ({DECRYPT}, "GetObject of staged inputs"),
    "ModelsSpeechExecutionRole": ({DECRYPT}, "GetObject of staged inputs"),
    "ModelsOcrExecutionRole": ({DECRYPT}, "GetObject of staged inputs"),
}


def _key(template_json: dict) -> str:
    [name] = [k for k, v in template_json["Resources"].items() if v["Type"] == "AWS::KMS::Key"]
    return name


def _actions(statement: dict) -> list[str]:
    action = statement.get("Action", [])
    return action if isinstance(action, list) else [action]


def _allows(statements: list[dict], needed: str) -> list[dict]:
    return [s for s in statements if s.get("Effect") == "Allow" and any(fnmatch.fnmatch(needed, a) for a in _actions(s))]


def _grants_for(template_json: dict, role: str) -> list[dict]:
    """Statements allowing `role` to use the key: its own policies (resource = the key or "*") and
    the key policy statements naming it."""
    resources = template_json["Resources"]
    key = _key(template_json)
    found = []
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role} not in resource["Properties"].get("Roles", []):
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            target = json.dumps(statement.get("Resource"))
            if f'["{key}", "Arn"]' in target or statement.get("Resource") == "*":
                found.append(statement)
    for statement in resources[key]["Properties"]["KeyPolicy"]["Statement"]:
        if f'["{role}", "Arn"]' in json.dumps(statement.get("Principal", {})):
            found.append(statement)
    return found


def _role(template_json: dict, prefix: str) -> str:
    matches = [k for k, v in template_json["Resources"].items() if v["Type"] == "AWS::IAM::Role" and k.startswith(prefix)]
    assert len(matches) == 1, (prefix, matches)
    return matches[0]


@pytest.mark.parametrize("prefix", sorted(ROLE_NEEDS))
def test_role_may_use_the_key_for_every_call_it_makes(template_json, prefix):
    needed, calls = ROLE_NEEDS[prefix]
    grants = _grants_for(template_json, _role(template_json, prefix))
    missing = {action for action in needed if not _allows(grants, action)}
    assert not missing, f"{prefix} calls {calls} but may not {sorted(missing)}"


def test_start_execution_carries_its_own_key_grant(template_json):
    """Every role that may start a pipeline or backfill execution is granted kms:GenerateDataKey
    for that purpose (encryption context of a state machine of ours), not through a bucket grant."""
    resources = template_json["Resources"]
    for name, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        statements = resource["Properties"]["PolicyDocument"]["Statement"]
        if not _allows(statements, "states:StartExecution"):
            continue
        dedicated = [s for s in _allows(statements, GENERATE)
                     if "aws:states:stateMachineArn" in json.dumps(s.get("Condition", {}))]
        assert dedicated, f"{name} may start executions without a key grant for them"
