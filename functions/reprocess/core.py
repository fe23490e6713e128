"""Plain logic of a reprocessing run: select, filter stale, plan executions, send, estimate cost.

Nothing here imports Airflow or Lambda, so the same code runs in an Airflow worker (the
paged path of dags/multimodal_reprocess/tasks.py), in the reprocess_batch Lambda (one
Distributed Map batch, functions/reprocess/batch.py) and in unit tests. Object names,
modalities and the state machine's input type come from `functions/common` (shipped beside
the DAGs by cdk_app/backfill.py), never repeated here.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

from functions.common.constants import (
    DB_SCHEMA,
    MAX_EXECUTION_NAME,
    MODALITIES,
    TABLE_FAILURES,
    TABLE_OBJECTS,
    UNSUPPORTED,
)
from functions.common.errors import RETRYABLE_ERROR_NAMES, ReusedResultGoneError
from functions.common.events import ExecutionInput, ObjectRef
from functions.streaming.classify import classify
from functions.streaming.executions import MAX_EXECUTION_INPUT_BYTES, MAX_OBJECTS_PER_EXECUTION, identity

# One page of the listing at a time: the worker never holds more than this many versions.
# 1000 is the most one ListObjectVersions call returns.
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html
PAGE_SIZE = 1000
# Execution names: "<prefix>-<digest>"; "rp" marks reprocessing (the dispatcher's names start
# with the pipeline version), so a re-sent batch never collides with a Kafka batch's name.
_NAME_PREFIX = "rp"
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_DIGEST_CHARS = 48

# Which object versions a run sends, decided here and nowhere else (`stale` applies it):
#
# * no result row for the pipeline version: never processed, processed only by an older
#   pipeline version, or a version of the object uploaded since (rows are per object version);
# * a row whose recorded ETag differs from the listed one: the object was overwritten in place
#   (an unversioned bucket has one "version"), so the row is about other content (extract's
#   own up-to-date check compares the ETag too);
# * a failed row whose latest failure a retry can fix (`retry_can_fix`), or without a failure
#   record (nothing says it is hopeless);
# * with `include_failed` (a backfill explicitly asked for), every failed row.
#
# Every other failed row is held back and counted by error name: a corrupt or unsupported
# file, an input the model refused, or an error our code did not expect (a bug, which a
# retry of the same version would hit again; after the fix, a backfill with include_failed
# or a new pipeline version sends those). A succeeded row is up to date.
#
# Failures a retry can fix: the errors our code raises for exactly that (RETRYABLE_ERROR_NAMES,
# which the state machine retries by name until its attempts run out), and the errors the
# services raise when a function did not finish and so said nothing about the object: the
# task's or the Lambda's timeout and the Lambda service's own errors while invoking
# (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html,
# https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
# States.TaskFailed is among them: an exception our code raised reaches the Catch under its
# own class name, never as States.TaskFailed, so that name carries no verdict on the object.
RETRY_CAN_FIX_ERRORS = frozenset({
    *RETRYABLE_ERROR_NAMES,
    ReusedResultGoneError.__name__,  # a resend processes the bytes again (functions/processing/reuse.py)
    "States.Timeout", "States.HeartbeatTimeout", "States.TaskFailed", "Sandbox.Timedout",
})
RETRY_CAN_FIX_PREFIXES = ("Lambda.",)  # Lambda.ServiceException, Lambda.TooManyRequestsException, Lambda.Unknown...


def retry_can_fix(error: Optional[str]) -> bool:
    """Whether a failure recorded with this error name (pipeline.failures.error) may succeed
    when the same object version is sent again. None (no failure recorded) counts as yes."""
    return error is None or error in RETRY_CAN_FIX_ERRORS or error.startswith(RETRY_CAN_FIX_PREFIXES)


# One row per ref, in input order: its position, the recorded status for the pipeline version
# (NULL: no row), the latest failure's error name, the recorded ETag and when the row last
# changed (microseconds since the epoch). The objects_identity and failures_identity unique
# indexes on (bucket, key, version_id, pipeline_version) serve the joins.
STALE_SQL = f"""
SELECT t.ord, o.status, f.error, o.etag, (extract(epoch FROM o.updated_at) * 1000000)::bigint
FROM unnest(%(keys)s::text[], %(version_ids)s::text[]) WITH ORDINALITY AS t(key, version_id, ord)
LEFT JOIN {DB_SCHEMA}.{TABLE_OBJECTS} o
    ON o.bucket = %(bucket)s
   AND o.key = t.key
   AND (o.version_id = t.version_id OR (o.version_id IS NULL AND t.version_id IS NULL))
   AND o.pipeline_version = %(pipeline_version)s
