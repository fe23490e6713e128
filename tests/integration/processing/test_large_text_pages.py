"""A text with thousands of chunks: chunks and vectors travel in staged pages, every chunk gets
its row and its vector, the setting caps it with a clear failure row."""
from __future__ import annotations

import json

from functions.common.constants import DB_SCHEMA, ENV_MAX_CHUNKS, ENV_MAX_TEXT_BYTES
from functions.common.staging import object_prefix
from functions.processing.staging.chunks import CHUNK_PAGE_ITEMS


def _log_lines(lines: int) -> bytes:
    """Log lines of nine words (each line about 30 tokens, a 40-token chunk); line n names `needle<n>`."""
    return "\n".join(f"2026-11-30T12:00:{n % 60:02d}Z INFO worker{n % 7} handled order needle{n} in {n % 97} ms"
                     for n in range(lines)).encode("utf-8")


def test_a_text_of_more_chunks_than_one_page_gets_every_chunk_and_vector(pipeline, s3, staging_bucket):
    # About 2,600 chunks of 40 tokens: the manifest's own page and one staged page.
    obj = pipeline.put("logs/service.log", _log_lines(2_600), "text", "text/plain")

    result = pipeline.run(obj)

    assert result["status"] == "succeeded", result
    with pipeline.db.transaction() as conn:
        object_id, metadata = conn.execute(
            f"SELECT id, metadata FROM {DB_SCHEMA}.objects WHERE key = %s", (obj.key,)).fetchone()
        ordinals = [r[0] for r in conn.execute(
            f"SELECT ordinal FROM {DB_SCHEMA}.chunks WHERE object_id = %s ORDER BY ordinal", (object_id,))]
        vectors = conn.execute(
            f"SELECT count(*), count(DISTINCT chunk_id) FROM {DB_SCHEMA}.embeddings"
            " WHERE object_id = %s AND model_role = 'text_embedding'", (object_id,)).fetchone()
        last = conn.execute(
            f"SELECT ordinal FROM {DB_SCHEMA}.chunks WHERE object_id = %s AND text LIKE %s ORDER BY ordinal",
            (object_id, "%needle2599 %")).fetchall()
    count = len(ordinals)
    assert count > CHUNK_PAGE_ITEMS and result["chunks"] == count
    assert ordinals == list(range(count))  # no gap or repeat where pages meet
    assert vectors == (count, count)  # one vector per chunk, every page
    assert last and last[-1][0] == count - 1  # the end of the file is in the last chunk
    assert metadata["words"] == 2_600 * 9
    # The chunks beyond the first page went through staging in pages, and so did their vectors.
    prefix = f"{object_prefix(pipeline.version, obj)}/"
    staged = {o["Key"][len(prefix):] for o in s3.list_objects_v2(Bucket=staging_bucket, Prefix=prefix)["Contents"]}
    pages = (count - 1) // CHUNK_PAGE_ITEMS
    assert {f"chunks/{n:05d}.json" for n in range(1, pages + 1)} <= staged
    assert {f"embeddings/{n:05d}.json" for n in range(1, pages + 1)} <= staged
    extract = json.loads(s3.get_object(Bucket=staging_bucket, Key=prefix + "extract.json")["Body"].read())
    assert len(extract["chunks"]) == CHUNK_PAGE_ITEMS and len(extract["chunk_pages"]) == pages


def test_a_text_above_the_chunk_setting_is_one_clear_failure_row(pipeline, monkeypatch):
    monkeypatch.setenv(ENV_MAX_CHUNKS, "100")
    obj = pipeline.put("logs/too-many.log", _log_lines(400), "text", "text/plain")

    result = pipeline.run(obj)

    assert result["status"] == "failed"
    rows = pipeline.rows(obj)
    assert rows["chunks"] == [] and rows["embeddings"] == []
    assert rows["failure"][0] == "extract"
    assert "more than 100 chunks" in rows["failure"][2] and "MAX_CHUNKS" in rows["failure"][2]


def test_a_text_above_the_byte_setting_is_refused_naming_the_setting(pipeline, monkeypatch):
    monkeypatch.setenv(ENV_MAX_TEXT_BYTES, "1000")
    obj = pipeline.put("logs/big.log", _log_lines(100), "text", "text/plain")

    result = pipeline.run(obj)

    assert result["status"] == "failed"
    reason = pipeline.rows(obj)["failure"][2]
    assert "above the 1000-byte limit for text" in reason and "max_text_mb" in reason
