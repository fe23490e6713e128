"""Least privilege, encryption and input validation, beyond the broad checks of test_security.py.

* per role, against the synthesized template: who may read the ingest bucket, connect to the
  database, start pipeline executions, write the staging area, invoke which endpoint;
* resource policies (bucket and key policies) grant no s3:* / kms:* beyond the account root;
* MSK and Aurora are encrypted in transit and at rest;
* no secret in a function's environment or in the code under functions/;
* every handler validates its event before it acts: a malformed event raises a validation
  error and no client is used.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Logical-id prefixes of the roles we reason about (CDK appends a hash).
ROLES = {
    "extract": "OrchestrationExtractRole",
    "scan": "OrchestrationScanRole",
    "generate": "OrchestrationGenerateRole",
    "embed": "OrchestrationEmbedRole",
    "store": "OrchestrationStoreRole",
    "record_failure": "OrchestrationRecordFailureRole",
    "forwarder": "StreamingForwarderRole",
    "dispatcher": "StreamingDispatcherRole",
    "reprocess": "BackfillBatchesReprocessBatchRole",  # backfill: re-runs objects through the pipeline
    "backfill_states": "BackfillBatchesStateMachineRole",
    "mwaa": "BackfillExecutionRole",  # Airflow: reconcile / backfill DAGs
    "migrate": "DatabaseMigrateFunctionRole",
    "search": "SearchRole",  # search function: reads results, embeds queries
    "relabel": "TaxonomyRelabelRole",  # relabels stored objects from their vectors
    "state_machine": "OrchestrationStateMachineRole",
}
INGEST, STAGING, FAILED = "StorageIngest", "StorageStaging", "StorageFailedItems"
PIPELINE_STATE_MACHINE = "OrchestrationStateMachine4"


def _refs(value: Any) -> str:
    """Every logical id and literal inside a resource expression, as one searchable string."""
    if isinstance(value, dict):
        return " ".join(_refs(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(_refs(v) for v in value)
    return str(value)


def _role_of(logical_id: str) -> str | None:
    for role, prefix in ROLES.items():
        if logical_id.startswith(prefix):
            return role
    return None


def grants(template_json: dict) -> Iterator[tuple[str, str, list[str], str]]:
    """(role logical id, effect, actions, resources as text) for every identity-policy statement."""
    resources = template_json["Resources"]
    for resource in resources.values():
        if resource["Type"] == "AWS::IAM::Policy":
            roles = [_refs(r) for r in resource["Properties"].get("Roles", [])]
            documents = [resource["Properties"]["PolicyDocument"]]
        elif resource["Type"] == "AWS::IAM::Role":
            continue  # inline policies handled below with their own role name
        else:
            continue
        for document in documents:
            for statement in document["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                for role in roles:
                    yield role, statement["Effect"], actions, _refs(statement.get("Resource", ""))
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    yield logical_id, statement["Effect"], actions, _refs(statement.get("Resource", ""))


def who(template_json: dict, action_pattern: str, resource_fragment: str = "") -> set[str]:
    """Roles (by our short names, or logical id when unknown) allowed an action matching the
    regex `action_pattern` on a resource whose expression mentions `resource_fragment`."""
    found = set()
    for role, effect, actions, resources in grants(template_json):
        if effect == "Allow" and any(re.fullmatch(action_pattern, a) for a in actions) and resource_fragment in resources:
            found.add(_role_of(role) or role)
    return found


# -- IAM, per role ------------------------------------------------------------------------
def test_among_the_pipeline_steps_only_extract_reads_the_ingest_bucket(template_json):
    readers = who(template_json, r"s3:GetObject.*", INGEST)
    # forwarder: HeadObject for the uploader's content type needs s3:GetObject;
    # reprocess and MWAA: the backfill reads what it re-runs.
    assert readers == {"extract", "forwarder", "reprocess", "mwaa"}


def test_only_the_database_users_may_connect_to_it(template_json):
    assert who(template_json, r"rds-db:connect") == {"extract", "store", "record_failure", "reprocess", "mwaa", "search",
                                                      "relabel"}
    # The admin/app secrets: the migration (creates the app user) and the RDS Proxy only.
    secret_readers = who(template_json, r"secretsmanager:GetSecretValue", "DatabaseA")
    assert secret_readers <= {"migrate", "DatabaseClusterProxyIAMRole4E3B1773"}
    assert "migrate" in secret_readers


def test_only_the_dispatcher_and_the_backfill_start_pipeline_executions(template_json):
    # and the pipeline's own role: its Distributed Map starts each long object's segments as
    # child executions of the same machine (step_functions/definition.py).
    assert who(template_json, r"states:StartExecution", PIPELINE_STATE_MACHINE) == {
        "dispatcher", "reprocess", "mwaa", "state_machine"}


def test_only_the_steps_that_stage_data_may_write_the_staging_area(template_json):
    writers = who(template_json, r"s3:PutObject", STAGING)
    assert writers == {"extract", "scan", "generate", "embed", "backfill_states"}
    assert "store" not in writers and "record_failure" not in writers


def test_only_extract_writes_the_ingest_bucket_and_only_under_the_attachments_prefix(template_json):
    from functions.common.constants import ATTACHMENTS_PREFIX

    # Given the synthesized template, when we list every Allow of a write action on the ingest bucket
    writes = [(role, actions, resources) for role, effect, actions, resources in grants(template_json)
              if effect == "Allow" and INGEST in resources
              and any(re.fullmatch(r"s3:(PutObject.*|DeleteObject.*|Abort.*)", a) for a in actions)]
    # Then extract is the only writer, and every one of its write statements is on attachments/* alone
    assert {_role_of(role) for role, _, _ in writes} == {"extract"}
    for _, actions, resources in writes:
        # (a statement may name several buckets' objects: CDK merges statements of equal actions)
        ingest = [r for r in resources.split("  ") if INGEST in r]
        assert ingest and all(r.rstrip().endswith(f"/{ATTACHMENTS_PREFIX}/*") for r in ingest), resources
        assert not any(a.startswith("s3:Delete") for a in actions), actions


def test_only_the_dispatcher_writes_the_failed_items_bucket(template_json):
    # (plus CDK's grant for the event source mapping's S3 on-failure destination, same role)
    assert who(template_json, r"s3:PutObject", FAILED) == {"dispatcher"}


def test_steps_without_model_calls_cannot_invoke_endpoints(template_json):
    assert who(template_json, r"sagemaker:InvokeEndpoint") == {"extract", "scan", "generate", "embed", "store", "search",
                                                                    "relabel"}


def test_each_step_may_invoke_only_the_endpoints_it_calls(template_json):
    needs = {"extract": {"Ocr", "Speech"}, "scan": {"Pii", "Moderation"}, "generate": {"Generation"}, "embed": {"ImageEmbedding", "TextEmbedding"},
             "search": {"ImageEmbedding", "TextEmbedding"}, "relabel": {"ImageEmbedding", "TextEmbedding"},
             "store": {"ImageEmbedding", "TextEmbedding"}}  # store: the taxonomy's label texts
    for step, roles in needs.items():
        allowed = set()
        for role, _effect, actions, resources in grants(template_json):
            if _role_of(role) == step and "sagemaker:InvokeEndpoint" in actions:
                allowed |= set(re.findall(r"\bModels(\w+?)Endpoint[0-9A-F]{8}\b", resources))
        assert allowed == roles, step


def test_no_role_is_granted_s3_or_kms_wildcards(template_json):
    for role, _effect, actions, _ in grants(template_json):
        assert not {"s3:*", "kms:*", "*"} & set(actions), role


def test_resource_policies_grant_no_wildcards_beyond_the_account_root(template_json):
    for name, resource in template_json["Resources"].items():
        if resource["Type"] == "AWS::S3::BucketPolicy":
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if "s3:*" in actions:
                    assert statement["Effect"] == "Deny", (name, statement)  # e.g. enforce TLS
        if resource["Type"] == "AWS::KMS::Key":
            for statement in resource["Properties"]["KeyPolicy"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if "kms:*" in actions:
                    # The default key policy: delegate to IAM in this account, nothing else.
                    assert _refs(statement["Principal"]).endswith(":root"), (name, statement)


# -- encryption ---------------------------------------------------------------------------
def test_msk_requires_iam_over_tls_and_is_encrypted_at_rest(template_json):
    resources = template_json["Resources"].values()
    serverless = [r for r in resources if r["Type"] == "AWS::MSK::ServerlessCluster"]
    provisioned = [r for r in resources if r["Type"] == "AWS::MSK::Cluster"]
    assert serverless or provisioned
    for cluster in serverless:
        # MSK Serverless has no plaintext listener and always encrypts storage; IAM auth is the
        # only client authentication it supports (https://docs.aws.amazon.com/msk/latest/developerguide/serverless.html).
        assert cluster["Properties"]["ClientAuthentication"]["Sasl"]["Iam"]["Enabled"] is True
    for cluster in provisioned:
        encryption = cluster["Properties"]["EncryptionInfo"]
        assert encryption["EncryptionInTransit"]["ClientBroker"] == "TLS"
        assert encryption["EncryptionInTransit"].get("InCluster", True) is True
        assert encryption["EncryptionAtRest"]["DataVolumeKMSKeyId"]


def test_aurora_is_encrypted_at_rest_and_refuses_plaintext_connections(template):
    clusters = template.find_resources("AWS::RDS::DBCluster")
    assert clusters
    groups = template.find_resources("AWS::RDS::DBClusterParameterGroup")
    for cluster in clusters.values():
        props = cluster["Properties"]
        assert props.get("StorageEncrypted") is True and props.get("KmsKeyId")
        assert props.get("EnableIAMDatabaseAuthentication") is True
        group = groups[props["DBClusterParameterGroupName"]["Ref"]]
        assert group["Properties"]["Parameters"].get("rds.force_ssl") in ("1", 1)
    for proxy in template.find_resources("AWS::RDS::DBProxy").values():
        assert proxy["Properties"]["RequireTLS"] is True
        assert all(auth["IAMAuth"] == "REQUIRED" for auth in proxy["Properties"]["Auth"])


# -- secrets ------------------------------------------------------------------------------
_SECRET_NAME = re.compile(r"(^|_)(PASSWORD|SECRET|TOKEN|PRIVATE_KEY|ACCESS_KEY|API_KEY)(_|$)", re.I)


def test_secret_looking_environment_variables_hold_only_references(template_json):
    for name, resource in template_json["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        for variable, value in resource["Properties"].get("Environment", {}).get("Variables", {}).items():
            if _SECRET_NAME.search(variable):
                assert variable.endswith("_ARN") and isinstance(value, dict), (name, variable, value)


_CREDENTIAL_PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key assignment": re.compile(r"aws_secret_access_key\s*[=:]\s*['\"][A-Za-z0-9/+=]{30,}['\"]", re.I),
    "private key": re.compile(r"-----BEGIN (RSA |EC |OPENSSH |)PRIVATE KEY-----"),
    "password literal": re.compile(r"\bpassword\s*[=:]\s*['\"][^'\"\s{}]{4,}['\"]", re.I),
    "credentials in a URL": re.compile(r"\b(postgres(ql)?|mysql|kafka|https?)://[^/\s:'\"]+:[^@/\s'\"]{3,}@"),
}


def test_no_hard_coded_credentials_in_the_function_code():
    files = [p for p in (ROOT / "functions").rglob("*") if p.suffix in (".py", ".json", ".txt", ".sql", ".cfg", ".ini")]
    assert len(files) > 20
    findings = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for what, pattern in _CREDENTIAL_PATTERNS.items():
            for match in pattern.finditer(text):
                findings.append(f"{path.relative_to(ROOT)}: {what}: {match.group(0)[:60]}")
    assert findings == []


def test_the_credential_scan_would_catch_a_planted_secret():
    planted = 'key = "AKIAABCDEFGHIJKLMNOP"\npassword = "hunter22"\nurl = "postgres://app:s3cret@db/x"\n'
    hits = {what for what, pattern in _CREDENTIAL_PATTERNS.items() if pattern.search(planted)}
    assert hits == {"AWS access key id", "password literal", "credentials in a URL"}


# -- handlers validate before they act ----------------------------------------------------
def _stub_per_container(module, monkeypatch, used) -> int:
    """Every PerContainer of the handler module hands out `used` (a MagicMock that records any
    call): whatever the handler would make per container. Returns how many it stubbed."""
    from functions.common.lazy import PerContainer

    found = [value for value in vars(module).values() if isinstance(value, PerContainer)]
    for holder in found:
        monkeypatch.setattr(holder, "get", lambda _used=used: _used)
    return len(found)
MALFORMED = {
    "extract": {"object": {"bucket": "b", "key": "", "size": -1, "modality": "sculpture"}, "pipeline_version": 3},
    "generate": {"object": {"bucket": "ingest", "key": "k"}, "step": "extract"},
    "embed": {"pipeline_version": "v1", "step": "compress", "manifest": "s3://nope"},
    "store": {"object": None, "manifest": {"bucket": "b"}},
    "record_failure": {"object": {"bucket": "b", "key": "k", "size": 1, "modality": "text"},
                       "pipeline_version": "v1", "failed_step": "anywhere", "error": {}},
    "dispatcher": {"eventSource": "aws:sqs", "records": "not a mapping"},
    # (a record without eventName or s3.object makes Powertools' S3Model pre-validator raise
    # TypeError / InvalidModelTypeError instead of ValidationError: still before any call)
    "forwarder": {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                               "s3": {"bucket": {"name": 5}, "object": {"key": "k", "size": "big", "eTag": "e"}}}]},
}


@pytest.mark.parametrize("function", sorted(MALFORMED))
def test_handler_rejects_a_malformed_event_before_touching_anything(function, monkeypatch):
    from pydantic import ValidationError

    from local.lambda_dispatch import FakeLambdaContext

    monkeypatch.setenv("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:x")
    monkeypatch.setenv("FAILED_BUCKET", "failed")
    monkeypatch.setenv("PIPELINE_VERSION", "v1")
    monkeypatch.setenv("KAFKA_TOPIC", "object-events")
    module = importlib.import_module(f"functions.{function}.handler")
    used = mock.MagicMock(name=f"{function} clients")
    assert _stub_per_container(module, monkeypatch, used)
    from functions.processing.steps.context import Context

    monkeypatch.setattr(Context, "from_env", classmethod(lambda cls, *a, **k: used))

    with pytest.raises(ValidationError):
        module.lambda_handler(MALFORMED[function], FakeLambdaContext(function_name=function))

    assert used.mock_calls == [], used.mock_calls  # no S3, Step Functions, Kafka, model or database call


@pytest.mark.parametrize("function", ["migrate", "kafka_topic"])
def test_custom_resource_handler_rejects_a_malformed_event_before_touching_anything(function, monkeypatch):
    from pydantic import ValidationError

    from local.lambda_dispatch import FakeLambdaContext

    module = importlib.import_module(f"functions.{function}.handler")
    used = mock.MagicMock(name=f"{function} clients")
    _stub_per_container(module, monkeypatch, used)
    if hasattr(module, "KafkaAdminClient"):
        monkeypatch.setattr(module, "KafkaAdminClient", used)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:1")

    with pytest.raises(ValidationError):
        module.lambda_handler({"RequestType": "Create", "ResourceProperties": "garbage"},
                              FakeLambdaContext(function_name=function))
    assert used.mock_calls == []