LEFT JOIN {DB_SCHEMA}.{TABLE_FAILURES} f
    ON f.bucket = o.bucket
   AND f.key = o.key
   AND (f.version_id = o.version_id OR (f.version_id IS NULL AND o.version_id IS NULL))
   AND f.pipeline_version = o.pipeline_version
ORDER BY t.ord
"""

# Rough cost of sending one object through the pipeline, in USD, for the dry run's estimate
# (us-east-1 on-demand prices; endpoints are billed per instance-hour whether busy or not, so
# the figure is the share of endpoint time one object occupies at the measured throughput in
# bench/README.md). Standard workflow transitions: $0.025 per 1,000
# (https://aws.amazon.com/step-functions/pricing/); about 10 per object with the Map.
_TRANSITIONS_PER_OBJECT = 10
_USD_PER_TRANSITION = 0.025 / 1000
_USD_PER_OBJECT: dict[str, float] = {
    # Lambda (4 steps) + endpoint share per object, plus per-GB for media that scales with size.
    "image": 0.00030,
    "video": 0.00400,
    "audio": 0.00150,
    "text": 0.00010,
    "document": 0.00050,
    UNSUPPORTED: 0.00002,
}
_USD_PER_GB: dict[str, float] = {"video": 0.20, "audio": 0.10}


@dataclass(frozen=True)
class RunParams:
    """What to reprocess. Validated by the DAG's Params; `from_mapping` re-checks the types."""

    bucket: str
    pipeline_version: str
    prefix: str = ""
    modified_since: Optional[datetime] = None
    modified_until: Optional[datetime] = None
    modalities: tuple[str, ...] = MODALITIES
    dry_run: bool = False
    max_objects: Optional[int] = None
    # Also send objects whose latest failure a retry cannot fix (see `retry_can_fix`).
    include_failed: bool = False

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> "RunParams":
        """Build from DAG params. Raises ValueError naming the bad field."""
        bucket = (values.get("bucket") or "").strip()
        version = (values.get("pipeline_version") or "").strip()
        if not bucket:
            raise ValueError("bucket: required")
        if not version:
            raise ValueError("pipeline_version: required")
        modalities = tuple(values.get("modalities") or MODALITIES)
        unknown = set(modalities) - set(MODALITIES) - {UNSUPPORTED}
        if unknown:
            raise ValueError(f"modalities: unknown {sorted(unknown)}")
        max_objects = values.get("max_objects")
        if max_objects is not None and int(max_objects) < 1:
            raise ValueError("max_objects: must be at least 1 (or empty for no limit)")
        since, until = _when(values.get("modified_since"), "modified_since"), _when(values.get("modified_until"), "modified_until")
        if since and until and since >= until:
            raise ValueError("modified_since: must be before modified_until")
        return cls(
            bucket=bucket, pipeline_version=version, prefix=values.get("prefix") or "",
            modified_since=since, modified_until=until, modalities=modalities,
            dry_run=bool(values.get("dry_run")), max_objects=int(max_objects) if max_objects is not None else None,
            include_failed=bool(values.get("include_failed")),
        )


def _when(value: Any, name: str) -> Optional[datetime]:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"{name}: not an ISO 8601 date-time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class Tally:
    """Counts of one run, pushed to XCom and logged. `sent` counts objects, not executions."""

    listed: int = 0
    selected: int = 0
    up_to_date: int = 0
    stale: int = 0
    sent: int = 0
    already_sent: int = 0
    failed: int = 0
    executions_planned: int = 0
    executions_started: int = 0
    sample_keys: list[str] = field(default_factory=list)  # the first few stale keys, for the dry run's report
    stale_by_modality: dict[str, int] = field(default_factory=dict)
    stale_bytes_by_modality: dict[str, int] = field(default_factory=dict)
    execution_arns: list[str] = field(default_factory=list)  # the first few, for links
    errors: list[str] = field(default_factory=list)  # the first few
    truncated: bool = False  # max_objects reached before the listing ended
    gone: int = 0  # listed, then deleted before its current version could be read (batch path)
    held_back: int = 0  # failed with an error a retry cannot fix: not sent (see `retry_can_fix`)
    held_back_by_error: dict[str, int] = field(default_factory=dict)
    include_failed: bool = False  # the run sent failed objects whatever their error (echoed by each batch)

    def count_stale(self, refs: Iterable[ObjectRef]) -> None:
        for ref in refs:
            self.stale += 1
            self.stale_by_modality[ref.modality] = self.stale_by_modality.get(ref.modality, 0) + 1
            self.stale_bytes_by_modality[ref.modality] = self.stale_bytes_by_modality.get(ref.modality, 0) + ref.size

    def count_checked(self, checked: "Checked") -> None:
        """Count one `stale` answer: the up-to-date refs, the stale ones and the held-back ones."""
        self.up_to_date += checked.up_to_date
        self.count_stale(checked.stale)
        for _, error in checked.held_back:
            self.held_back += 1
            self.held_back_by_error[error] = self.held_back_by_error.get(error, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v) for k, v in self.__dict__.items()}

    def merge(self, other: dict[str, Any], keep: int = 25) -> None:
        """Add another tally's counts (a batch's result, as from `as_dict`) to this one.

        Counters add up, per-modality maps add up per key, lists keep their first `keep` entries.
        """
        for name, value in other.items():
            if not hasattr(self, name):
                continue  # a field this version does not know: ignore, never fail the report
            mine = getattr(self, name)
            if isinstance(mine, bool):
                setattr(self, name, mine or bool(value))
            elif isinstance(mine, int):
                setattr(self, name, mine + int(value or 0))
            elif isinstance(mine, dict):
                for key, count in (value or {}).items():
                    mine[key] = mine.get(key, 0) + int(count)
            elif isinstance(mine, list):
                mine.extend(list(value or [])[: max(0, keep - len(mine))])


