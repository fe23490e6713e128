"""Dispatcher logic with fake clients: poison parking, idempotent starts, retryable errors handed
back to the event source mapping as batch item failures (and planned the same on their retry)."""
from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError

from functions.common.events import ObjectRef
from functions.streaming.dispatch import DispatchConfigError, dispatch
from functions.streaming.executions import MAX_OBJECTS_PER_EXECUTION, plan_executions
from functions.streaming.msk_batch import decode_batch

TOPIC = "pipeline-objects"


def _client_error(code, status=400, op="StartExecution"):
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, op)


class FakeSfn:
    """Step Functions: `fail_with` answers every call with an error; `fail_calls` {call number:
    (error, reached)} answers one call with it, after starting the execution if `reached`."""

    def __init__(self, fail_with=None, fail_calls=None):
        self.started: dict[str, str] = {}
        self.fail_with = fail_with
        self.fail_calls = fail_calls or {}
        self.calls = 0

    def start_execution(self, stateMachineArn, name, input):
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        if name in self.started:
            raise _client_error("ExecutionAlreadyExists")
        error, reached = self.fail_calls.get(self.calls, (None, False))
        if error is not None and not reached:
            raise error
        self.started[name] = input
        if error is not None:
            raise error
        return {"executionArn": f"{stateMachineArn}:{name}"}


class FakeS3:
    def __init__(self, fail_keys=None):
        self.objects: dict[tuple[str, str], bytes] = {}
        self.fail_keys = fail_keys or {}

    def put_object(self, Bucket, Key, Body, ContentType):
        if Key in self.fail_keys:
            raise self.fail_keys[Key]
        self.objects[(Bucket, Key)] = Body


def _run(event, sfn, s3=None):
    return dispatch(event, sfn=sfn, s3=s3 or FakeS3(), state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:p",
                    failed_bucket="failed-bkt", pipeline_version="v1")


def _batch_of(objects: int, partition: int = 0) -> dict:
    """An MSK batch of `objects` distinct text objects on one partition, offsets 0.. ."""
    records = []
    for offset in range(objects):
        ref = ObjectRef(bucket="test-ingest-bucket", key=f"notes/{offset:04d}.txt", version_id="v1", size=1, modality="text")
        records.append({"topic": TOPIC, "partition": partition, "offset": offset, "timestamp": 1795687000000 + offset,
                        "timestampType": "CREATE_TIME", "key": base64.b64encode(ref.key.encode()).decode(),
                        "value": base64.b64encode(ref.model_dump_json().encode()).decode(), "headers": []})
    return {"eventSource": "aws:kafka", "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/c/u-1",
            "bootstrapServers": "b-1:9098", "records": {f"{TOPIC}-{partition}": records}}


def _only(event: dict, failures: list[dict]) -> dict:
    """The batch the mapping sends next: only the records the function reported."""
    wanted = {(f["itemIdentifier"]["partition"], f["itemIdentifier"]["offset"]) for f in failures}
    records = {group: [r for r in recs if (group, r["offset"]) in wanted] for group, recs in event["records"].items()}
    return {**event, "records": {group: recs for group, recs in records.items() if recs}}


def _identifiers(result) -> list[tuple[str, int]]:
    return [(f["itemIdentifier"]["partition"], f["itemIdentifier"]["offset"]) for f in result.batch_item_failures()]


def test_redelivered_batch_starts_nothing_new(load_event):
    sfn = FakeSfn()
    first = _run(load_event("msk_batch.json"), sfn)
    again = _run(load_event("msk_batch.json"), sfn)
    assert len(first.started) == 1 and first.already_started == []
    assert again.started == [] and again.already_started == first.started
    assert json.loads(sfn.started[first.started[0]])["batch_id"] == first.started[0]
    assert first.batch_item_failures() == [] and again.batch_item_failures() == []


def test_poison_is_parked_with_its_reason_and_the_rest_is_started(load_event):
    sfn, s3 = FakeSfn(), FakeS3()
    result = _run(load_event("msk_batch_with_poison.json"), sfn, s3)
    assert sorted(result.poison) == [f"s3://failed-bkt/failed/kafka/pipeline-objects/1/{o}.json" for o in (40, 41, 42)]
    parked = json.loads(s3.objects[("failed-bkt", "failed/kafka/pipeline-objects/1/40.json")])
    assert parked["reason"].startswith("value is not JSON") and parked["record"]["offset"] == 40
    assert len(result.started) == 1 and result.objects == 4
    assert result.batch_item_failures() == []  # parked poison is never retried


