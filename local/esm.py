"""What the MSK event source mapping does, for the local run and the tests: poll, batch,
invoke, retry, discard to the on-failure destination, commit.

It follows what Lambda documents for Kafka event source mappings in provisioned mode (the
deployed mapping, cdk_app/streaming.py, has provisioned pollers):

* The event: records grouped by "<topic>-<partition>", base64 key/value, header values as
  byte lists. https://docs.aws.amazon.com/lambda/latest/dg/with-msk.html
* Error handling, https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html:
  - MaximumRetryAttempts: retries after the first invocation (0-10000, -1 infinite); with -1
    and an on-failure destination Lambda applies at most 10.
  - MaximumRecordAgeInSeconds: the maximum age of a record that Lambda sends to the function
    (60-604800, -1 infinite); an older record is not sent (so not retried either) and goes to
    the on-failure destination.
  - ReportBatchItemFailures: the function may return {"batchItemFailures": [{"itemIdentifier":
    {"partition": "<topic>-<partition>", "offset": <offset>}}]}; only those records are
    retried. An empty or null response means the whole batch succeeded; an identifier that is
    not in the invoked event fails the whole batch. Without the setting the response is ignored.
  - A function error (the handler raised) retries the whole batch.
* The on-failure destination, here an S3 bucket as deployed:
  https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html ("S3 destination example
  invocation record"): requestContext, responseContext, version, timestamp, KafkaBatchInfo
  (batchSize, eventSourceArn, bootstrapServers, payloadSize, recordsInfo per "<topic>-<partition>"
  with first/last offsets as strings and ISO timestamps) and `payload`, the invocation's event
  as an escaped JSON string. tests/events/kafka_esm_on_failure_s3_record.json is that example;
  tests/integration/streaming/test_event_source_mapping.py pins this stand-in to it.

Where the documentation is silent the stand-in says so: the condition written for records past
their maximum age ("RecordAgeExceeded", the value Lambda uses for stream sources; the Kafka page
lists only RetryAttemptsExhausted and MaximumPayloadSizeExceeded), the responseContext of records
the function reported as failed (the example shows only a function error), and the S3 object key
(undocumented for Kafka; `aws/lambda/<mapping UUID>/<topic>-<partition>/YYYY/MM/DD/<time>-<uuid>`).
Not modelled: BisectBatchOnFunctionError (the deployed mapping leaves it off), the 6 MB payload
limit (MaximumPayloadSizeExceeded), SNS/SQS/Kafka destinations, the batching window
(bench/pipeline.py adds it), parallel pollers.

Offsets are committed only once every record of a polled batch has succeeded or been sent to the
destination (at-least-once: a restart redelivers the whole batch).
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Optional

from local.lambda_dispatch import FakeLambdaContext

logger = logging.getLogger(__name__)
Handler = Callable[[dict, Any], Any]
_TIMESTAMP_TYPES = {0: "CREATE_TIME", 1: "LOG_APPEND_TIME"}
LOCAL_CLUSTER_ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/local/00000000-0000-0000-0000-000000000000-1"
# "When you configure both infinite retries and an on-failure destination, Lambda automatically
# applies a maximum of 10 retry attempts." (kafka-retry-configurations)
RETRIES_WITH_DESTINATION_WHEN_INFINITE = 10
CONDITION_RETRIES_EXHAUSTED = "RetryAttemptsExhausted"
CONDITION_RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


def _b64(data: Optional[bytes]) -> Optional[str]:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _partition_key(record: Any) -> str:
    return f"{record.topic}-{record.partition}"


def _group(records: list[Any]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for r in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        grouped.setdefault(_partition_key(r), []).append(r)
    return grouped


def msk_event(records: dict[Any, list[Any]], bootstrap_servers: str, event_source_arn: str = LOCAL_CLUSTER_ARN) -> dict:
    """An MSK ESM event from kafka-python's poll() result ({TopicPartition: [ConsumerRecord]})."""
    return _event([r for recs in records.values() for r in recs], bootstrap_servers, event_source_arn)


