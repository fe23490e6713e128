"""From a bucket listing to the run's candidates: the current versions of the objects that
match its time window and modalities.

Listing shapes read: ListObjectVersions `Versions`, ListObjectsV2 `Contents`, a Distributed
Map's listObjectsV2 ItemReader items, and S3 Inventory rows.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Optional

from functions.common.events import ObjectRef
from functions.reprocess.params import RunParams, parse_datetime
from functions.reprocess.tally import Tally
from functions.streaming.classify import classify

# One page of the listing at a time: the worker never holds more than this many versions.
# 1000 is the most one ListObjectVersions call returns.
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html
PAGE_SIZE = 1000


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
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        return parse_datetime(value, "LastModified")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