@pytest.mark.parametrize("error", [_client_error("ThrottlingException"), _client_error("InternalFailure", status=500)])
def test_a_retryable_start_error_hands_every_record_of_the_execution_back(load_event, error):
    event = load_event("msk_batch.json")
    result = _run(event, FakeSfn(error))
    every = sorted((group, r["offset"]) for group, recs in event["records"].items() for r in recs)
    assert result.started == [] and result.retry_reason
    assert _identifiers(result) == every
    assert all(isinstance(f["itemIdentifier"]["offset"], int) for f in result.batch_item_failures())


def test_a_throttled_execution_hands_back_its_records_and_later_ones_only():
    event = _batch_of(2 * MAX_OBJECTS_PER_EXECUTION + 50)  # three executions: full, full, 50 objects
    sfn = FakeSfn(fail_calls={2: (_client_error("ThrottlingException"), False)})
    result = _run(event, sfn)
    assert len(result.started) == 1 and sfn.calls == 2  # the third was not attempted
    assert _identifiers(result) == [(f"{TOPIC}-0", o) for o in range(MAX_OBJECTS_PER_EXECUTION, 2 * MAX_OBJECTS_PER_EXECUTION + 50)]


def test_a_partial_retry_plans_the_same_execution_names_and_starts_nothing_twice():
    event = _batch_of(2 * MAX_OBJECTS_PER_EXECUTION + 50)
    planned = [p.name for p in plan_executions(decode_batch(event).records, "v1")]
    # The second StartExecution reaches Step Functions, but its answer is a 500.
    sfn = FakeSfn(fail_calls={2: (_client_error("InternalFailure", status=500), True)})
    first = _run(event, sfn)
    assert first.started == planned[:1] and first.batch_item_failures()

    retry = _run(_only(event, first.batch_item_failures()), sfn)
    assert retry.already_started == planned[1:2] and retry.started == planned[2:]
    assert retry.batch_item_failures() == []
    assert sorted(sfn.started) == sorted(planned)


def test_a_poison_record_whose_parking_is_throttled_is_handed_back_alone(load_event):
    s3 = FakeS3(fail_keys={"failed/kafka/pipeline-objects/1/41.json": _client_error("SlowDown", status=503, op="PutObject")})
    result = _run(load_event("msk_batch_with_poison.json"), FakeSfn(), s3)
    assert _identifiers(result) == [("pipeline-objects-1", 41)]
    assert sorted(result.poison) == [f"s3://failed-bkt/failed/kafka/pipeline-objects/1/{o}.json" for o in (40, 42)]
    assert len(result.started) == 1


def test_misconfiguration_raises_a_distinct_error(load_event):
    with pytest.raises(DispatchConfigError):
        _run(load_event("msk_batch.json"), FakeSfn(_client_error("StateMachineDoesNotExist")))


def test_a_batch_of_only_poison_starts_no_execution(load_event):
    event = load_event("msk_batch_with_poison.json")
    event["records"] = {"pipeline-objects-1": event["records"]["pipeline-objects-1"]}
    sfn = FakeSfn()
    result = _run(event, sfn)
    assert result.started == [] and len(result.poison) == 3 and sfn.started == {}


def test_the_handler_returns_only_the_documented_partial_batch_response(load_event, monkeypatch):
    import functions.dispatcher.handler as handler
    from functions.common.constants import ENV_FAILED_BUCKET, ENV_PIPELINE_VERSION, ENV_STATE_MACHINE_ARN
    from functions.common.lazy import PerContainer
    from local.lambda_dispatch import FakeLambdaContext

    monkeypatch.setenv(ENV_STATE_MACHINE_ARN, "arn:aws:states:us-east-1:123456789012:stateMachine:p")
    monkeypatch.setenv(ENV_FAILED_BUCKET, "failed-bkt")
    monkeypatch.setenv(ENV_PIPELINE_VERSION, "v1")
    monkeypatch.setattr(handler, "step_functions", PerContainer(lambda: FakeSfn(_client_error("ThrottlingException"))))
    monkeypatch.setattr(handler, "s3", PerContainer(FakeS3))
    event = load_event("msk_batch.json")

    response = handler.lambda_handler(event, FakeLambdaContext("pipeline-dispatcher"))

    every = sorted((group, r["offset"]) for group, recs in event["records"].items() for r in recs)
    assert list(response) == ["batchItemFailures"]
    assert [(f["itemIdentifier"]["partition"], f["itemIdentifier"]["offset"]) for f in response["batchItemFailures"]] == every
