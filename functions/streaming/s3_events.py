"""S3 event notification -> ObjectRefs (one per created object version).

S3 URL-encodes object keys in notifications the way HTML forms do (space -> '+', a real
'+' -> '%2B', UTF-8 percent-escaped), so keys are decoded with `unquote_plus`.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3Model, S3RecordModel

from functions.common.events import ObjectRef
from functions.streaming.classify import classify, needs_content_type

# Looks up the content type the uploader gave (HeadObject); None when unknown.
ContentTypeLookup = Callable[[str, str, Optional[str]], Optional[str]]


@dataclass(frozen=True)
class Skipped:
    """A record of the notification that produces no message, and why (for the logs)."""

    bucket: str
    key: str
    reason: str


def decode_key(raw_key: str) -> str:
    """The object key as stored, from its URL-encoded form in an S3 notification."""
    return unquote_plus(raw_key)


def is_folder_marker(key: str, size: int) -> bool:
    """The zero-byte "folder/" objects that the S3 console creates; they carry no content."""
    return key.endswith("/") and size == 0


def object_refs(
    event: dict[str, Any], content_type_of: ContentTypeLookup | None = None
) -> tuple[list[ObjectRef], list[Skipped]]:
    """Validate an S3 notification and return (refs to forward, records skipped with a reason).

    `content_type_of(bucket, key, version_id)` is asked only when the key's extension does not
    decide the modality. Raises pydantic.ValidationError / ValueError for a malformed event.
    Zero-byte and oversized objects are kept: the pipeline records their failure with a reason.
    """
    model: S3Model = parse(event=event, model=S3Model)
    refs: list[ObjectRef] = []
    skipped: list[Skipped] = []
    for record in model.Records:
        ref, why = _ref(record, content_type_of)
        if ref is None:
            skipped.append(why)  # type: ignore[arg-type]
        else:
            refs.append(ref)
    return refs, skipped


def _ref(record: S3RecordModel, content_type_of: ContentTypeLookup | None) -> tuple[Optional[ObjectRef], Optional[Skipped]]:
    bucket = record.s3.bucket.name
    obj = record.s3.object or record.s3.get_object
    key = decode_key(obj.key) if obj is not None else ""
    if not record.eventName.startswith("ObjectCreated:"):
        return None, Skipped(bucket, key, f"event {record.eventName} is not an object creation")
    if obj is None:  # the Parser model already requires an object (its size and eTag) on a creation
        raise ValueError(f"{record.eventName} record of bucket {bucket} names no object")
    size = int(obj.size or 0)
    if is_folder_marker(key, size):
        return None, Skipped(bucket, key, "folder marker")
    version_id = obj.versionId or None
    if version_id == "null":  # unversioned bucket, or written before versioning was enabled
        version_id = None
    content_type = None
    if content_type_of is not None and needs_content_type(key):
        content_type = content_type_of(bucket, key, version_id)
    ref = ObjectRef(
        bucket=bucket,
        key=key,
        version_id=version_id,
        etag=obj.eTag,
        size=size,
        sequencer=obj.sequencer,
        content_type=content_type,
        modality=classify(key, content_type),
    )
    return ref, None
