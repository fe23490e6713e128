"""Decode an MSK event source mapping batch, one record at a time.

Shape (https://docs.aws.amazon.com/lambda/latest/dg/with-msk.html): records grouped under
"<topic>-<partition>", each with base64 `key`/`value`. Every record is parsed on its own so
that one malformed record becomes a poison record with a reason instead of failing the whole
batch (the ESM would retry it forever and block the partition). For that reason the batch is
not parsed with Powertools' KafkaMskEventModel, which validates all records in one go and
decodes values to `str` (a non-UTF-8 value would fail the batch): each record's shape is
checked on its own (MskRecord), then its value is decoded from base64 by Powertools' data
class KafkaEventRecord and from JSON by functions.streaming.messages.
"""
from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, ValidationError

from functions.common.events import ObjectRef
from functions.streaming.messages import PoisonMessageError, decode_value


class MskRecord(BaseModel):
    """The shape a record must have to be placed (and parked when its value is bad)."""

    model_config = ConfigDict(extra="ignore")
    topic: str
    partition: int
    offset: int
    timestamp: Optional[int] = None
    timestampType: Optional[str] = None
    key: Optional[str] = None  # base64
    value: Optional[str] = None  # base64; null for a tombstone
    headers: list[dict[str, Any]] = []


class MskEnvelope(BaseModel):
    model_config = ConfigDict(extra="ignore")
    eventSource: Literal["aws:kafka", "SelfManagedKafka"]
    eventSourceArn: Optional[str] = None
    bootstrapServers: Optional[str] = None
    records: dict[str, list[dict[str, Any]]]


@dataclass(frozen=True, order=True)
class Coordinates:
    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}-{self.offset}"


@dataclass(frozen=True)
class DecodedRecord:
    coordinates: Coordinates
    ref: ObjectRef


@dataclass(frozen=True)
class PoisonRecord:
    coordinates: Coordinates
    reason: str
    raw: dict[str, Any]  # the record as the ESM delivered it (base64 key/value kept)


@dataclass(frozen=True)
class DecodedBatch:
    records: list[DecodedRecord]
    poison: list[PoisonRecord]

    @property
    def coordinates(self) -> list[Coordinates]:
        return sorted([r.coordinates for r in self.records] + [p.coordinates for p in self.poison])


def _fallback_coordinates(group: str, index: int, raw: Any) -> Coordinates:
    """Where a record that lacks its own coordinates sits: from its "topic-partition" group."""
    topic, _, partition = group.rpartition("-")
    offset = raw.get("offset") if isinstance(raw, dict) else None
    try:
        return Coordinates(topic or group, int(partition), int(offset) if offset is not None else -1 - index)
    except ValueError:
        return Coordinates(group, -1, -1 - index)


def decode_batch(event: dict[str, Any]) -> DecodedBatch:
    """Split an ESM batch into ObjectRefs and poison records.

    Raises pydantic.ValidationError only when the envelope itself is not an MSK batch
    (that is a wiring error, not a bad message).
    """
    # Imported here: this module also ships to MWAA beside the DAGs (cdk_app/backfill.py,
    # DAG_SHARED_MODULES), which use its dataclasses only and have no Powertools installed.
    from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord

    envelope = MskEnvelope.model_validate(event)
    decoded: list[DecodedRecord] = []
    poison: list[PoisonRecord] = []
    for group, raws in envelope.records.items():
        for index, raw in enumerate(raws):
            try:
                record = MskRecord.model_validate(raw)
            except ValidationError as exc:
                poison.append(PoisonRecord(_fallback_coordinates(group, index, raw), f"malformed record: {exc.errors()[0]['msg']}", raw if isinstance(raw, dict) else {"raw": raw}))
                continue
            coords = Coordinates(record.topic, record.partition, record.offset)
            if record.value is None:
                poison.append(PoisonRecord(coords, "record has no value (tombstone)", raw))
                continue
            try:
                value = KafkaEventRecord(raw).decoded_value
            except (binascii.Error, ValueError) as exc:
                poison.append(PoisonRecord(coords, f"value is not base64: {exc}", raw))
                continue
            try:
                decoded.append(DecodedRecord(coords, decode_value(value)))
            except PoisonMessageError as exc:
                poison.append(PoisonRecord(coords, str(exc), raw))
    decoded.sort(key=lambda r: r.coordinates)
    poison.sort(key=lambda p: p.coordinates)
    return DecodedBatch(decoded, poison)
