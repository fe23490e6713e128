"""The rule of which object versions a reprocessing run sends: up to date, stale (to send) or
held back (failed with an error a retry cannot fix), asked of PostgreSQL one page or batch
at a time (`stale`).

Nothing here imports Airflow or Lambda, so the same rule runs in an Airflow worker (the
paged path of dags/multimodal_reprocess/tasks.py), in the reprocess_batch Lambda (one
Distributed Map batch, functions/reprocess/batch.py) and in unit tests. The rest of a run
lives beside it: params (RunParams), listing (select), plan (execution names), send, cost,
distributed (the backfill state machine's input), tally and links.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Optional

from functions.common.constants import DB_SCHEMA, TABLE_FAILURES, TABLE_OBJECTS
from functions.common.errors import RETRYABLE_ERROR_NAMES, ReusedResultGoneError
from functions.common.events import ObjectRef
from functions.streaming.executions import identity

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
    ReusedResultGoneError.__name__,  # a resend processes the bytes again (functions/processing/results/reuse.py)
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


@dataclass(frozen=True)
class Checked:
    """What `stale` found among a page or batch of refs."""

    stale: list[ObjectRef]  # to send, in input order
    held_back: list[tuple[ObjectRef, str]]  # failed with an error a retry cannot fix, with that error's name
    up_to_date: int
    # identity -> when its recorded row last changed, for stale refs that have one (a failure a
    # retry can fix, an overwritten object): `plan.plan` puts it in the execution name, so a newer
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
