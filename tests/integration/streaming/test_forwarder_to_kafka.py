"""forwarder -> Kafka (librdkafka mock broker): messages read back over the Kafka protocol."""
from __future__ import annotations

import time

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from functions.common.events import ObjectRef
from functions.forwarder.handler import lambda_handler as forward
from functions.streaming.kafka_config import client_config
from functions.streaming.messages import decode_value
from local import FakeLambdaContext


def _read_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0):
    # Reads every partition from the start without a consumer group: a group join can assign
    # nothing when the leader's metadata lacks the topic, and reading back needs no group.
    consumer = KafkaConsumer(**client_config(bootstrap, auth="none", api_version="2.3"))
    got = []
    deadline = time.monotonic() + timeout_s
    try:
        while not (ids := consumer.partitions_for_topic(topic)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ids, f"no partition metadata for {topic}"
        partitions = [TopicPartition(topic, p) for p in ids]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        while len(got) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(records)
    finally:
        consumer.close()
    return got


def test_each_created_object_becomes_one_message_keyed_by_bucket_and_key(kafka_env, topic, aws, load_event):
    result = forward(load_event("s3_mixed_records.json"), FakeLambdaContext("pipeline-forwarder"))
    assert result == {"forwarded": 4, "skipped": 2}

    records = _read_all(kafka_env, topic, expected=4)
    refs = {r.key.decode(): decode_value(r.value) for r in records}
    assert set(refs) == {
        "test-ingest-bucket/photos/my photoé.jpg",
        "test-ingest-bucket/videos/clip 2026+1.mp4",
        "test-ingest-bucket/docs/empty.pdf",
        "test-ingest-bucket/misc/archive.xyz",
    }
    assert all(isinstance(ref, ObjectRef) for ref in refs.values())
    assert refs["test-ingest-bucket/docs/empty.pdf"].size == 0  # forwarded; extract records why it fails
    assert refs["test-ingest-bucket/misc/archive.xyz"].modality == "unsupported"


def test_versions_of_one_object_share_a_partition_in_upload_order(kafka_env, topic, aws, load_event):
    event = load_event("s3_object_created.json")
    for n, version in enumerate(("v1", "v2", "v3")):
        event["Records"][0]["s3"]["object"]["versionId"] = version
        event["Records"][0]["s3"]["object"]["sequencer"] = f"0055AED6DCD90281F{n}"
        forward(event, FakeLambdaContext("pipeline-forwarder"))

    records = _read_all(kafka_env, topic, expected=3)
    assert len({r.partition for r in records}) == 1
    assert [decode_value(r.value).version_id for r in sorted(records, key=lambda r: r.offset)] == ["v1", "v2", "v3"]


def test_content_type_from_s3_classifies_an_extensionless_object(kafka_env, topic, aws, load_event):
    aws.client("s3").put_object(Bucket="test-ingest-bucket", Key="inbox/scan", Body=b"%PDF-1.7", ContentType="application/pdf")
    event = load_event("s3_object_created.json")
    event["Records"][0]["s3"]["object"].update(key="inbox/scan", versionId="null")
    forward(event, FakeLambdaContext("pipeline-forwarder"))
    [record] = _read_all(kafka_env, topic, expected=1)
    ref = decode_value(record.value)
    assert ref.modality == "document" and ref.content_type == "application/pdf"