def object_ref(bucket: str, entry: dict[str, Any]) -> Optional[ObjectRef]:
    """An ObjectRef from one listing entry: ListObjectVersions `Versions`, ListObjectsV2
    `Contents`, a Distributed Map listObjectsV2 item, or an S3 Inventory row.

    Returns None for entries that are not the current version. S3 writes "null" as the
    version id of objects in unversioned buckets; the pipeline records those as None.
    """
    if entry.get("IsLatest") in (False, "false", "False"):
        return None
    version = entry.get("VersionId")
    return ObjectRef(
        bucket=bucket,
        key=entry["Key"],
        version_id=None if version in (None, "", "null") else version,
        # ListObjectsV2 through the SDK says "ETag"; a Distributed Map's ItemReader says "Etag".
        etag=(entry.get("ETag") or entry.get("Etag") or "").strip('"') or None,
        size=int(entry.get("Size") or 0),
        modality=classify(entry["Key"]),
    )


def last_modified(entry: dict[str, Any]) -> Optional[datetime]:
    """When a listed object was last modified, as an aware datetime, from any listing shape.

    SDK listings give a datetime; a Distributed Map's listObjectsV2 ItemReader gives epoch
    seconds; an S3 Inventory CSV row gives an ISO 8601 string in `LastModifiedDate`.
    """
    value = entry.get("LastModified", entry.get("LastModifiedDate"))
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str):
        return _when(value, "LastModified")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def select(bucket: str, entries: Iterable[dict[str, Any]], params: RunParams, tally: Tally) -> list[ObjectRef]:
    """The current versions among `entries` that match the run's time window and modalities."""
    kept = []
    for entry in entries:
        ref = object_ref(bucket, entry)
        if ref is None or ref.key.endswith("/"):
            continue
        tally.listed += 1
        modified = last_modified(entry)
        if params.modified_since and modified and modified < params.modified_since:
            continue
        if params.modified_until and modified and modified >= params.modified_until:
            continue
        if ref.modality not in params.modalities:
            continue
        kept.append(ref)
    tally.selected += len(kept)
    return kept


@dataclass(frozen=True)
class Checked:
    """What `stale` found among a page or batch of refs."""

    stale: list[ObjectRef]  # to send, in input order
    held_back: list[tuple[ObjectRef, str]]  # failed with an error a retry cannot fix, with that error's name
    up_to_date: int
    # identity -> when its recorded row last changed, for stale refs that have one (a failure a
    # retry can fix, an overwritten object): `plan` puts it in the execution name, so a newer
    # failure gets a new execution, while a re-run before the pipeline has answered (and a
    # closed execution's name is refused for 90 days) still starts nothing.
    attempts: dict[tuple[str, str, str], str] = field(default_factory=dict)


