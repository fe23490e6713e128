"""The compliance rows of one object version, written in the store step's transaction.

`write_findings` runs after results/writes.py has replaced the object's rows (so earlier findings
are already gone with them, ON DELETE CASCADE) and `copy_findings` after results/reuse.py copied
another object's result: either way re-processing leaves exactly one set of findings.
"""
from __future__ import annotations

from typing import Any, Optional

from psycopg import Connection
from psycopg.types.json import Jsonb

from functions.common.constants import DB_SCHEMA
from functions.compliance.findings import ComplianceManifest

S = DB_SCHEMA


def write_findings(conn: Connection, object_id: int, chunk_ids: dict[int, int], manifest: ComplianceManifest) -> int:
    """Insert the manifest's findings (chunk ordinals mapped to ids) and set the object's summary.
    Returns the number of findings. Raises KeyError for a finding of a chunk that was not stored."""
    rows = [
        (object_id, chunk_ids[f.chunk_ordinal], f.kind, f.type, f.score, f.recognizer, f.start, f.end, f.page,
         f.time_start, f.time_end, f.value_hash, Jsonb(f.metadata), f.model.id, f.model.version)
        for f in manifest.findings
    ]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                f"""INSERT INTO {S}.findings (object_id, chunk_id, kind, type, score, recognizer, char_start, char_end,
                        page, time_start, time_end, value_hash, metadata, model_id, model_version)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                rows,
            )
    conn.execute(f"UPDATE {S}.objects SET compliance = %s WHERE id = %s", (Jsonb(manifest.summary()), object_id))
    return len(rows)


def copy_findings(conn: Connection, source: dict[str, Optional[str]], target: dict[str, Any]) -> int:
    """Copy the findings and summary of the object `source` ({bucket, key, version_id}) to
    `target` ({bucket, key, version_id}), both of `pipeline_version` (in target), chunk by ordinal.
    Returns the number copied."""
    version = target["pipeline_version"]
    src = (source["bucket"], source["key"], source.get("version_id"), version)
    dst = (target["bucket"], target["key"], target.get("version_id"), version)
    cur = conn.execute(
        f"""INSERT INTO {S}.findings (object_id, chunk_id, kind, type, score, recognizer, char_start, char_end, page,
                time_start, time_end, value_hash, metadata, model_id, model_version)
            SELECT t.id, tc.id, f.kind, f.type, f.score, f.recognizer, f.char_start, f.char_end, f.page,
                   f.time_start, f.time_end, f.value_hash, f.metadata, f.model_id, f.model_version
            FROM {S}.objects s
            JOIN {S}.findings f ON f.object_id = s.id
            JOIN {S}.chunks sc ON sc.id = f.chunk_id
            JOIN {S}.objects t ON t.bucket = %s AND t.key = %s AND t.version_id IS NOT DISTINCT FROM %s
                                  AND t.pipeline_version = %s
            JOIN {S}.chunks tc ON tc.object_id = t.id AND tc.ordinal = sc.ordinal
            WHERE s.bucket = %s AND s.key = %s AND s.version_id IS NOT DISTINCT FROM %s AND s.pipeline_version = %s""",
        (*dst, *src),
    )
    conn.execute(
        f"""UPDATE {S}.objects t SET compliance = s.compliance FROM {S}.objects s
            WHERE t.bucket = %s AND t.key = %s AND t.version_id IS NOT DISTINCT FROM %s AND t.pipeline_version = %s
              AND s.bucket = %s AND s.key = %s AND s.version_id IS NOT DISTINCT FROM %s AND s.pipeline_version = %s""",
        (*dst, *src),
    )
    return cur.rowcount
