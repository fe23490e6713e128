"""Kafka -> ESM-like consumer -> dispatcher -> moto Step Functions (executing the real ASL)."""
from __future__ import annotations

import json
import re

from kafka import KafkaProducer

from functions.common.events import ObjectRef
from functions.dispatcher.handler import lambda_handler as dispatch_handler
from functions.forwarder.handler import lambda_handler as forward
from functions.streaming.kafka_config import client_config
from local import FakeLambdaContext, KafkaEventSourceMapping, setup_pipeline

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
FAST_STEPS = {"extract": _passthrough("extract"), "generate": _passthrough("generate"), "embed": _passthrough("embed"),
              "store": _store, "record_failure": _record_failure}


class Recorder:
    """The dispatcher handler, remembering each batch it was given (to redeliver one)."""

    def __init__(self):
        self.events = []

    def __call__(self, event, context):
        self.events.append(event)
        return dispatch_handler(event, context)


def _esm(bootstrap, topic, handler):
    return KafkaEventSourceMapping(bootstrap, topic, handler, group_id=f"esm-{topic}", batch_size=100,
                                   max_wait_ms=300, api_version="2.3")


def test_batches_start_named_executions_and_a_redelivered_batch_starts_none(kafka_env, topic, aws, dispatcher_env, load_event, wait_for_executions):
    arn = setup_pipeline(aws, handlers=FAST_STEPS)
    dispatcher_env(arn)
    forward(load_event("s3_mixed_records.json"), FakeLambdaContext("pipeline-forwarder"))

    recorder = Recorder()
    esm = _esm(kafka_env, topic, recorder)
    try:
        stats = esm.drain(idle_s=1.5, timeout_s=40)
    finally:
        esm.stop()
    assert stats.records == 4 and stats.failures == 0
    started = [name for result in stats.results for name in result["started"]]
    sfn = aws.client("stepfunctions")
    executions = wait_for_executions(sfn, arn)
    assert sorted(e["name"] for e in executions) == sorted(started)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name) for name in started)
    assert all(e["status"] == "SUCCEEDED" for e in executions)
    inputs = [json.loads(e["input"]) for e in executions]
    assert sum(len(i["image"]) + len(i["video"]) + len(i["document"]) + len(i["unsupported"]) for i in inputs) == 4

    again = dispatch_handler(recorder.events[0], FakeLambdaContext("pipeline-dispatcher"))
    assert again["started"] == [] and again["already_started"]
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

    esm = _esm(kafka_env, topic, dispatch_handler)
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

    esm = _esm(kafka_env, topic, flaky)
    try:
        stats = esm.drain(idle_s=1.5, timeout_s=40)
    finally:
        esm.stop()
    assert stats.failures == 1 and stats.batches == 1
    assert calls[0]["records"] == calls[1]["records"]  # the same records came again
    assert len(wait_for_executions(aws.client("stepfunctions"), arn)) == 1
