"""local.esm's KafkaEventSourceMapping, with the deployed mapping's error handling
(local.run.esm_error_handling), against what Lambda documents for Kafka event source mappings:
https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html (retries, maximum
record age, partial batch responses) and
https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html (the record written to an S3
on-failure destination; the documented example is tests/events/kafka_esm_on_failure_s3_record.json).

Over the librdkafka mock cluster and moto's S3; the function is a test handler that fails the
records it is told to, so each test is about the mapping alone.
"""
from __future__ import annotations

import base64
import json
import re
import time

from kafka import KafkaProducer
from kafka.structs import TopicPartition

from functions.streaming.kafka_config import client_config
from local import KafkaEventSourceMapping
from local.esm import S3OnFailureDestination
from local.run import esm_error_handling

FAILED_BUCKET = "test-failed-bucket"
DEPLOYED = esm_error_handling()
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> dict[bytes, int]:
    """Each value as one record on partition 0; returns value -> offset."""
    producer = KafkaProducer(**client_config(bootstrap, auth="none", api_version="2.3"))
    futures = {value: producer.send(topic, partition=0, key=value, value=value) for value in values}
    producer.flush(10)
    offsets = {value: future.get(5).offset for value, future in futures.items()}
    producer.close()
    return offsets


class Function:
    """A handler that reports the records whose value is in `failing(invocation number)` as batch
    item failures; remembers the values each invocation got."""

    def __init__(self, failing=lambda n: set(), respond=None, during=None):
        self.failing, self.respond, self.during = failing, respond, during
        self.invocations: list[list[bytes]] = []

    def __call__(self, event, context):
        records = [r for recs in event["records"].values() for r in recs]
        self.invocations.append([base64.b64decode(r["value"]) for r in records])
        n = len(self.invocations)
        if self.during:
            self.during(n)
        if self.respond:
            return self.respond(n, records)
        bad = self.failing(n)
        return {"batchItemFailures": [
            {"itemIdentifier": {"partition": f"{r['topic']}-{r['partition']}", "offset": r["offset"]}}
            for r in records if base64.b64decode(r["value"]) in bad
        ]}

    def deliveries(self, value: bytes) -> int:
        return sum(values.count(value) for values in self.invocations)


def _run(bootstrap, topic, function, aws, clock=time.time, **overrides):
    """Drain the topic through a mapping with the deployed settings (and `overrides`); returns the
    stats and the committed offset of partition 0."""
    esm = KafkaEventSourceMapping(
        bootstrap, topic, function, group_id=f"esm-{topic}", batch_size=100, max_wait_ms=300, api_version="2.3",
        retry_backoff_s=0.05, clock=clock, on_failure=S3OnFailureDestination(aws.client("s3"), FAILED_BUCKET),
        **{**DEPLOYED, **overrides},
    )
    try:
        # The drain handles every record produced before it, then stops after 1.5 s idle.
        stats = esm.drain(idle_s=1.5, timeout_s=60)
        committed = esm.consumer.committed(TopicPartition(topic, 0))
    finally:
        esm.stop()
    return stats, committed


def _destination_records(aws) -> list[dict]:
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(Bucket=FAILED_BUCKET, Prefix="aws/lambda/").get("Contents", [])
    return [json.loads(s3.get_object(Bucket=FAILED_BUCKET, Key=o["Key"])["Body"].read()) for o in listed]


def _payload_values(document: dict) -> list[bytes]:
    event = json.loads(document["payload"])
    return [base64.b64decode(r["value"]) for recs in event["records"].values() for r in recs]


def test_a_reported_record_is_retried_alone_and_then_succeeds(kafka_env, topic, aws):
    offsets = _produce(kafka_env, topic, [b"a", b"b", b"c"])
    function = Function(failing=lambda n: {b"b"} if function.deliveries(b"b") == 1 else set())

    stats, committed = _run(kafka_env, topic, function, aws)

    assert function.deliveries(b"a") == 1 and function.deliveries(b"c") == 1
    assert function.deliveries(b"b") == 2
    assert function.invocations[-1] == [b"b"]  # the retry carried the failed record alone
    assert stats.discarded == [] and _destination_records(aws) == []
    assert committed == max(offsets.values()) + 1


