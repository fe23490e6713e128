"""Shared by the whole-pipeline fault, duplicate and bad-input tests.

Every test module in this folder runs one LocalPipeline (moto S3 + Step Functions with the real ASL,
mock Kafka, pgserver, local model servers) and then judges each uploaded object by what it
left behind: PostgreSQL rows, staging artefacts, the failed-items bucket.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

from functions.common.constants import DB_SCHEMA

S = DB_SCHEMA


@dataclass
class Outcome:
    """What one object version left in PostgreSQL."""

    key: str
    version_id: Optional[str]
    object_ids: tuple[int, ...] = ()
    object_rows: int = 0
    status: Optional[str] = None
    chunks: int = 0
    embeddings: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (failed_step, error, reason)

    @property
    def complete(self) -> bool:
        """One succeeded object row with chunks, each chunk embedded, and no failure row."""
        return (self.object_rows == 1 and self.status == "succeeded" and self.chunks > 0
                and self.embeddings >= self.chunks and not self.failures)

    @property
    def failed(self) -> bool:
        """One failed object row, exactly one failure row with a reason, and no result rows."""
        return (self.object_rows == 1 and self.status == "failed" and self.chunks == 0 and self.embeddings == 0
                and len(self.failures) == 1 and bool(self.failures[0][2].strip()))

    @property
    def failure(self) -> tuple[str, str, str]:
        return self.failures[0]


def outcomes(db_env: dict[str, str], bucket: str) -> dict[str, Outcome]:
    """Outcome per key of `bucket` (every version and pipeline version folded into one)."""
    from functions.common.db import DbConfig, open_connection

    found: dict[str, Outcome] = {}
    with open_connection(DbConfig.from_env(db_env)) as conn:
        for object_id, key, version, status, chunks, embeddings in conn.execute(
            f"""SELECT o.id, o.key, o.version_id, o.status,
                       (SELECT count(*) FROM {S}.chunks c WHERE c.object_id = o.id),
                       (SELECT count(*) FROM {S}.embeddings e WHERE e.object_id = o.id)
                FROM {S}.objects o WHERE o.bucket = %s""", (bucket,)).fetchall():
            o = found.setdefault(key, Outcome(key, version))
            o.object_rows += 1
            o.object_ids += (object_id,)
            o.status, o.chunks, o.embeddings = status, chunks, embeddings
        for key, version, step, error, reason in conn.execute(
                f"SELECT key, version_id, failed_step, error, reason FROM {S}.failures WHERE bucket = %s",
                (bucket,)).fetchall():
            found.setdefault(key, Outcome(key, version)).failures.append((step, error, reason))
    return found


def staged_names(s3: Any, staging_bucket: str, pipeline_version: str, bucket: str, key: str,
                 version_id: Optional[str]) -> list[str]:
    """Artefact names (relative to the object's staging prefix) of one object version."""
    from functions.common.events import ObjectRef
    from functions.common.staging import object_prefix

    ref = ObjectRef(bucket=bucket, key=key, version_id=version_id, size=1, modality="text")
    prefix = object_prefix(pipeline_version, ref) + "/"
    names: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=staging_bucket, Prefix=prefix):
        names.extend(o["Key"][len(prefix):] for o in page.get("Contents", []))
    return sorted(names)


def wait_for(sfn: Any, arns: list[str], timeout_s: float = 180) -> list[dict]:
    """Poll DescribeExecution until every execution left RUNNING."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = [sfn.describe_execution(executionArn=a) for a in arns]
        if all(d["status"] != "RUNNING" for d in described) or time.monotonic() > deadline:
            return described
        time.sleep(0.5)


def task_failures(sfn: Any, execution_arn: str) -> list[tuple[str, str]]:
    """(error, cause) of every failed Lambda task attempt in one execution's history."""
    from local.history import history

    failed = []
    for event in history(sfn, execution_arn):
        details = event.get("taskFailedEventDetails")
        if details:
            failed.append((details.get("error", ""), details.get("cause", "")))
    return failed
