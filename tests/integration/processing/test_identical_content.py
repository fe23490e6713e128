"""Identical content is not processed twice: the same bytes under another key or version get rows
of their own, copied from the earlier result, without a model call (functions/processing/results/reuse.py).

Model calls are counted where they arrive: at the SageMaker Runtime stand-in in front of the
model containers."""
from __future__ import annotations

import hashlib

import pytest
from media_files import long_text, silent_video, words_image

from functions.common.constants import DB_SCHEMA, ENV_MODEL_ENDPOINTS, MODEL_ROLES
from functions.reprocess.core import retry_can_fix

S = DB_SCHEMA


def _calls(model_profile) -> dict[str, int]:
    from local.model_servers import endpoint_name

    return {role: model_profile.runtime.invocations(endpoint_name(role)) for role in MODEL_ROLES}


def _reuse_columns(pipeline, obj) -> tuple:
    with pipeline.db.transaction() as conn:
        return conn.execute(
            f"SELECT content_sha256, reused_from FROM {S}.objects WHERE bucket = %s AND key = %s"
            " AND version_id IS NOT DISTINCT FROM %s", (obj.bucket, obj.key, obj.version_id)).fetchone()


def _vectors(pipeline, obj) -> list[tuple]:
    """(chunk ordinal, role, the vector as text) of every embedding of the object."""
    with pipeline.db.transaction() as conn:
        return conn.execute(
            f"SELECT c.ordinal, e.model_role, e.embedding::text FROM {S}.embeddings e"
            f" JOIN {S}.chunks c ON c.id = e.chunk_id JOIN {S}.objects o ON o.id = e.object_id"
            " WHERE o.key = %s AND o.version_id IS NOT DISTINCT FROM %s ORDER BY 1, 2",
            (obj.key, obj.version_id)).fetchall()


def _same_result(pipeline, first, second) -> None:
    """The second object's rows hold what the first's hold: chunks, generated outputs, embeddings."""
    a, b = pipeline.content(first), pipeline.content(second)
    assert b["object"] == a["object"]
    assert (b["chunks"], b["generated"], b["embeddings"]) == (a["chunks"], a["generated"], a["embeddings"])
    assert _vectors(pipeline, second) == _vectors(pipeline, first)
    assert pipeline.rows(second)["object"]["id"] != pipeline.rows(first)["object"]["id"]


def _reset_contexts() -> None:
    """Handlers build their clients on first use: forget them, as a new Lambda container would."""
    import importlib

    for step in ("extract", "generate", "embed", "store"):
        importlib.import_module(f"functions.{step}.handler").resources.clear()


@pytest.mark.parametrize("second_key", ["copies/notes again.txt", "docs/notes.txt"], ids=["another key", "another version"])
def test_same_text_bytes_reuse_the_result_without_a_model_call(pipeline, model_profile, second_key):
    # Given a text processed once
    data = long_text(100).encode("utf-8")
    first = pipeline.put("docs/notes.txt", data, "text", "text/plain")
    assert pipeline.run(first)["status"] == "succeeded"
    calls = _calls(model_profile)
    # When the same bytes arrive under another key (or as a new version of the same key)
    second = pipeline.put(second_key, data, "text", "text/plain")
    assert (second.key, second.version_id) != (first.key, first.version_id)

    result = pipeline.run(second)

    # Then it has rows of its own, equal in content to the first's, and no model was called
    assert result["status"] == "succeeded" and result["reused"] is True
    assert result["chunks"] == len(pipeline.rows(first)["chunks"]) > 1
    assert _calls(model_profile) == calls
    _same_result(pipeline, first, second)
    # And the database says from which object, and the hash of the bytes both share
    sha = hashlib.sha256(data).hexdigest()
    assert _reuse_columns(pipeline, first) == (sha, None)
    assert _reuse_columns(pipeline, second) == (sha, {"bucket": first.bucket, "key": first.key,
                                                      "version_id": first.version_id})


def _processed(pipeline, model_profile, key: str, data: bytes, modality: str, content_type: str):
    """`data` put under `key` and run through the pipeline once; its ObjectRef and the model
    calls made so far (what a later object must, or must not, add to)."""
    obj = pipeline.put(key, data, modality, content_type)
    pipeline.run(obj)
    return obj, _calls(model_profile)