def stale(refs: Sequence[ObjectRef], pipeline_version: str, query: Callable[[str, dict], list[tuple]],
          include_failed: bool = False) -> Checked:
    """Sort refs by the rule above STALE_SQL: up to date, stale (to send) or held back.

    `query(sql, parameters)` runs one SELECT and returns its rows (PostgresHook.get_records,
    or psycopg's fetchall). All refs must be in one bucket (a run covers one bucket); raises
    ValueError otherwise. `include_failed` sends every failed ref (nothing is held back).
    """
    if not refs:
        return Checked(stale=[], held_back=[], up_to_date=0)
    buckets = {ref.bucket for ref in refs}
    if len(buckets) != 1:
        raise ValueError(f"one bucket per call, got {sorted(buckets)}")
    rows = query(STALE_SQL, {
        "bucket": refs[0].bucket,
        "keys": [ref.key for ref in refs],
        "version_ids": [ref.version_id for ref in refs],
        "pipeline_version": pipeline_version,
    })
    found: list[ObjectRef] = []
    held_back: list[tuple[ObjectRef, str]] = []
    attempts: dict[tuple[str, str, str], str] = {}
    up_to_date = 0
    for ord_, status, error, recorded_etag, changed_at in rows:
        ref = refs[int(ord_) - 1]
        if status is None:
            found.append(ref)
            continue
        overwritten = _overwritten(ref.etag, recorded_etag)
        if status == "succeeded" and not overwritten:
            up_to_date += 1
        elif overwritten or include_failed or retry_can_fix(error):
            found.append(ref)
            attempts[identity(ref)] = str(changed_at)
        else:
            held_back.append((ref, error))
    return Checked(stale=found, held_back=held_back, up_to_date=up_to_date, attempts=attempts)


def _overwritten(listed_etag: Optional[str], recorded_etag: Optional[str]) -> bool:
    """True when both ETags are known and differ (S3 writes them quoted in some APIs, not in others)."""
    if not listed_etag or not recorded_etag:
        return False
    return listed_etag.strip('"') != recorded_etag.strip('"')


