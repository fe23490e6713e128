"""What the MSK event source mapping does, for the local run: poll, batch, invoke, commit.

Batches are handed to the handler in the exact MSK ESM event shape (records grouped by
"<topic>-<partition>", base64 key/value, header values as byte lists). Offsets are committed
only after the handler returns; when it raises, the consumer seeks back and the same
records come again (at-least-once), like the ESM's retries.
https://docs.aws.amazon.com/lambda/latest/dg/with-msk.html
"""
from __future__ import annotations

import base64
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from local.lambda_dispatch import FakeLambdaContext

logger = logging.getLogger(__name__)
Handler = Callable[[dict, Any], Any]
_TIMESTAMP_TYPES = {0: "CREATE_TIME", 1: "LOG_APPEND_TIME"}


def _b64(data: Optional[bytes]) -> Optional[str]:
    return None if data is None else base64.b64encode(data).decode("ascii")


def msk_event(records: dict[Any, list[Any]], bootstrap_servers: str,
              event_source_arn: str = "arn:aws:kafka:us-east-1:123456789012:cluster/local/00000000-0000-0000-0000-000000000000-1") -> dict:
    """An MSK ESM event from kafka-python's poll() result ({TopicPartition: [ConsumerRecord]})."""
    grouped: dict[str, list[dict]] = {}
    for tp, recs in sorted(records.items(), key=lambda kv: (kv[0].topic, kv[0].partition)):
        grouped[f"{tp.topic}-{tp.partition}"] = [
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
    return {"eventSource": "aws:kafka", "eventSourceArn": event_source_arn, "bootstrapServers": bootstrap_servers, "records": grouped}


@dataclass
class EsmStats:
    batches: int = 0
    records: int = 0
    failures: int = 0
    last_error: Optional[str] = None
    results: list[Any] = field(default_factory=list)


class KafkaEventSourceMapping:
    """Poll `topic` with a kafka-python consumer group and feed batches to `handler`.

    max_attempts: after this many failed invocations of one batch, `on_failure(event, error)`
    gets it and the offsets move on (the ESM's on-failure destination); None = retry forever.
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
        max_attempts: Optional[int] = None,
        on_failure: Optional[Callable[[dict, BaseException], None]] = None,
        retry_backoff_s: float = 0.2,
    ):
        from kafka import KafkaConsumer

        from functions.streaming.kafka_config import client_config

        self.bootstrap_servers, self.topic, self.handler = bootstrap_servers, topic, handler
        self.batch_size, self.max_wait_ms = batch_size, max_wait_ms
        self.function_name, self.max_attempts, self.on_failure = function_name, max_attempts, on_failure
        self.retry_backoff_s = retry_backoff_s
        config = client_config(bootstrap_servers, auth="none", api_version=api_version)
        self.consumer = KafkaConsumer(
            topic, group_id=group_id, enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=batch_size, **config,
        )
        self.stats = EsmStats()
        self._attempts = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def poll_once(self, timeout_ms: Optional[int] = None) -> int:
        """Poll one batch and invoke the handler with it; return the number of records (0 if none)."""
        polled = self.consumer.poll(timeout_ms=self.max_wait_ms if timeout_ms is None else timeout_ms, max_records=self.batch_size)
        polled = {tp: recs for tp, recs in polled.items() if recs}
        if not polled:
            return 0
        event = msk_event(polled, self.bootstrap_servers)
        count = sum(len(r) for r in polled.values())
        try:
            result = self.handler(event, FakeLambdaContext(function_name=self.function_name))
        except Exception as exc:  # noqa: BLE001 - the ESM retries whatever the function raised
            self._attempts += 1
            self.stats.failures += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            if self.max_attempts is not None and self._attempts >= self.max_attempts:
                logger.error("batch failed %d times; sending it to on_failure", self._attempts)
                if self.on_failure is not None:
                    self.on_failure(event, exc)
                self._commit(polled)
            else:
                logger.warning("batch failed (attempt %d), will be retried: %s", self._attempts, exc)
                for tp, recs in polled.items():
                    self.consumer.seek(tp, recs[0].offset)
                time.sleep(self.retry_backoff_s)
            return count
        self.stats.results.append(result)
        self._commit(polled)
        return count

    def _commit(self, polled: dict[Any, list[Any]]) -> None:
        from kafka.structs import OffsetAndMetadata

        offsets = {tp: OffsetAndMetadata(recs[-1].offset + 1, "", -1) for tp, recs in polled.items()}
        self.consumer.commit(offsets)
        self._attempts = 0
        self.stats.batches += 1
        self.stats.records += sum(len(r) for r in polled.values())

    def drain(self, idle_s: float = 2.0, timeout_s: float = 60.0) -> EsmStats:
        """Poll until nothing arrives for `idle_s` seconds (or `timeout_s` passes)."""
        deadline = time.monotonic() + timeout_s
        idle_since = time.monotonic()
        while time.monotonic() < deadline:
            if self.poll_once():
                idle_since = time.monotonic()
            elif not self.consumer.assignment():
                idle_since = time.monotonic()  # still joining the group: not idle yet
            elif time.monotonic() - idle_since >= idle_s:
                break
        return self.stats

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
