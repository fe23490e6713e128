"""Identical content is processed once per pipeline version.

extract hashes the object's bytes (sha256) while it downloads them and records the hash in its
manifest and, through store, in `objects.content_sha256`. Before the expensive work it asks
`find_source` for a succeeded result of the same bytes; when there is one, extract returns a
StepResult with `reuse_from`, generate and embed pass it through without calling a model, and
store (`copy_result`) copies that object's chunks, generated outputs and embeddings to rows of
the new object in one transaction, recording the source in `objects.reused_from`.

What makes an earlier result reusable, all in the database's row of it (`find_source`):
* the same sha256 of the bytes and the same pipeline version (which pins the code, the settings
  and the models of a deployment);
* the same modality and the same detected format: the modality comes from the key's extension
  and decides how the bytes are read (a `.txt` and a `.csv` of the same bytes are text and a
  table), the format is what extract found in the bytes for that claim;
* succeeded, and missing no model output that the models deployed now would give (an image
  captioned while generation was not deployed is processed again once it is);
* another object version (an object is never its own source).
Formats whose extraction writes objects named after the object's own key are never reused: an
e-mail message writes its attachments under `attachments/<message key>/`, which a copy of
another message's rows would not do (`NOT_REUSED_FORMATS`).

Why not the ETag: S3's ETag is the MD5 of the bytes only for single-part uploads without SSE-KMS
or SSE-C; the ingest bucket is encrypted with a KMS key, so its ETags are not digests of the
content at all (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html, "ETag"), and a
multipart upload of the same bytes has another ETag anyway. extract downloads every object it
processes, so the sha256 costs no extra read; the ETag only keeps its old job (has the object
changed in place, `is_up_to_date`).

Races. Two identical objects processed at once both find no source and are both processed in
full: each writes only its own rows. A source that is deleted or replaced between extract's
look-up and store's copy: store locks both object identities (the advisory lock every store and
record_failure takes), checks the source row again and compares every copied row count with the
source's; any difference raises ReusedResultGoneError and the transaction rolls back, so no
partial rows are ever written (the failure row names it; a resend processes the object again).
"""
from __future__ import annotations

import time
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

from functions.common.constants import DB_SCHEMA, UNSUPPORTED
from functions.common.db import Database
from functions.common.errors import ReusedResultGoneError
from functions.common.events import ObjectRef, ReuseSource
from functions.processing.results.identity import IDENTITY_SQL, identity, lock
from functions.processing.staging.manifest import ExtractManifest

S = DB_SCHEMA
# Detected formats whose extraction has effects named after the object's own key (see above).
NOT_REUSED_FORMATS = frozenset({"eml"})

_FIND = f"""
    SELECT bucket, key, version_id FROM {S}.objects
    WHERE content_sha256 = %s AND pipeline_version = %s AND status = 'succeeded'
      AND modality = %s AND detected_format = %s AND unavailable <@ %s::text[]
      AND NOT (bucket = %s AND key = %s AND version_id IS NOT DISTINCT FROM %s)
    ORDER BY (reused_from IS NULL) DESC, updated_at, id
    LIMIT 1"""


def find_source(db: Database | None, manifest: ExtractManifest, unavailable_now: list[str]) -> ReuseSource | None:
    """The object whose succeeded result store may copy for the bytes `manifest` describes, or
    None (no database, no hash, an unsupported or never-reused format, no such result). A result
    is reusable only if it misses no model output beyond `unavailable_now` (the roles not
    deployed now). Prefers a result made by the models (not itself a copy), then the oldest.
    Raises DatabaseUnavailableError."""
    obj = manifest.object
    if (db is None or not manifest.content_sha256 or obj.modality == UNSUPPORTED
            or manifest.detected_format in NOT_REUSED_FORMATS):
        return None
    with db.transaction() as conn:
        row = conn.execute(_FIND, (manifest.content_sha256, manifest.pipeline_version, obj.modality,
                                   manifest.detected_format, unavailable_now, obj.bucket, obj.key,
                                   obj.version_id)).fetchone()
    if row is None:
        return None
    return ReuseSource(bucket=row[0], key=row[1], version_id=row[2], content_sha256=manifest.content_sha256)


