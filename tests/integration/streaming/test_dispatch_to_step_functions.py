"""Kafka -> the event source mapping stand-in (with the deployed mapping's error handling) ->
dispatcher -> moto Step Functions (executing the real ASL)."""
from __future__ import annotations

import json
import re

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from kafka import KafkaProducer

import functions.dispatcher.handler as dispatcher_module
from functions.common.events import ObjectRef
from functions.common.lazy import PerContainer
from functions.dispatcher.handler import lambda_handler as dispatch_handler
from functions.forwarder.handler import lambda_handler as forward
from functions.streaming.kafka_config import client_config
from local import FakeLambdaContext, KafkaEventSourceMapping, setup_pipeline
from local.esm import S3OnFailureDestination
from local.run import esm_error_handling

FAILED_BUCKET = "test-failed-bucket"


def _passthrough(step):
    def handler(event, context):
        return {"object": event["object"], "pipeline_version": event["pipeline_version"], "step": step,
                "manifest": {"bucket": "staging", "key": f"{step}.json"}}
    return handler


def _store(event, context):
    obj = event["object"]
    return {"bucket": obj["bucket"], "key": obj["key"], "version_id": obj["version_id"], "modality": obj["modality"],
            "status": "succeeded"}


def _record_failure(event, context):
    obj = event["object"]
    return {"bucket": obj["bucket"], "key": obj["key"], "version_id": obj["version_id"], "modality": obj["modality"],
            "status": "failed", "reason": event["error"]["Error"]}


# Test-only handlers: this file is about the edge (names, idempotency, poison), not the steps.
FAST_STEPS = {"extract": _passthrough("extract"), "scan": _passthrough("scan"), "generate": _passthrough("generate"),
              "embed": _passthrough("embed"),
              "store": _store, "record_failure": _record_failure}


class Recorder:
    """The dispatcher handler, remembering each batch it was given (to redeliver one)."""

    def __init__(self):
        self.events = []

    def __call__(self, event, context):
        self.events.append(event)
        return dispatch_handler(event, context)


def _esm(bootstrap, topic, handler, aws):
    return KafkaEventSourceMapping(bootstrap, topic, handler, group_id=f"esm-{topic}", batch_size=100,
                                   max_wait_ms=300, api_version="2.3", retry_backoff_s=0.05,
                                   on_failure=S3OnFailureDestination(aws.client("s3"), FAILED_BUCKET),
                                   **esm_error_handling())


class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **_):
        yield self.data


