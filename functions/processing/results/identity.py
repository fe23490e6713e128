"""What one result is in the database: an object version under a pipeline version, and the lock
that serialises every write to it.

store, record_failure and the copy of a reused result (functions/processing/results/reuse.py) take the
same transaction-scoped advisory lock on the identity before they touch its rows, so concurrent
deliveries of one version (or a copy racing a store) run one after another.
"""
from __future__ import annotations

import json
from typing import Any

from psycopg import Connection

from functions.common.constants import DB_SCHEMA
from functions.common.db import Database
from functions.common.events import ObjectRef

# The WHERE clause of one identity, with identity(...) as its parameters.
IDENTITY_SQL = "bucket = %s AND key = %s AND version_id IS NOT DISTINCT FROM %s AND pipeline_version = %s"


def identity(obj: ObjectRef, pipeline_version: str) -> tuple[Any, ...]:
    return (obj.bucket, obj.key, obj.version_id, pipeline_version)


def lock(conn: Connection, obj: ObjectRef, pipeline_version: str) -> None:
    """Wait for, then hold until the transaction ends, the lock on this identity."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (json.dumps(identity(obj, pipeline_version)),))


def is_up_to_date(db: Database, obj: ObjectRef, pipeline_version: str) -> bool:
    """True when this object version already has a succeeded result for this pipeline version."""
    with db.transaction() as conn:
        row = conn.execute(f"SELECT status, etag FROM {DB_SCHEMA}.objects WHERE {IDENTITY_SQL}", identity(obj, pipeline_version)).fetchone()
    if row is None or row[0] != "succeeded":
        return False
    return obj.etag is None or row[1] is None or row[1] == obj.etag