def copy_result(conn: Connection, pipeline_version: str, extract: ExtractManifest, source: ReuseSource,
                started: float | None = None) -> tuple[int, int]:
    """Replace every row of `extract.object` with a copy of `source`'s result, inside the caller's
    transaction (chunk ids mapped by ordinal). Returns (chunks, embeddings).
    Raises ReusedResultGoneError when the source is gone, changed, or changes while copying."""
    obj = extract.object
    src_ref = ObjectRef(bucket=source.bucket, key=source.key, version_id=source.version_id, size=obj.size,
                        modality=obj.modality)
    if identity(src_ref, pipeline_version) == identity(obj, pipeline_version):
        raise ValueError("an object version cannot reuse its own result")
    # This object's lock first, as write_result takes it; then the source's, so that neither a
    # store nor a record_failure of the source can change its rows while they are copied.
    lock(conn, obj, pipeline_version)
    lock(conn, src_ref, pipeline_version)
    src = conn.execute(
        f"""SELECT o.id,
                   (SELECT count(*) FROM {S}.chunks WHERE object_id = o.id),
                   (SELECT count(*) FROM {S}.generated WHERE object_id = o.id),
                   (SELECT count(*) FROM {S}.embeddings WHERE object_id = o.id)
            FROM {S}.objects o
            WHERE {IDENTITY_SQL} AND status = 'succeeded' AND content_sha256 = %s AND modality = %s
              AND detected_format = %s""",
        (*identity(src_ref, pipeline_version), source.content_sha256, obj.modality, extract.detected_format),
    ).fetchone()
    where = f"s3://{source.bucket}/{source.key} (version {source.version_id or 'null'})"
    if src is None:
        raise ReusedResultGoneError(f"the result of the same bytes that extract chose to reuse, {where}, is no longer "
                                    "a succeeded result of these bytes (deleted or processed again since); "
                                    "nothing was written: send the object again to process it")
    source_id, n_chunks, n_generated, n_embeddings = src
    conn.execute(f"DELETE FROM {S}.objects WHERE {IDENTITY_SQL}", identity(obj, pipeline_version))
    timings = dict(extract.timings)
    if started is not None:
        timings["store_s"] = round(time.monotonic() - started, 3)
    reused_from = {"bucket": source.bucket, "key": source.key, "version_id": source.version_id}
    inserted = conn.execute(
        f"""INSERT INTO {S}.objects (bucket, key, version_id, etag, size, modality, content_type, detected_format,
                pipeline_version, status, metadata, unavailable, timings, content_sha256, reused_from)
            SELECT %s, %s, %s, %s, %s, %s, %s, detected_format, %s, 'succeeded', metadata, unavailable, %s, %s, %s
            FROM {S}.objects WHERE id = %s RETURNING id""",
        (obj.bucket, obj.key, obj.version_id, obj.etag, obj.size, obj.modality, obj.content_type, pipeline_version,
         Jsonb(timings), source.content_sha256, Jsonb(reused_from), source_id),
    ).fetchone()
    if inserted is None:  # the source row was just read, under its lock
        raise RuntimeError(f"copying the result of {where} inserted no row")
    new_id = inserted[0]
    ids = {"new": new_id, "src": source_id}
    copied = (
        _execute(conn, f"""INSERT INTO {S}.chunks (object_id, ordinal, kind, text, time_start, time_end, duration, page,
                                                  metadata)
                          SELECT %(new)s, ordinal, kind, text, time_start, time_end, duration, page, metadata
                          FROM {S}.chunks WHERE object_id = %(src)s""", ids),
        # A whole-object output keeps chunk_id NULL; a chunk's goes to the copy of its chunk.
        _execute(conn, f"""INSERT INTO {S}.generated (object_id, chunk_id, task, content, model_id, model_version)
                          SELECT %(new)s, nc.id, g.task, g.content, g.model_id, g.model_version
                          FROM {S}.generated g
                          LEFT JOIN {S}.chunks sc ON sc.id = g.chunk_id
                          LEFT JOIN {S}.chunks nc ON nc.object_id = %(new)s AND nc.ordinal = sc.ordinal
                          WHERE g.object_id = %(src)s AND (g.chunk_id IS NULL OR nc.id IS NOT NULL)""", ids),
        _execute(conn, f"""INSERT INTO {S}.embeddings (object_id, chunk_id, model_role, model_id, model_version,
                                                      dimension, embedding)
                          SELECT %(new)s, nc.id, e.model_role, e.model_id, e.model_version, e.dimension, e.embedding
                          FROM {S}.embeddings e
                          JOIN {S}.chunks sc ON sc.id = e.chunk_id
                          JOIN {S}.chunks nc ON nc.object_id = %(new)s AND nc.ordinal = sc.ordinal
                          WHERE e.object_id = %(src)s""", ids),
    )
    if copied != (n_chunks, n_generated, n_embeddings):
        # Rows removed by a writer that does not take the object lock (a person, a clean-up job).
        raise ReusedResultGoneError(f"the result of {where} changed while it was copied (chunks, generated, "
                                    f"embeddings: {n_chunks, n_generated, n_embeddings} before, {copied} copied); "
                                    "nothing was written: send the object again to process it")
    conn.execute(f"DELETE FROM {S}.failures WHERE {IDENTITY_SQL}", identity(obj, pipeline_version))
    return n_chunks, n_embeddings


def _execute(conn: Connection, sql: str, params: dict[str, Any]) -> int:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.rowcount