def _throttling_sfn_client(times: int):
    """A Step Functions client whose first `times` StartExecution requests are answered, before they
    reach moto, the way Step Functions throttles (HTTP 400, ThrottlingException). botocore's own
    retries are off: the handler's would absorb short throttling, and this is about what comes
    after. Returns the client and the execution names that were throttled."""
    throttled: list[str] = []

    def gateway(request, **_):
        if len(throttled) >= times:
            return None
        throttled.append(json.loads(request.body)["name"])
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0",
                                              "x-amzn-RequestId": "throttled"}, _Body(body))

    client = boto3.client("stepfunctions", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    client.meta.events.register("before-send.sfn.StartExecution", gateway)
    return client, throttled


def test_batches_start_named_executions_and_a_redelivered_batch_starts_none(kafka_env, topic, aws, dispatcher_env, load_event, wait_for_executions):
    arn = setup_pipeline(aws, handlers=FAST_STEPS)
    dispatcher_env(arn)
    forward(load_event("s3_mixed_records.json"), FakeLambdaContext("pipeline-forwarder"))

    recorder = Recorder()
    esm = _esm(kafka_env, topic, recorder, aws)
    try:
        stats = esm.drain(idle_s=1.5, timeout_s=40)
    finally:
        esm.stop()
    assert stats.records == 4 and stats.failures == 0
    assert all(result == {"batchItemFailures": []} for result in stats.results)
    sfn = aws.client("stepfunctions")
    executions = wait_for_executions(sfn, arn)
    assert executions and all(re.fullmatch(r"[A-Za-z0-9_-]{1,80}", e["name"]) for e in executions)
    assert all(e["status"] == "SUCCEEDED" for e in executions)
    inputs = [json.loads(e["input"]) for e in executions]
    assert sum(len(i["image"]) + len(i["video"]) + len(i["document"]) + len(i["unsupported"]) for i in inputs) == 4

    again = dispatch_handler(recorder.events[0], FakeLambdaContext("pipeline-dispatcher"))
    assert again == {"batchItemFailures": []}
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == len(executions)


def test_a_poison_message_is_parked_and_the_rest_of_the_batch_goes_through(kafka_env, topic, aws, dispatcher_env, load_event, wait_for_executions):
    arn = setup_pipeline(aws, handlers=FAST_STEPS)
    dispatcher_env(arn)
    producer = KafkaProducer(**client_config(kafka_env, auth="none", api_version="2.3"))
    good = ObjectRef(bucket="test-ingest-bucket", key="notes/a.txt", version_id="v1", size=3, modality="text")
    sent = [producer.send(topic, key=b"test-ingest-bucket/notes/a.txt", value=good.model_dump_json().encode()),
            producer.send(topic, key=b"junk", value=b"{definitely not json")]
    producer.flush(10)
    poison_meta = sent[1].get(5)
    producer.close()

    esm = _esm(kafka_env, topic, dispatch_handler, aws)
    try:
        stats = esm.drain(idle_s=1.5, timeout_s=40)
    finally:
        esm.stop()
    assert stats.failures == 0, stats.last_error  # the partition was not blocked

    s3 = aws.client("s3")
    key = f"failed/kafka/{topic}/{poison_meta.partition}/{poison_meta.offset}.json"
    parked = json.loads(s3.get_object(Bucket=FAILED_BUCKET, Key=key)["Body"].read())
    assert parked["reason"].startswith("value is not JSON")
    [execution] = wait_for_executions(aws.client("stepfunctions"), arn)
    output = json.loads(execution["output"])
    assert execution["status"] == "SUCCEEDED"
    assert output["text"] == [{"bucket": "test-ingest-bucket", "key": "notes/a.txt", "version_id": "v1",
                               "modality": "text", "status": "succeeded"}]


def test_a_failing_dispatch_is_retried_until_it_succeeds(kafka_env, topic, aws, dispatcher_env, load_event, wait_for_executions):
    arn = setup_pipeline(aws, handlers=FAST_STEPS)
    dispatcher_env(arn)
    forward(load_event("s3_object_created.json"), FakeLambdaContext("pipeline-forwarder"))
    calls = []

    def flaky(event, context):
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("throttled")
        return dispatch_handler(event, context)

    esm = _esm(kafka_env, topic, flaky, aws)
    try:
        stats = esm.drain(idle_s=1.5, timeout_s=40)
    finally:
        esm.stop()
    assert stats.failures == 1 and stats.batches == 1
    assert calls[0]["records"] == calls[1]["records"]  # the same records came again
    assert len(wait_for_executions(aws.client("stepfunctions"), arn)) == 1


def test_a_throttled_start_is_retried_for_that_record_only_and_then_succeeds(kafka_env, topic, aws, dispatcher_env, wait_for_executions,
                                                                              monkeypatch):
    arn = setup_pipeline(aws, handlers=FAST_STEPS)
    dispatcher_env(arn)
    sfn, throttled = _throttling_sfn_client(times=1)
    monkeypatch.setattr(dispatcher_module, "step_functions", PerContainer(lambda: sfn))
    producer = KafkaProducer(**client_config(kafka_env, auth="none", api_version="2.3"))
    good = ObjectRef(bucket="test-ingest-bucket", key="notes/a.txt", version_id="v1", size=3, modality="text")
    sent = [producer.send(topic, partition=0, key=b"test-ingest-bucket/notes/a.txt", value=good.model_dump_json().encode()),
            producer.send(topic, partition=0, key=b"junk", value=b"{definitely not json")]
    producer.flush(10)
    good_offset, poison_offset = (future.get(5).offset for future in sent)
    producer.close()

    recorder = Recorder()
    esm = _esm(kafka_env, topic, recorder, aws)
    try:
        stats = esm.drain(idle_s=1.5, timeout_s=40)
    finally:
        esm.stop()

    delivered = [sorted(r["offset"] for recs in event["records"].values() for r in recs) for event in recorder.events]
    assert sum(offsets.count(good_offset) for offsets in delivered) == 2
    assert sum(offsets.count(poison_offset) for offsets in delivered) == 1  # parked, never retried
    # a poll may hand over the two records in one batch or in two; either way the retry
    # (the second delivery of the good record) carried that record alone
    retry = [offsets for offsets in delivered if good_offset in offsets][1]
    assert retry == [good_offset]
    assert {"itemIdentifier": {"partition": f"{topic}-0", "offset": good_offset}} in stats.results[0]["batchItemFailures"]
    assert stats.results[-1] == {"batchItemFailures": []} and stats.discarded == []
    [execution] = wait_for_executions(aws.client("stepfunctions"), arn)
    assert execution["name"] == throttled[0]  # the retry asked for the very same execution
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["text"][0]["key"] == "notes/a.txt"
