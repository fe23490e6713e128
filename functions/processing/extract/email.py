"""E-mail messages: the message as a one-page document; each attachment written to the ingest
bucket under ATTACHMENTS_PREFIX, where its S3 notification starts its own processing."""
from __future__ import annotations

import hashlib
from urllib.parse import quote

from botocore.exceptions import ClientError

from functions.common.aws_errors import is_not_found, s3_errors
from functions.processing.extract.job import ExtractJob
from functions.processing.formats import eml
from functions.processing.formats.document import Document


def read(job: ExtractJob) -> Document:
    obj = job.manifest.object
    found = eml.read_eml(job.source, obj.key, job.workdir)
    for attachment in found.attachments:
        if attachment.path is not None and attachment.key is not None:
            _publish(job, attachment)
    return found.document


def _publish(job: ExtractJob, attachment: eml.Attachment) -> None:
    """PutObject of one attachment beside its message, unless that exact content is already
    there: a re-run of extract must not make a new version (and a second notification)."""
    assert attachment.path is not None and attachment.key is not None
    obj = job.manifest.object
    data = attachment.path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with s3_errors(f"cannot write s3://{obj.bucket}/{attachment.key}"):
        try:
            current = job.s3.head_object(Bucket=obj.bucket, Key=attachment.key)
            if current.get("Metadata", {}).get("sha256") == digest:
                return
        except ClientError as exc:
            if not is_not_found(exc):
                raise
        # S3 user metadata is US-ASCII: the message's key is percent-encoded.
        job.s3.put_object(Bucket=obj.bucket, Key=attachment.key, Body=data, ContentType=attachment.content_type,
                          Metadata={"sha256": digest, "source-key": quote(obj.key, safe="/"),
                                    "source-version": obj.version_id or "null"})
