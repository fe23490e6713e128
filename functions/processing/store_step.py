"""store and record_failure: the database writes, one transaction per object version.

store replaces every row of (bucket, key, version, pipeline version) with the new result and
deletes a failure row for it; record_failure writes the failure row and marks the object row
failed, but never over a succeeded result of the same version. Both take a transaction-scoped
advisory lock on the object's identity, so concurrent deliveries of one version serialise.
"""
from __future__ import annotations

import json
import time
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

from functions.common.constants import DB_SCHEMA
from functions.common.db import Database
from functions.common.events import FailureInput, ObjectRef, StepResult, StoreResult
from functions.common.staging import Staging
from functions.processing.context import Context
from functions.processing.chunk_pages import chunk_pages, embedding_pages
from functions.processing.identity import IDENTITY_SQL, identity, lock
from functions.processing.reuse import store_copy
from functions.processing.manifest import Chunk, EmbedManifest, Embedding, ExtractManifest, GenerateManifest

S = DB_SCHEMA
MAX_REASON_CHARS = 2000


def is_up_to_date(db: Database, obj: ObjectRef, pipeline_version: str) -> bool:
    """True when this object version already has a succeeded result for this pipeline version."""
    with db.transaction() as conn:
        row = conn.execute(f"SELECT status, etag FROM {S}.objects WHERE {IDENTITY_SQL}", identity(obj, pipeline_version)).fetchone()
    if row is None or row[0] != "succeeded":
        return False
    return obj.etag is None or row[1] is None or row[1] == obj.etag


def run(previous: StepResult, ctx: Context) -> StoreResult:
    """Write the staged result of one object version. Raises DatabaseUnavailableError."""
    obj = previous.object
    if previous.up_to_date:
        return StoreResult(bucket=obj.bucket, key=obj.key, version_id=obj.version_id, modality=obj.modality, status="up_to_date")
    if previous.reuse_from is not None:
        return store_copy(previous, ctx)
    started = time.monotonic()
    staging = Staging(ctx.s3, ctx.settings.staging_bucket, previous.pipeline_version, obj)
    extract = ExtractManifest.model_validate(staging.get_json("extract.json"))
    generate = GenerateManifest.model_validate(staging.get_json("generate.json"))
    embed = EmbedManifest.model_validate(staging.get_json("embed.json"))
    assert ctx.db is not None, "store needs a database"
    with ctx.db.transaction() as conn:
        counts = write_result(conn, previous.pipeline_version, extract, generate, embed, staging, started)
    return StoreResult(
        bucket=obj.bucket,
        key=obj.key,
        version_id=obj.version_id,
        modality=obj.modality,
        status="succeeded",
        chunks=counts[0],
        embeddings=counts[1],
    )


def write_result(
    conn: Connection,
    pipeline_version: str,
    extract: ExtractManifest,
    generate: GenerateManifest,
    embed: EmbedManifest,
    staging: Staging,
    started: float | None = None,
) -> tuple[int, int]:
    """All rows of one object version, inside the caller's transaction. Returns (chunks, embeddings).

    `staging` holds the pages of a large object's chunks and vectors (chunk_pages.py).
    """
    obj = extract.object
    ident = identity(obj, pipeline_version)
    lock(conn, obj, pipeline_version)
    conn.execute(f"DELETE FROM {S}.objects WHERE {IDENTITY_SQL}", ident)  # cascades to chunks, generated, embeddings
    unavailable = sorted(set(extract.unavailable) | set(generate.unavailable) | set(embed.unavailable))
    models = {role: ref.model_dump() for doc in (extract, generate, embed) for role, ref in doc.models.items()}
    metadata = dict(extract.metadata)
    metadata["models"] = models
    metadata["artefacts"] = {name: f.key for name, f in extract.artefacts.items()}
    timings = {**extract.timings, **generate.timings, **embed.timings}
    if started is not None:
        timings["store_s"] = round(time.monotonic() - started, 3)
    object_id = conn.execute(
        f"""INSERT INTO {S}.objects (bucket, key, version_id, etag, size, modality, content_type, detected_format,
                pipeline_version, status, metadata, unavailable, timings, content_sha256)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'succeeded', %s, %s, %s, %s) RETURNING id""",
        (obj.bucket, obj.key, obj.version_id, obj.etag, obj.size, obj.modality, obj.content_type,
         extract.detected_format, pipeline_version, Jsonb(metadata), unavailable, Jsonb(timings), extract.content_sha256),
    ).fetchone()[0]
    chunk_ids: dict[int, int] = {}
    embeddings = 0
    # A page of chunks and its vectors at a time (embed writes one page of vectors per page of
    # chunks), all in the caller's transaction.
    for (number, chunks), (vector_page, vectors) in zip(chunk_pages(staging, extract), embedding_pages(staging, embed),
                                                        strict=True):
        if number != vector_page:
            raise ValueError(f"page {vector_page} of vectors stands where page {number} of chunks is")
        chunk_ids.update(_insert_chunks(conn, object_id, chunks))
        embeddings += _insert_embeddings(conn, object_id, chunk_ids, vectors)
    _insert_generated(conn, object_id, chunk_ids, generate)
    conn.execute(f"DELETE FROM {S}.failures WHERE {IDENTITY_SQL}", ident)
    return len(chunk_ids), embeddings


def _insert_chunks(conn: Connection, object_id: int, chunks: list[Chunk]) -> dict[int, int]:
    """One pipelined executemany (one network round trip through RDS Proxy, not one per chunk:
    a page of 2,000 chunks would otherwise wait 2,000 round trips). Returns ordinal -> id."""
    rows = []
    for chunk in chunks:
        metadata = dict(chunk.metadata)
        if chunk.image is not None:
            metadata["image_key"] = chunk.image.key
        if chunk.audio is not None:
            metadata["audio_key"] = chunk.audio.key
        rows.append((object_id, chunk.ordinal, chunk.kind, chunk.text, chunk.time_start, chunk.time_end, chunk.duration,
                     chunk.page, Jsonb(metadata)))
    ids: dict[int, int] = {}
    if not rows:
        return ids
    with conn.cursor() as cur:
        cur.executemany(
            f"""INSERT INTO {S}.chunks (object_id, ordinal, kind, text, time_start, time_end, duration, page, metadata)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING ordinal, id""",
            rows,
            returning=True,
        )
        while True:
            for ordinal, chunk_id in cur.fetchall():
                ids[ordinal] = chunk_id
            if not cur.nextset():
                break
    return ids


def _insert_generated(conn: Connection, object_id: int, chunk_ids: dict[int, int], generate: GenerateManifest) -> None:
    rows = [
        (object_id, None if g.chunk_ordinal is None else chunk_ids[g.chunk_ordinal], g.task, Jsonb(g.content),
         g.model.id, g.model.version)
        for g in generate.generated
    ]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                f"""INSERT INTO {S}.generated (object_id, chunk_id, task, content, model_id, model_version)
                    VALUES (%s, %s, %s, %s, %s, %s)""",
                rows,
            )


def _insert_embeddings(conn: Connection, object_id: int, chunk_ids: dict[int, int], embeddings: list[Embedding]) -> int:
    from pgvector import Vector

    rows = [
        (object_id, chunk_ids[e.chunk_ordinal], e.role, e.model.id, e.model.version, e.dimension, Vector(e.vector))
        for e in embeddings
    ]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                f"""INSERT INTO {S}.embeddings (object_id, chunk_id, model_role, model_id, model_version, dimension, embedding)
                    VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                rows,
            )
    return len(rows)


# -- failures ------------------------------------------------------------------------
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
