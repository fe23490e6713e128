"""The rows of one object version's result, written in the caller's transaction.

write_result replaces every row of (bucket, key, version, pipeline version) with the staged
result and deletes a failure row for it, under the identity's advisory lock (identity.py), so
concurrent deliveries of one version serialise.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from psycopg import Connection
from psycopg.types.json import Jsonb

from functions.common.constants import DB_SCHEMA
from functions.common.staging import Staging
from functions.processing.results.identity import IDENTITY_SQL, identity, lock
from functions.processing.staging.chunks import chunk_pages, embedding_pages
from functions.processing.staging.manifest import Chunk, Embedding, EmbedManifest, ExtractManifest, GenerateManifest

S = DB_SCHEMA


def write_result(
    conn: Connection,
    pipeline_version: str,
    extract: ExtractManifest,
    generate: GenerateManifest,
    embed: EmbedManifest,
    staging: Staging,
    started: float | None = None,
    after: Callable[[Connection, int, dict[int, int]], object] | None = None,
) -> tuple[int, int]:
    """All rows of one object version, inside the caller's transaction. Returns (chunks, embeddings).

    `staging` holds the pages of a large object's chunks and vectors (chunk_pages.py); `after`
    (connection, object id, {chunk ordinal: id}) writes rows of the result that hang off them
    (the compliance findings, steps/store.py) in the same transaction.
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
    inserted = conn.execute(
        f"""INSERT INTO {S}.objects (bucket, key, version_id, etag, size, modality, content_type, detected_format,
                pipeline_version, status, metadata, unavailable, timings, content_sha256)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'succeeded', %s, %s, %s, %s) RETURNING id""",
        (obj.bucket, obj.key, obj.version_id, obj.etag, obj.size, obj.modality, obj.content_type,
         extract.detected_format, pipeline_version, Jsonb(metadata), unavailable, Jsonb(timings), extract.content_sha256),
    ).fetchone()
    if inserted is None:  # INSERT ... VALUES ... RETURNING returns the row it inserted
        raise RuntimeError("INSERT INTO objects returned no id")
    object_id = inserted[0]
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
    if after is not None:
        after(conn, object_id, chunk_ids)
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
