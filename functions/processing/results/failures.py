"""The failure row of an object version: written by record_failure, never over a succeeded result.

record_failure writes the failure row and marks the object row failed in one transaction, under
the identity's advisory lock (identity.py); a succeeded result of the same version is kept.
"""
from __future__ import annotations

import json

from psycopg.types.json import Jsonb

from functions.common.constants import DB_SCHEMA
from functions.common.db import Database
from functions.common.events import FailureInput, StoreResult
from functions.processing.results.identity import IDENTITY_SQL, identity, lock

S = DB_SCHEMA
MAX_REASON_CHARS = 2000


def failure_reason(failure: FailureInput) -> str:
    """The message of the exception the Lambda raised (Step Functions wraps it in Cause)."""
    cause = failure.error.Cause or ""
    message = cause
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict):
            message = str(parsed.get("errorMessage") or parsed.get("Cause") or cause)
    except ValueError:
        pass
    message = message.strip() or failure.error.Error
    return message[:MAX_REASON_CHARS]


def record_failure(db: Database, failure: FailureInput) -> StoreResult:
    """Write the failure row and the object row (status failed) in one transaction.

    A succeeded result of the same object version and pipeline version is kept as it is: a
    late failure of a duplicate delivery must not hide a good result.
    """
    obj = failure.object
    reason = failure_reason(failure)
    ident = identity(obj, failure.pipeline_version)
    with db.transaction() as conn:
        lock(conn, obj, failure.pipeline_version)
        row = conn.execute(f"SELECT status FROM {S}.objects WHERE {IDENTITY_SQL}", ident).fetchone()
        if row is not None and row[0] == "succeeded":
            return StoreResult(
                bucket=obj.bucket, key=obj.key, version_id=obj.version_id, modality=obj.modality, status="up_to_date",
                reason=f"{failure.failed_step} failed ({reason}) but a succeeded result exists; kept it",
            )
        conn.execute(
            f"""INSERT INTO {S}.failures (bucket, key, version_id, pipeline_version, failed_step, error, reason)
                VALUES (%s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT ON CONSTRAINT failures_identity DO UPDATE
                SET failed_step = EXCLUDED.failed_step, error = EXCLUDED.error, reason = EXCLUDED.reason, at = now()""",
            (*ident, failure.failed_step, failure.error.Error, reason),
        )
        conn.execute(
            f"""INSERT INTO {S}.objects (bucket, key, version_id, etag, size, modality, content_type, pipeline_version,
                    status, metadata)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'failed', %s)
                ON CONFLICT ON CONSTRAINT objects_identity DO UPDATE
                SET status = 'failed', etag = EXCLUDED.etag, size = EXCLUDED.size, metadata = EXCLUDED.metadata,
                    updated_at = now()""",
            (obj.bucket, obj.key, obj.version_id, obj.etag, obj.size, obj.modality, obj.content_type,
             failure.pipeline_version, Jsonb({"failed_step": failure.failed_step, "error": failure.error.Error})),
        )
    return StoreResult(
        bucket=obj.bucket, key=obj.key, version_id=obj.version_id, modality=obj.modality, status="failed", reason=reason
    )
