"""The backfill's batch Lambda (functions/reprocess_batch), one Distributed Map batch at a time.

moto cannot run a Distributed Map's ItemReader or ItemBatcher, so these tests hand the
handler each batch in the exact shape the Distributed Map passes it
(tests/events/reprocess_batch.json: {"Items": [listObjectsV2 items], "BatchInput": {...}}),
against moto S3 and Step Functions and the session's PostgreSQL (tests/conftest.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from functions.common.constants import ENV_STATE_MACHINE_ARN, MODALITIES, UNSUPPORTED

EVENT = Path(__file__).resolve().parents[2] / "events" / "reprocess_batch.json"
INGEST_BUCKET = json.loads(EVENT.read_text())["BatchInput"]["bucket"]  # the `ingest_bucket` fixture's
PIPELINE_VERSION = "2026.11.1"
STALE_KEYS = ["audio/replaced.wav", "docs/new.pdf", "notes/old.txt", "photos/failed.png"]


def FakeLambdaContext():  # noqa: N802 - stands in for the class
    from local.lambda_dispatch import FakeLambdaContext as LocalContext

    return LocalContext("reprocess-batch", memory_limit_in_mb=512)


class World:
    """The ingest bucket, pipeline.objects and a pipeline state machine in moto."""

    def __init__(self, s3, db, sfn):
        self.s3, self.db, self.sfn = s3, db, sfn
        self.state_machine_arn = sfn.create_state_machine(
            name="pipeline-stub", roleArn="arn:aws:iam::123456789012:role/stub", type="STANDARD",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        )["stateMachineArn"]

    def put(self, key: str, body: bytes = b"x") -> str:
        return self.s3.put_object(Bucket=INGEST_BUCKET, Key=key, Body=body)["VersionId"]

    def record(self, key: str, version_id: str, status: str, pipeline_version: str = PIPELINE_VERSION,
               modality: str = "image") -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO pipeline.objects (bucket, key, version_id, size, modality, pipeline_version, status)"
                " VALUES (%s, %s, %s, 1, %s, %s, %s)",
                (INGEST_BUCKET, key, version_id, modality, pipeline_version, status))

    def fail(self, key: str, version_id: str, error: str, modality: str = "image") -> None:
        """What the Map iteration's Catch does when a step raised `error` for this object version."""
        from functions.common.events import FailureInput
        from functions.processing.results.failures import record_failure

        record_failure(self.db, FailureInput.model_validate({
            "object": {"bucket": INGEST_BUCKET, "key": key, "version_id": version_id, "size": 1, "modality": modality},
            "pipeline_version": PIPELINE_VERSION, "failed_step": "extract", "error": {"Error": error, "Cause": "why"},
        }))

    def sent(self) -> dict[str, dict]:
        """{key: ObjectRef as dict} of every object in every started pipeline execution."""
        out = {}
        for execution in self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]:
            body = json.loads(self.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
            for modality in (*MODALITIES, UNSUPPORTED):
                out.update({ref["key"]: ref for ref in body.get(modality, [])})
        return out

    def executions(self) -> int:
        return len(self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"])


@pytest.fixture
def world(s3, ingest_bucket, db, monkeypatch):
    import boto3

    from functions.reprocess_batch import handler

    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    assert ingest_bucket == INGEST_BUCKET
    w = World(s3, db, sfn)
    monkeypatch.setenv(ENV_STATE_MACHINE_ARN, w.state_machine_arn)
    for clients in (handler.s3, handler.step_functions):
        clients.clear()  # clients made inside this test's moto
    yield w
    for clients in (handler.s3, handler.step_functions):
        clients.clear()
    handler._db.close()


@pytest.fixture
def mixed(world):
    """One up-to-date object, four stale ones (one per reason), one file we cannot process."""
    world.record("photos/fresh.jpg", world.put("photos/fresh.jpg"), "succeeded")
    world.record("photos/failed.png", world.put("photos/failed.png"), "failed")
    world.record("notes/old.txt", world.put("notes/old.txt"), "succeeded", pipeline_version="2026.10.0", modality="text")
    world.put("docs/new.pdf")
    world.record("audio/replaced.wav", world.put("audio/replaced.wav", b"v1"), "succeeded", modality="audio")
    world.put("audio/replaced.wav", b"v2")
    world.put("misc/README")
    return world


def _event(**batch_input) -> dict:
    event = json.loads(EVENT.read_text())
    event["BatchInput"].update(batch_input)
    return event


def _handle(event: dict) -> dict:
    from functions.reprocess_batch.handler import lambda_handler

    return lambda_handler(event, FakeLambdaContext())


def test_batch_sends_only_stale_objects_at_their_current_version(mixed):
    result = _handle(_event())

    sent = mixed.sent()
    assert sorted(sent) == STALE_KEYS
    current = mixed.s3.head_object(Bucket=INGEST_BUCKET, Key="audio/replaced.wav")["VersionId"]
    assert sent["audio/replaced.wav"]["version_id"] == current
    assert (result["listed"], result["selected"], result["up_to_date"], result["stale"], result["sent"]) == (6, 5, 1, 4, 4)
    assert result["executions_started"] == mixed.executions() == 1


def test_dry_run_counts_and_sends_nothing(mixed):
    result = _handle(_event(dry_run=True))

    assert mixed.executions() == 0
    assert (result["stale"], result["sent"], result["executions_planned"]) == (4, 0, 1)
    assert result["stale_by_modality"] == {"audio": 1, "document": 1, "text": 1, "image": 1}


def test_same_batch_twice_starts_nothing_new(mixed):
    _handle(_event())

    result = _handle(_event())  # a retried batch, or a re-run before the pipeline finished

    assert mixed.executions() == 1
    # StartExecution with a running execution's name and input returns that execution (AWS and
    # moto alike); a closed one answers ExecutionAlreadyExists. Either way nothing new starts.
    assert result["sent"] + result["already_sent"] == 4 and result["failed"] == 0


def test_batch_holds_back_a_corrupt_file_and_counts_it_by_error(mixed):
    version = mixed.s3.head_object(Bucket=INGEST_BUCKET, Key="photos/failed.png")["VersionId"]
    mixed.fail("photos/failed.png", version, "InvalidObjectError")

    result = _handle(_event())

    assert sorted(mixed.sent()) == [k for k in STALE_KEYS if k != "photos/failed.png"]
    assert (result["stale"], result["sent"], result["held_back"], result["up_to_date"]) == (3, 3, 1, 1)
    assert result["held_back_by_error"] == {"InvalidObjectError": 1}


def test_batch_sends_a_corrupt_file_when_the_run_includes_failed(mixed):
    version = mixed.s3.head_object(Bucket=INGEST_BUCKET, Key="photos/failed.png")["VersionId"]
    mixed.fail("photos/failed.png", version, "InvalidObjectError")

    result = _handle(_event(include_failed=True))

    assert sorted(mixed.sent()) == STALE_KEYS
    assert (result["held_back"], result["include_failed"]) == (0, True)


def test_object_that_failed_again_after_a_resend_is_sent_in_a_new_execution(mixed):
    _handle(_event())
    version = mixed.s3.head_object(Bucket=INGEST_BUCKET, Key="docs/new.pdf")["VersionId"]
    mixed.fail("docs/new.pdf", version, "ModelThrottledError", modality="document")  # retries ran out

    result = _handle(_event())  # the next night

    assert mixed.executions() == 2  # a closed execution's name would be refused: the new failure changes it
    assert result["sent"] == 4 and result["held_back"] == 0


def test_time_window_and_modalities_narrow_the_batch(mixed):
    event = _event(modalities=["image"])
    event["Items"][1]["LastModified"] = 1769904000  # photos/failed.png: 2026-02-01

    result = _handle(event | {"BatchInput": {**event["BatchInput"], "modified_since": "2026-01-15T00:00:00Z"}})

    assert sorted(mixed.sent()) == ["photos/failed.png"]
    assert (result["selected"], result["sent"]) == (1, 1)


def test_object_deleted_after_the_listing_is_counted_as_gone(mixed):
    mixed.s3.delete_object(Bucket=INGEST_BUCKET, Key="docs/new.pdf")  # a delete marker is now current

    result = _handle(_event())

    assert "docs/new.pdf" not in mixed.sent()
    assert result["gone"] == 1 and result["sent"] == 3


def test_whole_batch_costs_one_database_query(mixed):
    from functions.reprocess.batch import BatchEvent, process_batch
    from functions.reprocess_batch import handler

    queries = []

    def counting_query(sql, params):
        queries.append(params)
        return handler._query(sql, params)

    process_batch(BatchEvent.model_validate(_event(dry_run=True)), head=handler._head, query=counting_query,
                  start=handler._start)

    assert len(queries) == 1 and len(queries[0]["keys"]) == 5


def test_inventory_rows_with_version_ids_need_no_head_request(mixed):
    from functions.reprocess.batch import BatchEvent, process_batch
    from functions.reprocess_batch import handler

    # An inventory of all versions: CSV values arrive as strings, older versions with IsLatest "false".
    rows = [{"Bucket": INGEST_BUCKET, "Key": v["Key"], "VersionId": v["VersionId"],
             "IsLatest": str(v["IsLatest"]).lower(), "Size": str(v["Size"]),
             "LastModifiedDate": "2026-01-01T00:00:00.000Z"}
            for v in mixed.s3.list_object_versions(Bucket=INGEST_BUCKET)["Versions"]]
    event = BatchEvent.model_validate({"Items": rows, "BatchInput": _event(dry_run=True)["BatchInput"]})

    def no_head(bucket, key):
        raise AssertionError("HeadObject called for a row that has its version id")

    result = process_batch(event, head=no_head, query=handler._query, start=handler._start)

    assert result["stale"] == 4


def test_throttled_start_is_raised_for_the_state_machine_to_retry(mixed):
    from botocore.exceptions import ClientError

    from functions.reprocess.batch import BatchEvent, process_batch
    from functions.reprocess.send import RetryableSendError
    from functions.reprocess_batch import handler

    def throttled(name, body):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "StartExecution")

    with pytest.raises(RetryableSendError):
        process_batch(BatchEvent.model_validate(_event()), head=handler._head, query=handler._query, start=throttled)


def test_malformed_batch_is_rejected_before_any_work(world):
    with pytest.raises(ValidationError):
        _handle({"Items": [{"Size": 1}], "BatchInput": {"bucket": INGEST_BUCKET}})
    assert world.executions() == 0


def test_bad_run_parameters_name_the_field(world):
    with pytest.raises(ValueError, match="modified_since"):
        _handle(_event(modified_since="2026-02-01T00:00:00Z", modified_until="2026-01-01T00:00:00Z"))
