"""One batch of the backfill state machine's Distributed Map: filter, resolve, check, send.

The Distributed Map's ItemBatcher hands the reprocess_batch Lambda up to 1,000 listed
objects at a time, in this shape
(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itembatcher.html):

    {"Items": [{"Key", "Size", "LastModified", "Etag", "StorageClass"}, ...],   # listObjectsV2
     "BatchInput": {"bucket", "prefix", "modified_since", "modified_until", "modalities",
                    "pipeline_version", "dry_run", "max_items", "include_failed"}}

S3 Inventory rows (`Bucket`, `Key`, `VersionId`, `IsLatest`, `Size`, `LastModifiedDate`)
are accepted too. A ListObjectsV2 listing carries no version ids, so the current version of
each selected object is read with HeadObject; one database query per batch finds the stale
ones and the failed ones a retry cannot fix (held back, counted by error name: core.stale);
the stale ones leave as pipeline executions with deterministic names (or are only counted: dry run).
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from functions.common.events import ObjectRef
from functions.reprocess.core import stale
from functions.reprocess.listing import select
from functions.reprocess.params import RunParams
from functions.reprocess.plan import plan
from functions.reprocess.send import send
from functions.reprocess.tally import KEEP, Tally

# HeadObject calls in flight per batch: 1,000 sequential calls would take ~20 s; 16 keep a
# batch within a few seconds without crowding the function's connection pool (botocore's
# default max_pool_connections is 10; the handler's client is configured to match this).
HEAD_CONCURRENCY = 16
_SAMPLE_KEYS = 5


class RunInput(BaseModel):
    """The run's parameters, copied into every batch by the ItemBatcher's BatchInput."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    bucket: str = Field(min_length=3, max_length=63)
    pipeline_version: str = Field(min_length=1)
    prefix: str = ""
    modified_since: Optional[str] = None
    modified_until: Optional[str] = None
    modalities: Optional[list[str]] = None
    dry_run: bool = False
    max_items: Optional[int] = None
    include_failed: bool = False

    def params(self) -> RunParams:
        """As RunParams (ValueError names a bad field). max_items bounds the listing, not the sends."""
        return RunParams.from_mapping({**self.model_dump(exclude={"max_items"}), "max_objects": None})


class ListedItem(BaseModel):
    """One item of the batch: a listObjectsV2 entry, or an S3 Inventory row."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    Key: str = Field(min_length=1)
    Size: Optional[int] = 0
    LastModified: Optional[float | str] = None
    LastModifiedDate: Optional[str] = None
    ETag: Optional[str] = None
    Etag: Optional[str] = None
    VersionId: Optional[str] = None
    IsLatest: Optional[bool | str] = None


class BatchEvent(BaseModel):
    """What the Distributed Map passes to the Lambda for one batch."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    Items: list[ListedItem] = Field(max_length=10_000)
    BatchInput: RunInput


def process_batch(
    event: BatchEvent,
    *,
    head: Callable[[str, str], Optional[dict[str, Any]]],
    query: Callable[[str, dict], list[tuple]],
    start: Callable[[str, str], str],
) -> dict[str, Any]:
    """Send (or, on a dry run, count) the stale objects of one batch; return the batch's Tally.

    Failed objects a retry cannot fix are held back and counted by error name, unless the run
    asked for `include_failed` (core.stale).

    `head(bucket, key)` returns HeadObject's response, or None when the object is gone;
    `query(sql, params)` runs one SELECT; `start(name, input_json)` starts one pipeline
    execution and returns its ARN. Raises ValueError for bad run parameters and
    RetryableSendError when StartExecution is throttled (the state machine retries the batch;
    the names make that safe).
    """
    params = event.BatchInput.params()
    tally = Tally()
    entries = [item.model_dump(exclude_none=True) for item in event.Items]
    refs = select(params.bucket, entries, params, tally)
    refs = _current_versions(params.bucket, refs, {e["Key"] for e in entries if e.get("VersionId")}, head, tally)
    checked = stale(refs, params.pipeline_version, query, include_failed=params.include_failed)
    tally.count_checked(checked)
    tally.include_failed = params.include_failed
    tally.sample_keys.extend(ref.key for ref in checked.stale[:_SAMPLE_KEYS])
    planned = plan(checked.stale, params.pipeline_version, attempts=checked.attempts)
    tally.executions_planned += len(planned)
    if not params.dry_run:
        send(start, planned, tally, raise_retryable=True)
    result = tally.as_dict()
    result["execution_arns"] = result["execution_arns"][:KEEP]
    return result


def _current_versions(bucket: str, refs: list[ObjectRef], versioned_keys: set[str],
                      head: Callable[[str, str], Optional[dict[str, Any]]], tally: Tally) -> list[ObjectRef]:
    """Fill in the current version id of refs listed without one (ListObjectsV2 items).

    An object deleted since the listing is dropped and counted as `gone`. An object
    overwritten since the listing gets its newer version, which is the one to process.
    """
    todo = [ref for ref in refs if ref.key not in versioned_keys]
    if not todo:
        return refs
    with ThreadPoolExecutor(max_workers=HEAD_CONCURRENCY) as pool:
        heads = dict(zip((ref.key for ref in todo), pool.map(lambda ref: head(bucket, ref.key), todo)))
    out = []
    for ref in refs:
        if ref.key not in heads:
            out.append(ref)
            continue
        response = heads[ref.key]
        if response is None:
            tally.gone += 1
            continue
        version = response.get("VersionId")
        out.append(ref.model_copy(update={
            "version_id": None if version in (None, "", "null") else version,
            "etag": (response.get("ETag") or "").strip('"') or ref.etag,
            "size": int(response.get("ContentLength", ref.size)),
        }))
    return out

