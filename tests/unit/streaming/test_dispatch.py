"""Dispatcher logic with fake clients: poison parking, idempotent starts, retryable errors."""
from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from functions.streaming.dispatch import DispatchConfigError, TransientDispatchError, dispatch


def _client_error(code, status=400, op="StartExecution"):
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, op)


class FakeSfn:
    def __init__(self, fail_with=None):
        self.started: dict[str, str] = {}
        self.fail_with = fail_with

    def start_execution(self, stateMachineArn, name, input):
        if self.fail_with is not None:
            raise self.fail_with
        if name in self.started:
            raise _client_error("ExecutionAlreadyExists")
        self.started[name] = input
        return {"executionArn": f"{stateMachineArn}:{name}"}


class FakeS3:
    def __init__(self):
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket, Key, Body, ContentType):
        self.objects[(Bucket, Key)] = Body


def _run(event, sfn, s3=None):
    return dispatch(event, sfn=sfn, s3=s3 or FakeS3(), state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:p",
                    failed_bucket="failed-bkt", pipeline_version="v1")


def test_redelivered_batch_starts_nothing_new(load_event):
    sfn = FakeSfn()
    first = _run(load_event("msk_batch.json"), sfn)
    again = _run(load_event("msk_batch.json"), sfn)
    assert len(first.started) == 1 and first.already_started == []
    assert again.started == [] and again.already_started == first.started
    assert json.loads(sfn.started[first.started[0]])["batch_id"] == first.started[0]


def test_poison_is_parked_with_its_reason_and_the_rest_is_started(load_event):
    sfn, s3 = FakeSfn(), FakeS3()
    result = _run(load_event("msk_batch_with_poison.json"), sfn, s3)
    assert sorted(result.poison) == [f"s3://failed-bkt/failed/kafka/pipeline-objects/1/{o}.json" for o in (40, 41, 42)]
    parked = json.loads(s3.objects[("failed-bkt", "failed/kafka/pipeline-objects/1/40.json")])
    assert parked["reason"].startswith("value is not JSON") and parked["record"]["offset"] == 40
    assert len(result.started) == 1 and result.objects == 4


def test_throttling_raises_so_the_esm_retries_the_batch(load_event):
    with pytest.raises(TransientDispatchError):
        _run(load_event("msk_batch.json"), FakeSfn(_client_error("ThrottlingException")))
    with pytest.raises(TransientDispatchError):
        _run(load_event("msk_batch.json"), FakeSfn(_client_error("InternalFailure", status=500)))


def test_misconfiguration_raises_a_distinct_error(load_event):
    with pytest.raises(DispatchConfigError):
        _run(load_event("msk_batch.json"), FakeSfn(_client_error("StateMachineDoesNotExist")))


def test_a_batch_of_only_poison_starts_no_execution(load_event):
    event = load_event("msk_batch_with_poison.json")
    event["records"] = {"pipeline-objects-1": event["records"]["pipeline-objects-1"]}
    sfn = FakeSfn()
    result = _run(event, sfn)
    assert result.started == [] and len(result.poison) == 3 and sfn.started == {}
