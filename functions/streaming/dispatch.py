"""Dispatcher logic: one ESM batch -> poison records parked in S3 + idempotent executions,
and the records to retry reported back to the event source mapping.

Poison records (bad encoding, JSON or schema) can never succeed, so they are written with
their reason to s3://FAILED_BUCKET/failed/kafka/<topic>/<partition>/<offset>.json and the
batch goes on: the ESM never retries them and the partition is not blocked.

Anything a retry can fix (throttling, S3/Step Functions 5xx, timeouts) is not raised: the
records it hit are returned as batch item failures, and the mapping (FunctionResponseTypes
ReportBatchItemFailures) retries only those records, within its MaximumRetryAttempts and
MaximumRecordAgeInSeconds; a record that runs out of either lands in the mapping's on-failure
destination. https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html

Idempotent names when only some records come back: the batch's records are cut into
executions in one fixed order (executions.plan_executions, a greedy cut that starts afresh at
each execution's first object). When a StartExecution fails with a retryable error, that
execution's records and those of every execution after it in the plan are reported, and none
of the later ones is attempted. The retried records are therefore a suffix of the plan that
begins at an execution boundary, which plan_executions cuts into exactly the same executions,
with the same names: a StartExecution that did reach Step Functions before its error answers
ExecutionAlreadyExists on the retry and starts nothing twice.

Errors a retry cannot fix (missing state machine, access denied) raise DispatchConfigError:
the invocation fails, the ESM retries the whole batch until MaximumRetryAttempts, then writes
it to its on-failure destination.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Optional

from botocore.exceptions import BotoCoreError, ClientError

from functions.common.aws_errors import error_code, is_retryable
from functions.common.constants import FAILED_PREFIX
from functions.streaming.executions import PlannedExecution, plan_executions
from functions.streaming.msk_batch import Coordinates, DecodedBatch, PoisonRecord, decode_batch


class TransientDispatchError(RuntimeError):
    """A retry can fix this; dispatch() turns it into batch item failures for the records it hit."""


class DispatchConfigError(RuntimeError):
    """Not fixable by a retry (missing state machine, access denied); fails the batch loudly so
    the ESM's retries run out and the batch lands in its on-failure destination."""


@dataclass
class DispatchResult:
    started: list[str] = field(default_factory=list)
    already_started: list[str] = field(default_factory=list)
    poison: list[str] = field(default_factory=list)  # s3:// URIs of the parked records
    objects: int = 0
    retry: list[Coordinates] = field(default_factory=list)  # records the ESM must deliver again
    retry_reason: Optional[str] = None

    def batch_item_failures(self) -> list[dict[str, Any]]:
        """The records to retry, in the partial batch response shape Lambda documents for Kafka:
        {"itemIdentifier": {"partition": "<topic>-<partition>", "offset": <offset>}}.
        https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html"""
        return [
            {"itemIdentifier": {"partition": f"{c.topic}-{c.partition}", "offset": c.offset}}
            for c in sorted(set(self.retry))
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "already_started": self.already_started,
            "poison": self.poison,
            "objects": self.objects,
            "retry": [str(c) for c in sorted(set(self.retry))],
            "retry_reason": self.retry_reason,
        }


def failed_key(record: PoisonRecord) -> str:
    """Deterministic: a redelivered poison record overwrites its own file."""
    c = record.coordinates
    return f"{FAILED_PREFIX}/kafka/{c.topic}/{c.partition}/{c.offset}.json"


def _raise_for(exc: Exception, what: str) -> None:
    # Errors after which the same call may succeed (aws_errors.is_retryable: botocore's own
    # throttling and transient rules); every other client error is a configuration problem.
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if is_retryable(exc):
            raise TransientDispatchError(f"{what}: {code}") from exc
        raise DispatchConfigError(f"{what}: {code}: {exc}") from exc
    raise TransientDispatchError(f"{what}: {type(exc).__name__}: {exc}") from exc


def park(s3: Any, failed_bucket: str, record: PoisonRecord, pipeline_version: str) -> str:
    """Write one poison record with its reason to the failed-items location; return its URI.

    Raises TransientDispatchError (retry can fix) or DispatchConfigError."""
    key = failed_key(record)
    body = {
        "kind": "kafka_poison_record",
        "reason": record.reason,
        "topic": record.coordinates.topic,
        "partition": record.coordinates.partition,
        "offset": record.coordinates.offset,
        "pipeline_version": pipeline_version,
        "parked_at": datetime.now(UTC).isoformat(),
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
    return f"s3://{failed_bucket}/{key}"



def start(sfn: Any, state_machine_arn: str, planned: PlannedExecution) -> bool:
    """StartExecution; True if it started now, False if this name already ran or runs."""
    try:
        sfn.start_execution(stateMachineArn=state_machine_arn, name=planned.name, input=planned.input_json())
        return True
    except ClientError as exc:
        if error_code(exc) == "ExecutionAlreadyExists":
            return False
        _raise_for(exc, f"StartExecution {planned.name}")
    except BotoCoreError as exc:
        _raise_for(exc, f"StartExecution {planned.name}")
    return False  # pragma: no cover - _raise_for always raises


def _known(coordinates: Coordinates) -> bool:
    """Whether these are a real record's coordinates (a malformed record may lack them)."""
    return coordinates.partition >= 0 and coordinates.offset >= 0


def dispatch(
    event: dict[str, Any],
    *,
    sfn: Any,
    s3: Any,
    state_machine_arn: str,
    failed_bucket: str,
    pipeline_version: str,
) -> DispatchResult:
    """Handle one ESM batch: park its poison records, start its executions.

    Returns a DispatchResult whose `retry` lists the records to hand back to the ESM (see the
    module docstring for which). Raises DispatchConfigError when a retry cannot help,
    TransientDispatchError only when a poison record that must be retried has no coordinates
    to report it by (the whole batch is then retried), pydantic.ValidationError when the event
    is not an MSK batch at all.
    """
    batch: DecodedBatch = decode_batch(event)
    result = DispatchResult(objects=len(batch.records))
    for record in batch.poison:
        try:
            result.poison.append(park(s3, failed_bucket, record, pipeline_version))
        except TransientDispatchError as exc:
            if not _known(record.coordinates):
                raise
            result.retry.append(record.coordinates)
            result.retry_reason = str(exc)
    plan = plan_executions(batch.records, pipeline_version)
    for index, planned in enumerate(plan):
        try:
            started = start(sfn, state_machine_arn, planned)
        except TransientDispatchError as exc:
            # This execution and every later one go back, so that the retry's plan (a suffix
            # of this one, starting at an execution boundary) gives the same names.
            result.retry.extend(c for later in plan[index:] for c in later.coordinates)
            result.retry_reason = str(exc)
            break
        (result.started if started else result.already_started).append(planned.name)
    return result
