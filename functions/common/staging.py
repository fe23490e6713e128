"""The staging area: where steps leave bulk data for the next step (only pointers cross states).

Layout (docs/contracts.md):
    s3://$STAGING_BUCKET/staging/<pipeline_version>/<sha256(bucket/key/version)>/<step>.json
    ... and sibling artefacts (thumbnail.jpg, keyframes/0003.jpg, audio/0001.wav, ...)
Keys depend only on the object version, the pipeline version and the artefact name, so a
re-run overwrites what an earlier attempt wrote.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from functions.common.aws_errors import s3_errors
from functions.common.constants import STAGING_PREFIX
from functions.common.events import ObjectRef, S3Pointer


def object_hash(obj: ObjectRef) -> str:
    """sha256 of bucket/key/version ("null" for unversioned buckets, as S3 names it)."""
    ident = f"{obj.bucket}/{obj.key}/{obj.version_id or 'null'}"
    return hashlib.sha256(ident.encode("utf-8")).hexdigest()


def object_prefix(pipeline_version: str, obj: ObjectRef) -> str:
    return f"{STAGING_PREFIX}/{pipeline_version}/{object_hash(obj)}"


def s3_uri(pointer: S3Pointer) -> str:
    return f"s3://{pointer.bucket}/{pointer.key}"


class Staging:
    """Reads and writes one object version's staging artefacts.

    Raises StagingUnavailableError for S3 errors a retry can fix (aws_errors.is_retryable:
    SlowDown, 5xx, timeouts, connection resets); anything else (AccessDenied, NoSuchBucket)
    is a configuration error and surfaces as it is.
    """

    def __init__(self, s3_client: Any, bucket: str, pipeline_version: str, obj: ObjectRef) -> None:
        if not bucket:
            raise ValueError("no staging bucket configured")
        self._s3 = s3_client
        self.bucket = bucket
        self.prefix = object_prefix(pipeline_version, obj)

    def pointer(self, name: str) -> S3Pointer:
        return S3Pointer(bucket=self.bucket, key=f"{self.prefix}/{name}")

    def manifest_pointer(self, step: str) -> S3Pointer:
        return self.pointer(f"{step}.json")

    def put_bytes(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> S3Pointer:
        pointer = self.pointer(name)
        put_bytes(self._s3, pointer, data, content_type)
        return pointer

    def put_json(self, name: str, value: Any) -> S3Pointer:
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self.put_bytes(name, data, "application/json")

    def get_bytes(self, name: str) -> bytes:
        return get_bytes(self._s3, self.pointer(name))

    def get_json(self, name: str) -> Any:
        return json.loads(self.get_bytes(name))

    def get_head(self, key: str, limit: int) -> bytes:
        """The first `limit` bytes of a staged key (a ranged GET: a 100 MB text is not read
        to take its beginning)."""
        with s3_errors(f"cannot read s3://{self.bucket}/{key}"):
            return self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{limit - 1}")["Body"].read()


def put_bytes(s3_client: Any, pointer: S3Pointer, data: bytes, content_type: str) -> None:
    with s3_errors(f"cannot write s3://{pointer.bucket}/{pointer.key}"):
        s3_client.put_object(Bucket=pointer.bucket, Key=pointer.key, Body=data, ContentType=content_type)


def get_bytes(s3_client: Any, pointer: S3Pointer) -> bytes:
    with s3_errors(f"cannot read s3://{pointer.bucket}/{pointer.key}"):
        return s3_client.get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read()


def get_json(s3_client: Any, pointer: S3Pointer) -> Any:
    return json.loads(get_bytes(s3_client, pointer))