def execution_name(refs: Iterable[ObjectRef], pipeline_version: str,
                   attempts: Optional[Mapping[tuple[str, str, str], str]] = None) -> str:
    """A StartExecution name (<= 80 chars of [A-Za-z0-9_-]) that depends only on what it carries.

    The same objects for the same pipeline version always get the same name, so re-sending a
    batch that is running or done starts nothing (ExecutionAlreadyExists). `attempts` (from
    `stale`) marks objects sent again after a recorded failure: a newer failure, a new name.
    https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
    """
    attempts = attempts or {}
    lines = "\n".join(
        "\x1f".join((*ident, attempts[ident]) if ident in attempts else ident)
        for ident in sorted(identity(ref) for ref in refs)
    )
    digest = hashlib.sha256(f"{pipeline_version}\n{lines}".encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
    version = _NAME_UNSAFE.sub("_", pipeline_version)[: MAX_EXECUTION_NAME - _DIGEST_CHARS - len(_NAME_PREFIX) - 2]
    return f"{_NAME_PREFIX}-{version}-{digest}"


def plan(refs: Sequence[ObjectRef], pipeline_version: str,
         max_objects: int = MAX_OBJECTS_PER_EXECUTION,
         max_input_bytes: int = MAX_EXECUTION_INPUT_BYTES,
         attempts: Optional[Mapping[tuple[str, str, str], str]] = None) -> list[tuple[str, ExecutionInput]]:
    """Cut stale refs into (name, ExecutionInput) pairs under the dispatcher's size limits.

    The refs are sorted first, so the same set of stale objects (with the same `attempts`,
    see `Checked`) always yields the same names.
    """
    ordered = sorted(refs, key=identity)
    empty = ExecutionInput(batch_id="x" * MAX_EXECUTION_NAME, pipeline_version=pipeline_version)
    overhead = len(empty.model_dump_json().encode("utf-8"))
    chunks: list[list[ObjectRef]] = []
    current: list[ObjectRef] = []
    size = overhead
    for ref in ordered:
        need = len(ref.model_dump_json().encode("utf-8")) + 1
        if current and (size + need > max_input_bytes or len(current) >= max_objects):
            chunks.append(current)
            current, size = [], overhead
        current.append(ref)
        size += need
    if current:
        chunks.append(current)
    planned = []
    for chunk in chunks:
        name = execution_name(chunk, pipeline_version, attempts)
        by_modality: dict[str, list[ObjectRef]] = {}
        for ref in chunk:
            by_modality.setdefault(ref.modality, []).append(ref)
        planned.append((name, ExecutionInput(batch_id=name, pipeline_version=pipeline_version, **by_modality)))
    return planned


def estimate_cost_usd(stale_by_modality: dict[str, int], stale_bytes_by_modality: dict[str, int]) -> dict[str, float]:
    """Rough USD cost of processing the stale objects, per modality and in total."""
    out: dict[str, float] = {}
    for modality, count in stale_by_modality.items():
        gigabytes = stale_bytes_by_modality.get(modality, 0) / 1024 ** 3
        out[modality] = round(
            count * (_USD_PER_OBJECT.get(modality, 0.0) + _TRANSITIONS_PER_OBJECT * _USD_PER_TRANSITION)
            + gigabytes * _USD_PER_GB.get(modality, 0.0), 4)
    out["total"] = round(sum(out.values()), 4)
    return out


class RetryableSendError(Exception):
    """StartExecution was throttled or failed on the service side after the client's own
    retries: a later attempt can succeed (names are deterministic, so retrying is safe)."""


# StartExecution errors a later attempt can fix.
# https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html
RETRYABLE_START_ERRORS = frozenset({
    "ThrottlingException", "TooManyRequestsException", "ServiceUnavailable", "InternalFailure",
    "InternalServerError", "RequestTimeout",
})
# How many execution ARNs / errors / sample keys one Tally keeps.
KEEP = 25


def object_count(execution_input: ExecutionInput) -> int:
    return sum(len(getattr(execution_input, m)) for m in (*MODALITIES, UNSUPPORTED))


def send(start: Callable[[str, str], str], planned: Sequence[tuple[str, ExecutionInput]], tally: Tally,
         raise_retryable: bool = False) -> None:
    """Start each planned execution with `start(name, input_json) -> execution ARN`; count in `tally`.

    ExecutionAlreadyExists means the same objects for the same pipeline version were sent
    before (running or done): counted as already sent. Other client errors are counted as
    failed with their message; with `raise_retryable`, throttling and service errors raise
    RetryableSendError instead (the Lambda lets its state machine retry the whole batch).
    """
    for name, execution_input in planned:
        count = object_count(execution_input)
        try:
            execution_arn = start(name, execution_input.model_dump_json())
        except Exception as exc:  # botocore ClientError, without importing botocore here
            response = getattr(exc, "response", None)
            if not isinstance(response, dict):
                raise
            code = response.get("Error", {}).get("Code", "")
            if code == "ExecutionAlreadyExists":
                tally.already_sent += count
                continue
            if raise_retryable and code in RETRYABLE_START_ERRORS:
                raise RetryableSendError(f"{name}: {code}: {exc}") from exc
            tally.failed += count
            if len(tally.errors) < KEEP:
                tally.errors.append(f"{name}: {code}: {exc}")
            continue
        tally.sent += count
        tally.executions_started += 1
        if len(tally.execution_arns) < KEEP:
            tally.execution_arns.append(execution_arn)


def pages(refs: Iterator[ObjectRef], size: int) -> Iterator[list[ObjectRef]]:
    page: list[ObjectRef] = []
    for ref in refs:
        page.append(ref)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


# The most items a Distributed Map's ItemReader passes on (ReaderConfig MaxItems).
# https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html
MAX_READER_ITEMS = 100_000_000
# A run whose max_objects is empty or above this goes to the backfill state machine's
# Distributed Map instead of being listed page by page inside the Airflow worker.
DEFAULT_DISTRIBUTED_THRESHOLD = 50_000


def use_distributed(params: RunParams, threshold: int = DEFAULT_DISTRIBUTED_THRESHOLD) -> bool:
    """True when the run is too large (or unbounded) to list inside an Airflow worker."""
    return params.max_objects is None or params.max_objects > threshold


def backfill_input(params: RunParams) -> dict[str, Any]:
    """The backfill state machine's input for a run (step_functions/backfill.py reads these fields).

    Every field is present (JSONPath fails on a missing one); `max_items` bounds how many
    listed objects the Distributed Map reads, not how many are sent.
    """
    return {
        "bucket": params.bucket,
        "prefix": params.prefix,
        "modified_since": params.modified_since.isoformat() if params.modified_since else None,
        "modified_until": params.modified_until.isoformat() if params.modified_until else None,
        "modalities": list(params.modalities),
        "pipeline_version": params.pipeline_version,
        "dry_run": params.dry_run,
        "max_items": min(params.max_objects or MAX_READER_ITEMS, MAX_READER_ITEMS),
        "include_failed": params.include_failed,
    }


def run_execution_name(dag_id: str, run_id: str) -> str:
    """The backfill execution's name for one DAG run: the same on a retry of the start task.

    StartExecution of a Standard workflow with a running execution's name and input returns
    that execution instead of starting another
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
    """
    digest = hashlib.sha256(f"{dag_id}\n{run_id}".encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
    return f"af-{_NAME_UNSAFE.sub('_', dag_id)[: MAX_EXECUTION_NAME - _DIGEST_CHARS - 4]}-{digest}"


def console_link(execution_arn: str) -> str:
    """The Step Functions console page of one execution."""
    region = execution_arn.split(":")[3]
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
