"""Publish ObjectRefs to the topic and wait until the brokers have them (acks=all)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functions.common.events import ObjectRef
from functions.streaming.messages import message_key, message_value


class PublishError(RuntimeError):
    """At least one message was not acknowledged; the invocation must fail and be retried."""


def publish(producer: Any, topic: str, refs: Iterable[ObjectRef], timeout_s: float = 30.0) -> list[tuple[int, int]]:
    """Send every ref, flush, and return their (partition, offset).

    Raises PublishError naming the objects that failed. Duplicates from a retried invocation
    are harmless: the dispatcher dedupes within a batch and the steps skip up-to-date versions.
    """
    refs = list(refs)
    futures = [(ref, producer.send(topic, key=message_key(ref), value=message_value(ref))) for ref in refs]
    producer.flush(timeout=timeout_s)
    placed: list[tuple[int, int]] = []
    failed: list[str] = []
    for ref, future in futures:
        try:
            meta = future.get(timeout=timeout_s)
            placed.append((meta.partition, meta.offset))
        except Exception as exc:  # noqa: BLE001 - any broker/client error fails the publish
            failed.append(f"s3://{ref.bucket}/{ref.key}: {type(exc).__name__}: {exc}")
    if failed:
        raise PublishError(f"{len(failed)} of {len(refs)} messages not acknowledged: " + "; ".join(failed[:5]))
    return placed
