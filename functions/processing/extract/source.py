"""The object itself: read from the ingest bucket into a local file (never whole into memory),
hashed on the way, and checked to be what its modality claims."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.common.aws_errors import error_code, is_not_found, s3_errors
from functions.common.errors import InvalidObjectError, StagingUnavailableError
from functions.common.events import ObjectRef, SegmentItem, WorkItem
from functions.processing.formats.detect import HEAD_BYTES, as_claimed_document, check_modality, sniff
from functions.processing.staging.manifest import ExtractManifest

_DOWNLOAD_CHUNK = 1024 * 1024


def fetch(s3: Any, item: WorkItem | SegmentItem, source: Path, limit: int) -> tuple[int, ExtractManifest]:
    """Download the object to `source` and check it is what its modality claims; returns its
    size and a manifest naming its format and the sha256 of its bytes (results/reuse.py)."""
    obj = item.object
    digest = hashlib.sha256()
    size = _download(s3, obj, source, limit, digest)
    if size == 0:
        raise InvalidObjectError("the object is empty (0 bytes)")
    with source.open("rb") as f:
        head = f.read(HEAD_BYTES)
    detected = sniff(head, source)
    if obj.modality == "document":
        detected = as_claimed_document(detected, head, obj.key, obj.content_type)
    check_modality(obj.modality, detected, obj.content_type, obj.key)
    return size, ExtractManifest(object=obj, pipeline_version=item.pipeline_version, modality=obj.modality,
                                 detected_format=detected.format, content_sha256=digest.hexdigest())


def refuse_unsupported(s3: Any, obj: ObjectRef) -> None:
    """Raise UnsupportedTypeError naming what the object's first bytes are."""
    response = _get(s3, obj, Range=f"bytes=0-{HEAD_BYTES - 1}")
    head = b"" if response is None else response["Body"].read()
    check_modality(obj.modality, sniff(head), obj.content_type, obj.key)  # always raises for "unsupported"


def _get(s3: Any, obj: ObjectRef, **extra: Any) -> Any:
    """GetObject of this version; None for a range of a zero-byte object."""
    kwargs: dict[str, Any] = {"Bucket": obj.bucket, "Key": obj.key, **extra}
    if obj.version_id and obj.version_id != "null":
        kwargs["VersionId"] = obj.version_id
    with s3_errors(f"cannot read s3://{obj.bucket}/{obj.key}"):
        try:
            return s3.get_object(**kwargs)
        except ClientError as exc:
            if is_not_found(exc):
                raise InvalidObjectError(f"the object version no longer exists ({error_code(exc)})") from exc
            if error_code(exc) == "InvalidRange":
                return None  # zero-byte object asked for a range
            raise


def _download(s3: Any, obj: ObjectRef, target: Path, limit: int, digest: Any) -> int:
    """Stream the object to `target`, updating `digest` (a hashlib object) with every byte; stop
    as soon as it exceeds `limit` bytes."""
    response = _get(s3, obj)
    if response is None:
        return 0
    length = int(response.get("ContentLength") or 0)
    if length > limit:
        raise InvalidObjectError(f"the object is {length} bytes, above MAX_OBJECT_BYTES ({limit})")
    written = 0
    try:
        with target.open("wb") as out:
            for block in response["Body"].iter_chunks(_DOWNLOAD_CHUNK):
                written += len(block)
                if written > limit:
                    raise InvalidObjectError(f"the object is larger than MAX_OBJECT_BYTES ({limit})")
                digest.update(block)
                out.write(block)
    except BotoCoreError as exc:
        raise StagingUnavailableError(f"download of s3://{obj.bucket}/{obj.key} broke off: {exc}") from exc
    return written