def _event(records: list[Any], bootstrap_servers: str, event_source_arn: str) -> dict:
    grouped = {
        tp: [
            {
                "topic": r.topic,
                "partition": r.partition,
                "offset": r.offset,
                "timestamp": r.timestamp,
                "timestampType": _TIMESTAMP_TYPES.get(r.timestamp_type, "CREATE_TIME"),
                "key": _b64(r.key),
                "value": _b64(r.value),
                "headers": [{k: list(v or b"")} for k, v in (r.headers or [])],
            }
            for r in recs
        ]
        for tp, recs in _group(records).items()
    }
    return {"eventSource": "aws:kafka", "eventSourceArn": event_source_arn, "bootstrapServers": bootstrap_servers, "records": grouped}


def _iso_ms(epoch_ms: float) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch_ms) % 1000:03d}Z"


def invocation_record(
    records: list[Any],
    *,
    condition: str,
    approximate_invoke_count: int,
    function_arn: str,
    event: dict,
    function_error: Optional[str],
    now_ms: float,
) -> dict:
    """The document Lambda writes to an S3 on-failure destination for discarded Kafka records
    (kafka-on-failure.html, "S3 destination example invocation record"). `function_error` is
    None when the function never ran on these records (responseContext is then null)."""
    payload = json.dumps(event)
    records_info = {
        tp: {
            "firstRecordOffset": str(recs[0].offset),
            "lastRecordOffset": str(recs[-1].offset),
            "firstRecordTimestamp": _iso_ms(recs[0].timestamp),
            "lastRecordTimestamp": _iso_ms(recs[-1].timestamp),
        }
        for tp, recs in _group(records).items()
    }
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": approximate_invoke_count,
        },
        "responseContext": None if function_error is None else {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": function_error,
        },
        "version": "1.0",
        "timestamp": _iso_ms(now_ms),
        "KafkaBatchInfo": {
            "batchSize": len(records),
            "eventSourceArn": event["eventSourceArn"],
            "bootstrapServers": event["bootstrapServers"],
            "payloadSize": len(payload.encode("utf-8")),
            "recordsInfo": records_info,
        },
        "payload": payload,
    }


class S3OnFailureDestination:
    """The mapping's on-failure destination on an S3 bucket (what cdk_app/streaming.py deploys)."""

    def __init__(self, s3: Any, bucket: str):
        self.s3, self.bucket = s3, bucket

    def deliver(self, document: dict, mapping_uuid: str, now_ms: float) -> str:
        """PutObject the invocation record; return its s3:// URI."""
        first = next(iter(document["KafkaBatchInfo"]["recordsInfo"]))
        when = datetime.fromtimestamp(now_ms / 1000, UTC)
        key = f"aws/lambda/{mapping_uuid}/{first}/{when:%Y/%m/%d}/{when:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(document).encode("utf-8"),
                           ContentType="application/json")
        return f"s3://{self.bucket}/{key}"


@dataclass
class EsmStats:
    batches: int = 0  # polled batches finished (committed)
    records: int = 0  # records of those batches (succeeded or sent to the destination)
    invocations: int = 0
    failures: int = 0  # invocations that raised or reported failed records
    last_error: Optional[str] = None
    results: list[Any] = field(default_factory=list)  # what each invocation returned
    discarded: list[str] = field(default_factory=list)  # s3:// URIs of invocation records written


@dataclass
class _InFlight:
    """One polled batch until every record has succeeded or been discarded."""

    polled: dict[Any, list[Any]]
    pending: list[Any]  # still to deliver; every one of them was in each invocation so far
    invokes: int = 0
    function_error: Optional[str] = None  # of the last invocation