def test_same_image_bytes_reuse_ocr_caption_and_both_embeddings(pipeline, model_profile):
    data = words_image()
    first, calls = _processed(pipeline, model_profile, "img/words.png", data, "image", "image/png")
    second = pipeline.put("img/copy of words.png", data, "image", "image/png")

    result = pipeline.run(second)

    assert result["status"] == "succeeded" and result["reused"] is True
    assert _calls(model_profile) == calls  # neither OCR (extract) nor caption, CLIP or MiniLM
    rows = pipeline.rows(second)
    assert {e[1] for e in rows["embeddings"]} == {"image_embedding", "text_embedding"}
    assert [g[1] for g in rows["generated"]] == ["caption"]
    _same_result(pipeline, first, second)


def test_per_chunk_outputs_point_at_the_copys_own_chunks(pipeline, model_profile, tmp_path):
    # A video's captions are per chunk: the copy's generated rows must reference its own chunks
    data = silent_video(tmp_path, seconds=8.0).read_bytes()
    first, calls = _processed(pipeline, model_profile, "video/bars.mp4", data, "video", "video/mp4")
    second = pipeline.put("video/bars copy.mp4", data, "video", "video/mp4")

    pipeline.run(second)

    assert _calls(model_profile) == calls
    _same_result(pipeline, first, second)
    with pipeline.db.transaction() as conn:
        foreign = conn.execute(
            f"SELECT count(*) FROM {S}.generated g JOIN {S}.chunks c ON c.id = g.chunk_id"
            f" WHERE c.object_id <> g.object_id").fetchone()[0]
        per_chunk = conn.execute(
            f"SELECT count(*) FROM {S}.generated g JOIN {S}.objects o ON o.id = g.object_id"
            " WHERE o.key = %s AND g.chunk_id IS NOT NULL", (second.key,)).fetchone()[0]
    assert per_chunk == len(pipeline.rows(second)["chunks"]) >= 1 and foreign == 0  # a caption per chunk, its own


def test_different_bytes_are_processed_in_full(pipeline, model_profile):
    first, calls = _processed(pipeline, model_profile, "docs/a.txt", long_text(100).encode(), "text", "text/plain")
    other = pipeline.put("docs/b.txt", long_text(100).encode() + b" One more sentence.", "text", "text/plain")

    result = pipeline.run(other)

    assert result["status"] == "succeeded" and result["reused"] is False
    assert _calls(model_profile)["text_embedding"] > calls["text_embedding"]
    assert _reuse_columns(pipeline, other)[1] is None
    assert _reuse_columns(pipeline, other)[0] != _reuse_columns(pipeline, first)[0]


def test_same_bytes_in_another_modality_are_processed_in_full(pipeline, model_profile):
    # The extension decides how bytes are read: the same lines as text and as a CSV table differ
    data = b"Region,Q1,Q2\nNorth,120,130\nSouth,90,95\n"
    as_text, calls = _processed(pipeline, model_profile, "docs/figures.txt", data, "text", "text/plain")
    as_table = pipeline.put("docs/figures.csv", data, "document", "text/csv")

    result = pipeline.run(as_table)

    assert result["status"] == "succeeded" and result["reused"] is False
    assert _calls(model_profile) != calls
    assert _reuse_columns(pipeline, as_table) == (_reuse_columns(pipeline, as_text)[0], None)


def test_a_result_made_without_a_model_is_not_reused_once_the_model_is_deployed(pipeline, model_profile, monkeypatch):
    # Given an image processed while no model was deployed
    import os

    endpoints = os.environ[ENV_MODEL_ENDPOINTS]
    monkeypatch.setenv(ENV_MODEL_ENDPOINTS, "{}")
    _reset_contexts()
    data = words_image()
    bare = pipeline.put("img/early.png", data, "image", "image/png")
    pipeline.run(bare)
    assert set(pipeline.rows(bare)["object"]["unavailable"]) >= {"ocr", "generation"}
    # When the same bytes arrive after the models were deployed
    monkeypatch.setenv(ENV_MODEL_ENDPOINTS, endpoints)
    _reset_contexts()
    calls = _calls(model_profile)
    later = pipeline.put("img/later.png", data, "image", "image/png")

    result = pipeline.run(later)

    # Then they are processed in full, with every model
    assert result["status"] == "succeeded" and result["reused"] is False
    assert _calls(model_profile)["ocr"] > calls["ocr"] and _calls(model_profile)["generation"] > calls["generation"]
    assert pipeline.rows(later)["object"]["unavailable"] == []