def test_a_record_that_keeps_failing_lands_in_the_destination_after_the_retry_attempts(kafka_env, topic, aws):
    offsets = _produce(kafka_env, topic, [b"a", b"b"])
    function = Function(failing=lambda n: {b"b"})
    retries = DEPLOYED["maximum_retry_attempts"]

    stats, committed = _run(kafka_env, topic, function, aws)

    assert function.deliveries(b"a") == 1
    assert function.deliveries(b"b") == 1 + retries
    [document] = _destination_records(aws)
    assert len(stats.discarded) == 1
    assert document["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert document["requestContext"]["approximateInvokeCount"] == 1 + retries
    assert document["KafkaBatchInfo"]["batchSize"] == 1
    [(partition, info)] = document["KafkaBatchInfo"]["recordsInfo"].items()
    assert partition == f"{topic}-0"
    assert info["firstRecordOffset"] == info["lastRecordOffset"] == str(offsets[b"b"])
    assert _payload_values(document) == [b"b"]
    assert committed == max(offsets.values()) + 1  # the partition moved on


def test_a_record_older_than_the_maximum_record_age_is_not_retried(kafka_env, topic, aws):
    offsets = _produce(kafka_env, topic, [b"a", b"b"])
    now = [time.time()]

    def a_day_passes(n):  # the invocation that fails "b" ends after its maximum age
        if b"b" in function.invocations[-1]:
            now[0] += DEPLOYED["maximum_record_age_s"] + 1

    function = Function(failing=lambda n: {b"b"}, during=a_day_passes)

    stats, committed = _run(kafka_env, topic, function, aws, clock=lambda: now[0])

    assert function.deliveries(b"b") == 1 and function.deliveries(b"a") == 1
    [document] = _destination_records(aws)
    assert document["requestContext"]["condition"] == "RecordAgeExceeded"
    assert document["requestContext"]["approximateInvokeCount"] == 1
    assert _payload_values(document) == [b"b"]
    assert committed == max(offsets.values()) + 1


def test_a_record_already_past_the_maximum_record_age_is_never_sent(kafka_env, topic, aws):
    _produce(kafka_env, topic, [b"old"])
    later = time.time() + DEPLOYED["maximum_record_age_s"] + 60
    function = Function()

    _run(kafka_env, topic, function, aws, clock=lambda: later)

    assert function.invocations == []
    [document] = _destination_records(aws)
    assert document["requestContext"]["condition"] == "RecordAgeExceeded"
    assert document["requestContext"]["approximateInvokeCount"] == 0 and document["responseContext"] is None


def test_an_identifier_that_is_not_in_the_batch_retries_the_whole_batch(kafka_env, topic, aws):
    _produce(kafka_env, topic, [b"a", b"b"])

    def respond(n, records):
        if n == 1:
            return {"batchItemFailures": [{"itemIdentifier": {"partition": f"{records[0]['topic']}-0", "offset": 999}}]}
        return {"batchItemFailures": []}

    function = Function(respond=respond)

    stats, _ = _run(kafka_env, topic, function, aws)

    # The first batch is invoked again whole; how many records one poll returns is the broker's
    # business, so later batches (if the records came in two) are not counted here.
    assert len(function.invocations) >= 2 and function.invocations[1] == function.invocations[0]
    assert sorted(r for batch in function.invocations[1:] for r in batch) == [b"a", b"b"]
    assert stats.discarded == []


def _shape(value):
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return type(value).__name__


def test_the_destination_record_has_the_documented_shape(kafka_env, topic, aws, load_event):
    documented = load_event("kafka_esm_on_failure_s3_record.json")
    _produce(kafka_env, topic, [b"b"])

    _run(kafka_env, topic, Function(failing=lambda n: {b"b"}), aws, maximum_retry_attempts=0)

    [written] = _destination_records(aws)
    shapes = []
    for document in (documented, written):
        info = document["KafkaBatchInfo"]["recordsInfo"]
        assert all(re.fullmatch(r".+-\d+", key) for key in info)  # "<topic>-<partition>"
        for entry in info.values():
            assert entry["firstRecordOffset"].isdigit() and entry["lastRecordOffset"].isdigit()
            assert ISO_MS.match(entry["firstRecordTimestamp"]) and ISO_MS.match(entry["lastRecordTimestamp"])
        assert ISO_MS.match(document["timestamp"])
        shape = _shape(document)
        shape["KafkaBatchInfo"]["recordsInfo"] = next(iter(shape["KafkaBatchInfo"]["recordsInfo"].values()))
        shapes.append(shape)
    assert shapes[1] == shapes[0]
    # S3 destinations carry the invocation's event as an escaped JSON string.
    assert json.loads(written["payload"])["eventSource"] == "aws:kafka"
