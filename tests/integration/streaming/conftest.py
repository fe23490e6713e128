"""Stand-ins for the streaming tests: the librdkafka mock broker and moto in server mode.

Both speak the real protocols (Kafka wire protocol, AWS HTTP APIs); boto3 in the handlers
reaches moto through AWS_ENDPOINT_URL, as in the local run.
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from functions.common.constants import (
    ENV_AWS_ENDPOINT_URL,
    ENV_FAILED_BUCKET,
    ENV_KAFKA_API_VERSION,
    ENV_KAFKA_AUTH,
    ENV_KAFKA_BOOTSTRAP,
    ENV_KAFKA_TOPIC,
    ENV_PIPELINE_VERSION,
    ENV_STATE_MACHINE_ARN,
)
from local import LOCAL_KAFKA_API_VERSION, MockKafkaCluster, MotoServer

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
PIPELINE_VERSION = "v-test"
FAILED_BUCKET = "test-failed-bucket"
INGEST_BUCKET = "test-ingest-bucket"
PARTITIONS = 4


@pytest.fixture
def load_event():
    def _load(name: str) -> dict:
        return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))

    return _load


@pytest.fixture(scope="session")
def kafka_cluster():
    with MockKafkaCluster() as cluster:
        yield cluster


@pytest.fixture
def topic(kafka_cluster) -> str:
    name = f"objects-{uuid.uuid4().hex[:8]}"
    kafka_cluster.create_topic(name, partitions=PARTITIONS)
    return name


@pytest.fixture
def kafka_env(kafka_cluster, topic, monkeypatch):
    """Forwarder settings for the local broker; a fresh producer for this test."""
    import functions.forwarder.handler as forwarder

    monkeypatch.setenv(ENV_KAFKA_BOOTSTRAP, kafka_cluster.bootstrap_servers)
    monkeypatch.setenv(ENV_KAFKA_TOPIC, topic)
    monkeypatch.setenv(ENV_KAFKA_AUTH, "none")
    monkeypatch.setenv(ENV_KAFKA_API_VERSION, LOCAL_KAFKA_API_VERSION)
    forwarder.producer.clear()
    forwarder.s3.clear()
    yield kafka_cluster.bootstrap_servers
    producer = forwarder.producer.clear()
    if producer is not None:
        producer.close(timeout=5)
    forwarder.s3.clear()


@pytest.fixture(scope="session")
def moto_server():
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws(moto_server, monkeypatch):
    """A clean moto with the ingest and failed buckets; boto3 everywhere points at it."""
    moto_server.reset()
    monkeypatch.setenv(ENV_AWS_ENDPOINT_URL, moto_server.endpoint_url)
    s3 = moto_server.client("s3")
    for bucket in (INGEST_BUCKET, FAILED_BUCKET):
        s3.create_bucket(Bucket=bucket)
    return moto_server


@pytest.fixture
def dispatcher_env(aws, monkeypatch):
    import functions.dispatcher.handler as dispatcher

    monkeypatch.setenv(ENV_FAILED_BUCKET, FAILED_BUCKET)
    monkeypatch.setenv(ENV_PIPELINE_VERSION, PIPELINE_VERSION)
    dispatcher.step_functions.clear()  # made inside this test's moto
    dispatcher.s3.clear()

    def with_state_machine(arn: str) -> None:
        monkeypatch.setenv(ENV_STATE_MACHINE_ARN, arn)

    return with_state_machine


@pytest.fixture
def wait_for_executions():
    """wait(sfn, arn): describe every execution once none is RUNNING."""
    return _wait_for_executions


def _wait_for_executions(sfn, state_machine_arn: str, timeout_s: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        executions = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
        if all(e["status"] != "RUNNING" for e in executions):
            return [sfn.describe_execution(executionArn=e["executionArn"]) for e in executions]
        if time.monotonic() > deadline:
            raise TimeoutError(f"executions still running: {[e['name'] for e in executions if e['status'] == 'RUNNING']}")
        time.sleep(0.2)