def test_two_copies_extracted_before_either_is_stored_are_both_processed_in_full(pipeline, model_profile):
    # Given two identical files in one batch: both extracted before either result is stored
    data = long_text(60).encode()
    first = pipeline.put("batch/one.txt", data, "text", "text/plain")
    second = pipeline.put("batch/two.txt", data, "text", "text/plain")
    extracted = [pipeline.run(o, steps=["extract"]) for o in (first, second)]
    assert [e.get("reuse_from") for e in extracted] == [None, None]

    # When both go on through generate, embed and store
    results = [pipeline.run(o, steps=["generate", "embed", "store"], start=e) for o, e in zip((first, second), extracted)]

    # Then both have complete rows of their own (artefacts in their own staging areas), neither a copy
    assert [r["status"] for r in results] == ["succeeded", "succeeded"]
    assert [_reuse_columns(pipeline, o)[1] for o in (first, second)] == [None, None]
    a, b = pipeline.content(first), pipeline.content(second)
    assert a["chunks"] == b["chunks"] and len(a["chunks"]) > 1
    assert _vectors(pipeline, first) == _vectors(pipeline, second)
    assert a["object"]["metadata"]["artefacts"] != b["object"]["metadata"]["artefacts"]


def test_source_stored_again_between_extract_and_store_is_still_copied_whole(pipeline, model_profile):
    data = long_text(80).encode()
    first = pipeline.put("docs/source.txt", data, "text", "text/plain")
    item = {"object": first.model_dump(mode="json"), "pipeline_version": "v-test"}
    embedded = pipeline.run(first, steps=["extract", "generate", "embed"], start=item)
    pipeline.run(first, steps=["store"], start=embedded)
    second = pipeline.put("docs/copy.txt", data, "text", "text/plain")
    extracted = pipeline.run(second, steps=["extract"])
    assert extracted["reuse_from"]["key"] == first.key
    old_id = pipeline.rows(first)["object"]["id"]
    # The source's rows are replaced (new ids) after extract chose it
    pipeline.run(first, steps=["store"], start=embedded)
    assert pipeline.rows(first)["object"]["id"] != old_id

    result = pipeline.run(second, steps=["generate", "embed", "store"], start=extracted)

    assert result["status"] == "succeeded" and result["reused"] is True
    _same_result(pipeline, first, second)


def test_source_deleted_between_extract_and_store_leaves_no_rows_and_a_resend_processes_in_full(pipeline, model_profile):
    # Given a copy whose extract chose an earlier result to reuse
    data = long_text(80).encode()
    first = pipeline.put("docs/gone.txt", data, "text", "text/plain")
    pipeline.run(first)
    second = pipeline.put("docs/stays.txt", data, "text", "text/plain")
    extracted = pipeline.run(second, steps=["extract"])
    assert extracted["reuse_from"]["key"] == first.key
    # When that result is deleted before store copies it
    with pipeline.db.transaction() as conn:
        conn.execute(f"DELETE FROM {S}.objects WHERE key = %s", (first.key,))

    result = pipeline.run(second, steps=["generate", "embed", "store"], start=extracted)

    # Then store wrote no row of the copy: a failure row says why, and reconciliation sends it again
    assert result["status"] == "failed"
    rows = pipeline.rows(second)
    assert rows["chunks"] == [] and rows["embeddings"] == [] and rows["generated"] == []
    failed_step, error, reason = rows["failure"]
    assert (failed_step, error) == ("store", "ReusedResultGoneError") and first.key in reason
    assert retry_can_fix(error)
    # And sent again, it is processed in full with the models
    calls = _calls(model_profile)
    again = pipeline.run(second)
    assert again["status"] == "succeeded" and again["reused"] is False
    assert _calls(model_profile)["text_embedding"] > calls["text_embedding"]
    assert pipeline.rows(second)["failure"] is None and _reuse_columns(pipeline, second)[1] is None