class KafkaEventSourceMapping:
    """Poll `topic` with a kafka-python consumer group and feed batches to `handler`.

    The error-handling settings take the names and defaults of CreateEventSourceMapping:
    maximum_retry_attempts (-1 = infinite), maximum_record_age_s (-1 = infinite),
    report_batch_item_failures, on_failure (an S3OnFailureDestination, or None: discarded records
    are dropped). `clock` returns epoch seconds (record ages are measured with it).
    Raises ValueError for a setting outside the documented range.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        handler: Handler,
        *,
        group_id: str = "dispatcher",
        batch_size: int = 100,
        max_wait_ms: int = 500,
        api_version: Optional[str] = None,
        function_name: str = "pipeline-dispatcher",
        maximum_retry_attempts: int = -1,
        maximum_record_age_s: int = -1,
        report_batch_item_failures: bool = False,
        on_failure: Optional[S3OnFailureDestination] = None,
        retry_backoff_s: float = 0.2,
        clock: Callable[[], float] = time.time,
        event_source_arn: str = LOCAL_CLUSTER_ARN,
    ):
        from kafka import KafkaConsumer

        from functions.streaming.kafka_config import client_config

        if not (maximum_retry_attempts == -1 or 0 <= maximum_retry_attempts <= 10_000):
            raise ValueError(f"maximum_retry_attempts must be -1 or 0-10000, not {maximum_retry_attempts}")
        if not (maximum_record_age_s == -1 or 60 <= maximum_record_age_s <= 604_800):
            raise ValueError(f"maximum_record_age_s must be -1 or 60-604800, not {maximum_record_age_s}")
        self.bootstrap_servers, self.topic, self.handler = bootstrap_servers, topic, handler
        self.batch_size, self.max_wait_ms = batch_size, max_wait_ms
        self.function_name, self.event_source_arn = function_name, event_source_arn
        if maximum_retry_attempts == -1 and on_failure is not None:
            maximum_retry_attempts = RETRIES_WITH_DESTINATION_WHEN_INFINITE
        self.maximum_retry_attempts, self.maximum_record_age_s = maximum_retry_attempts, maximum_record_age_s
        self.report_batch_item_failures, self.on_failure = report_batch_item_failures, on_failure
        self.retry_backoff_s, self.clock = retry_backoff_s, clock
        self.uuid = str(uuid.uuid4())
        config = client_config(bootstrap_servers, auth="none", api_version=api_version)
        self.consumer = KafkaConsumer(
            group_id=group_id, enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=batch_size, **config,
        )
        # Join only once this client has the topic's partitions: a group leader whose metadata
        # lacks the topic assigns nothing ("No partition metadata for topic") and the group can
        # sit with an empty assignment until the next metadata refresh (minutes).
        try:
            self._await_partitions(topic, timeout_s=30.0)
            self.consumer.subscribe([topic])
        except BaseException:
            self.consumer.close()
            raise
        self.stats = EsmStats()
        self._inflight: Optional[_InFlight] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _await_partitions(self, topic: str, timeout_s: float) -> None:
        """Best effort: one metadata fetch that hangs on an unreachable broker can outlast it."""
        deadline = time.monotonic() + timeout_s
        while not self.consumer.partitions_for_topic(topic):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no partition metadata for topic {topic!r} after {timeout_s:.0f} s")
            time.sleep(0.1)

    @property
    def function_arn(self) -> str:
        return FakeLambdaContext(function_name=self.function_name).invoked_function_arn

    def poll_once(self, timeout_ms: Optional[int] = None) -> int:
        """One invocation: of the records still failing from the last batch, else of a newly polled
        batch. Returns how many records it handled (0 when nothing was polled)."""
        if self._inflight is None:
            polled = self.consumer.poll(timeout_ms=self.max_wait_ms if timeout_ms is None else timeout_ms,
                                        max_records=self.batch_size)
            polled = {tp: recs for tp, recs in polled.items() if recs}
            if not polled:
                return 0
            self._inflight = _InFlight(polled, [r for recs in polled.values() for r in recs])
        batch = self._inflight
        handled = len(batch.pending)
        self._discard_expired(batch)
        if batch.pending:
            failed = self._invoke(batch)
            if failed and self._retries_left(batch):
                batch.pending = failed
                self._stop.wait(self.retry_backoff_s)
                return handled
            if failed:
                self._discard(batch, failed, CONDITION_RETRIES_EXHAUSTED)
        self._commit(batch.polled)
        self._inflight = None
        return handled

    def _retries_left(self, batch: _InFlight) -> bool:
        return self.maximum_retry_attempts == -1 or batch.invokes - 1 < self.maximum_retry_attempts

    def _discard_expired(self, batch: _InFlight) -> None:
        if self.maximum_record_age_s == -1:
            return
        oldest_ms = (self.clock() - self.maximum_record_age_s) * 1000
        expired = [r for r in batch.pending if r.timestamp < oldest_ms]
        if expired:
            batch.pending = [r for r in batch.pending if r.timestamp >= oldest_ms]
            self._discard(batch, expired, CONDITION_RECORD_AGE_EXCEEDED)

    def _invoke(self, batch: _InFlight) -> list[Any]:
        """Invoke the handler with the pending records; return those that failed."""
        event = _event(batch.pending, self.bootstrap_servers, self.event_source_arn)
        batch.invokes += 1
        self.stats.invocations += 1
        try:
            response = self.handler(event, FakeLambdaContext(function_name=self.function_name))
        except Exception as exc:  # noqa: BLE001 - the ESM retries whatever the function raised
            batch.function_error = "Unhandled"
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            failed = list(batch.pending)
        else:
            self.stats.results.append(response)
            failed = self._reported_failures(response, batch.pending) if self.report_batch_item_failures else []
            # The documentation shows only the function-error case; a reported failure is written
            # with the same responseContext.
            batch.function_error = "Unhandled" if failed else None
        if failed:
            self.stats.failures += 1
            logger.warning("invocation %d of a batch failed for %d of %d records", batch.invokes, len(failed),
                           len(batch.pending))
        return failed

    def _reported_failures(self, response: Any, pending: list[Any]) -> list[Any]:
        """The records named by a partial batch response: [] for an empty or null response, every
        pending record when any identifier is malformed or not in the invoked event."""
        items = response.get("batchItemFailures") if isinstance(response, dict) else None
        if not items:
            return []
        by_id = {(_partition_key(r), r.offset): r for r in pending}
        failed: dict[tuple[str, int], Any] = {}
        for item in items:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            key = (ident.get("partition"), ident.get("offset")) if isinstance(ident, dict) else None
            if not (key and isinstance(key[0], str) and type(key[1]) is int and key in by_id):
                self.stats.last_error = f"invalid batchItemFailures entry {item!r}: the whole batch is retried"
                return list(pending)
            failed[key] = by_id[key]
        return sorted(failed.values(), key=lambda r: (r.topic, r.partition, r.offset))

    def _discard(self, batch: _InFlight, records: list[Any], condition: str) -> None:
        now_ms = self.clock() * 1000
        logger.error("%d records discarded (%s) after %d invocations", len(records), condition, batch.invokes)
        if self.on_failure is None:
            return
        document = invocation_record(
            records, condition=condition, approximate_invoke_count=batch.invokes, function_arn=self.function_arn,
            event=_event(records, self.bootstrap_servers, self.event_source_arn),
            function_error=batch.function_error if batch.invokes else None, now_ms=now_ms,
        )
        self.stats.discarded.append(self.on_failure.deliver(document, self.uuid, now_ms))

    def _commit(self, polled: dict[Any, list[Any]]) -> None:
        from kafka.structs import OffsetAndMetadata

        offsets = {tp: OffsetAndMetadata(recs[-1].offset + 1, "", -1) for tp, recs in polled.items()}
        self.consumer.commit(offsets)
        self.stats.batches += 1
        self.stats.records += sum(len(r) for r in polled.values())

    def drain(self, idle_s: float = 2.0, timeout_s: float = 60.0) -> EsmStats:
        """Poll until every record on the topic when the group was joined is handled, then until
        nothing arrives for `idle_s` seconds (or `timeout_s` passes). A slow first fetch on a
        loaded machine cannot end the drain early: idle counts only once caught up."""
        deadline = time.monotonic() + timeout_s
        idle_since = time.monotonic()
        ends: dict[Any, int] = {}  # TopicPartition -> its end offset when first assigned
        while time.monotonic() < deadline:
            if self.poll_once():
                idle_since = time.monotonic()
                continue
            assigned = self.consumer.assignment()
            missing = [tp for tp in assigned if tp not in ends]
            if missing:
                ends.update(self.consumer.end_offsets(missing))
            if not assigned or not all(self._caught_up(tp, ends[tp]) for tp in assigned):
                idle_since = time.monotonic()  # still joining the group, or records not yet fetched
            elif time.monotonic() - idle_since >= idle_s:
                break
        return self.stats

    def _caught_up(self, tp: Any, end: int) -> bool:
        # position() answers None when it could not learn the offset in time: not caught up yet.
        position = self.consumer.position(tp, timeout_ms=1000)
        return position is not None and position >= end

    def start(self) -> None:
        """Run the loop in a background thread until stop()."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.poll_once()
                except Exception:  # noqa: BLE001 - keep the local pipeline alive
                    logger.exception("event source mapping loop error")
                    time.sleep(1)

        self._thread = threading.Thread(target=loop, name="local-msk-esm", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.consumer.close()
