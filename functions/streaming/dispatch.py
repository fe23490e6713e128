"""Dispatcher logic: one ESM batch -> poison records parked in S3 + idempotent executions.

Poison records (bad encoding, JSON or schema) can never succeed, so they are written with
their reason to s3://FAILED_BUCKET/failed/kafka/<topic>/<partition>/<offset>.json and the
batch goes on: the ESM never retries them and the partition is not blocked. Anything a
retry can fix (throttling, S3/Step Functions 5xx) raises TransientDispatchError so the
whole batch is retried; the deterministic execution names make that retry start nothing twice.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.common.constants import FAILED_PREFIX
from functions.streaming.executions import PlannedExecution, plan_executions
from functions.streaming.msk_batch import DecodedBatch, PoisonRecord, decode_batch

# Errors after which the same call may succeed; everything else is a configuration problem.
_TRANSIENT_CODES = {
    "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
    "SlowDown", "ServiceUnavailable", "InternalServerError", "InternalError", "InternalFailure",
    "RequestTimeout", "RequestTimeoutException",
}


class TransientDispatchError(RuntimeError):
    """A retry of the whole batch can fix this (the ESM retries when the function raises)."""


class DispatchConfigError(RuntimeError):
    """Not fixable by a retry (missing state machine, access denied); fails the batch loudly so
    the ESM's retries run out and the batch lands in its on-failure destination."""


@dataclass
class DispatchResult:
    started: list[str] = field(default_factory=list)
    already_started: list[str] = field(default_factory=list)
    poison: list[str] = field(default_factory=list)  # s3:// URIs of the parked records
    objects: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "already_started": self.already_started,
            "poison": self.poison,
            "objects": self.objects,
        }


def failed_key(record: PoisonRecord) -> str:
    """Deterministic: a redelivered poison record overwrites its own file."""
    c = record.coordinates
    return f"{FAILED_PREFIX}/kafka/{c.topic}/{c.partition}/{c.offset}.json"


def _raise_for(exc: Exception, what: str) -> None:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _TRANSIENT_CODES or status >= 500:
            raise TransientDispatchError(f"{what}: {code}") from exc
        raise DispatchConfigError(f"{what}: {code}: {exc}") from exc
    raise TransientDispatchError(f"{what}: {type(exc).__name__}: {exc}") from exc


def park_poison(s3: Any, failed_bucket: str, records: list[PoisonRecord], pipeline_version: str) -> list[str]:
    """Write each poison record with its reason to the failed-items location; return URIs."""
    uris = []
    for record in records:
        key = failed_key(record)
        body = {
            "kind": "kafka_poison_record",
            "reason": record.reason,
            "topic": record.coordinates.topic,
            "partition": record.coordinates.partition,
            "offset": record.coordinates.offset,
            "pipeline_version": pipeline_version,
            "parked_at": datetime.now(timezone.utc).isoformat(),
            "record": record.raw,
        }
        try:
            s3.put_object(
                Bucket=failed_bucket,
                Key=key,
                Body=json.dumps(body, ensure_ascii=False, default=str).encode("utf-8"),
                ContentType="application/json",
            )
        except (ClientError, BotoCoreError) as exc:
            _raise_for(exc, f"writing poison record to s3://{failed_bucket}/{key}")
        uris.append(f"s3://{failed_bucket}/{key}")
    return uris


def start(sfn: Any, state_machine_arn: str, planned: PlannedExecution) -> bool:
    """StartExecution; True if it started now, False if this name already ran or runs."""
    try:
        sfn.start_execution(stateMachineArn=state_machine_arn, name=planned.name, input=planned.input_json())
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            return False
        _raise_for(exc, f"StartExecution {planned.name}")
    except BotoCoreError as exc:
        _raise_for(exc, f"StartExecution {planned.name}")
    return False  # pragma: no cover - _raise_for always raises


def dispatch(
    event: dict[str, Any],
    *,
    sfn: Any,
    s3: Any,
    state_machine_arn: str,
    failed_bucket: str,
    pipeline_version: str,
) -> DispatchResult:
    """Handle one ESM batch. Raises TransientDispatchError / DispatchConfigError (batch retried),
    pydantic.ValidationError when the event is not an MSK batch at all."""
    batch: DecodedBatch = decode_batch(event)
    result = DispatchResult(objects=len(batch.records))
    if batch.poison:
        result.poison = park_poison(s3, failed_bucket, batch.poison, pipeline_version)
    for planned in plan_executions(batch.records, pipeline_version):
        if start(sfn, state_machine_arn, planned):
            result.started.append(planned.name)
        else:
            result.already_started.append(planned.name)
    return result
