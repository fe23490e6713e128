"""Hybrid search against real rankings in PostgreSQL + pgvector (functions/search/core.py).

The corpus (conftest.py): a 40-page pump manual whose pages are nearly alike, a note about a
cartographer, parts lists that differ only by their part code, an audio briefing in three
time ranges, an old archive note, an older pipeline version's row, another bucket's row,
two images and a video with two keyframes (CLIP embeddings).
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from search_corpus import BUCKET, CODE, OTHER_BUCKET

from functions.common.constants import MODEL_IMAGE_EMBEDDING, MODEL_TEXT_EMBEDDING
from functions.search import core
from functions.search.core import Filters, Scope, Tuning

IN_BUCKET = Scope(buckets=(BUCKET,))


def _search(conn, embedder, query, **kwargs):
    kwargs.setdefault("scope", IN_BUCKET)
    return core.search(conn, query, embedder, **kwargs)


def _exact_order(stored, role, query_vector, chunk_ids=None) -> list[int]:
    """Cosine ranking in numpy over the stored vectors: the truth the database must match."""
    q = np.asarray(query_vector)
    scored = [(float(np.dot(q, v) / (np.linalg.norm(q) * np.linalg.norm(v))), cid)
              for (r, cid), v in stored["vectors"].items() if r == role and (chunk_ids is None or cid in chunk_ids)]
    return [cid for _, cid in sorted(scored, key=lambda s: (-s[0], s[1]))]


def _chunk_ids(stored, predicate) -> set[int]:
    return {cid for obj in stored["objects"] if predicate(obj) for cid in obj.ids}


def test_an_exact_code_is_found_first_even_when_the_embedding_ranks_look_alikes_above_it(conn, embedder, stored):
    # Given six parts lists that differ only by their code, and the text embedding of the query
    text_leg = core.nearest(conn, MODEL_TEXT_EMBEDDING, embedder(MODEL_TEXT_EMBEDDING, CODE), 10, scope=IN_BUCKET)
    exact_chunk = next(o for o in stored["objects"] if o.key == f"parts/{CODE.lower()}.txt").ids[0]
    vector_rank = [cid for cid, _ in text_leg.ranked].index(exact_chunk) + 1
    assert vector_rank > 1, "the embedding alone already ranks the exact code first: the corpus no longer shows the point"
    # When searching for the code
    result = _search(conn, embedder, CODE, limit=5)
    # Then BM25 puts the one list with exactly that code first, its passage holding the code
    assert result.files[0].key == f"parts/{CODE.lower()}.txt"
    assert "lexical" in result.files[0].matched_by and CODE in result.files[0].passages[0].text


def test_a_paraphrase_with_no_shared_word_finds_the_note_by_meaning(conn, embedder):
    # (among texts and documents: the tiny CLIP here has random weights, so its image leg is noise)
    result = _search(conn, embedder, "mapmaker charting the shoreline", limit=5,
                     filters=Filters(modalities=("text", "document")))
    top = result.files[0]
    assert top.key == "notes/cartographer.txt" and top.modality == "text"
    assert top.ranks["text"] == 1 and top.passages[0].similarity is not None


def test_a_single_word_finds_the_one_note_among_near_identical_manual_pages(conn, embedder):
    # The report of issue 16: "cartographer" against a manual of look-alike pages
    result = _search(conn, embedder, "cartographer", limit=3)
    assert result.files[0].key == "notes/cartographer.txt"
    assert result.legs["text"] == "exact"  # a small collection is scanned exactly


def test_a_text_query_reaches_images_and_keyframes_through_the_image_text_space(conn, embedder, stored):
    # When a text query is embedded by CLIP's text tower
    query = "a red square"
    result = _search(conn, embedder, query, limit=20)
    assert "image" in result.legs and "image" not in result.unavailable
    keys = {f.key for f in result.files if "image" in f.matched_by}
    # Then every image and keyframe is reached through the image leg, whatever its text
    assert keys == {"images/red.png", "images/blue.png", "video/harbour.mp4"}
    # in the order of their cosine similarity to the query in that space (computed here in numpy)
    truth = _exact_order(stored, MODEL_IMAGE_EMBEDDING, embedder(MODEL_IMAGE_EMBEDDING, query))
    leg = core.nearest(conn, MODEL_IMAGE_EMBEDDING, embedder(MODEL_IMAGE_EMBEDDING, query), 10, scope=IN_BUCKET)
    assert [cid for cid, _ in leg.ranked] == truth
    # And each passage says its time range: the video's two keyframes are the video's passages
    video = next(f for f in result.files if f.modality == "video")
    keyframes = [p for p in video.passages if "image" in p.matched_by]
    assert {(h.time_start, h.time_end) for h in keyframes} == {(0.0, 10.0), (10.0, 20.0)}
    assert all(h.where.endswith(" s") for h in keyframes)


def test_without_the_image_model_the_image_leg_is_reported_unavailable(conn, embedder):
    def text_only(role, text):
        return embedder(role, text) if role == MODEL_TEXT_EMBEDDING else None

    result = _search(conn, text_only, "harbour boats", limit=5)
    assert result.unavailable == {"image": f"model {MODEL_IMAGE_EMBEDDING} not deployed"}
    assert result.files and all("image" not in f.matched_by for f in result.files)


def test_modality_filter(conn, embedder):
    result = _search(conn, embedder, "rain and wind on the coast", limit=10, filters=Filters(modalities=("audio",)))
    assert [f.key for f in result.files] == ["audio/briefing.wav"]  # one file, its three time ranges its passages
    assert result.files[0].passages[0].time_start == 10.0


def test_key_prefix_filter(conn, embedder):
    result = _search(conn, embedder, "coastline", limit=10, filters=Filters(key_prefix="notes/"))
    assert result.files and all(f.key.startswith("notes/") for f in result.files)
    assert result.files[0].key == "notes/cartographer.txt"


def test_time_range_filter_keeps_the_chunks_overlapping_it(conn, embedder):
    result = _search(conn, embedder, "weather", limit=10, filters=Filters(time_from=12, time_to=18))
    # the audio and video chunks of 10-20 s overlap 12-18 s; 0-10, 20-30 and untimed chunks do not
    assert {(f.key, p.time_start, p.time_end) for f in result.files for p in f.passages} == {
        ("audio/briefing.wav", 10.0, 20.0), ("video/harbour.mp4", 10.0, 20.0)}


def test_upload_date_filter_leaves_out_older_objects(conn, embedder):
    query = "heavy rain and strong wind"
    everything = _search(conn, embedder, query, limit=10)
    assert "archive/weather-2020.txt" in {f.key for f in everything.files}
    since = datetime.now(UTC) - timedelta(days=1)
    recent = _search(conn, embedder, query, limit=10, filters=Filters(uploaded_since=since))
    assert recent.files and "archive/weather-2020.txt" not in {f.key for f in recent.files}
    old = _search(conn, embedder, query, limit=10, filters=Filters(uploaded_until=datetime(2021, 1, 1, tzinfo=UTC)))
    assert {f.key for f in old.files} == {"archive/weather-2020.txt"}


def test_pipeline_version_filter(conn, embedder):
    hits = _search(conn, embedder, "cartographer coastline", limit=10, filters=Filters(pipeline_version="v0")).files
    assert [(h.key, h.pipeline_version) for h in hits] == [("notes/cartographer.txt", "v0")]
    current = _search(conn, embedder, "cartographer coastline", limit=10, filters=Filters(pipeline_version="v1")).files
    assert current[0].key == "notes/cartographer.txt" and {h.pipeline_version for h in current} == {"v1"}


def test_scope_never_returns_another_buckets_objects_or_keys_outside_the_allowed_prefixes(conn, embedder):
    unscoped = core.search(conn, "cartographer salary", embedder, limit=10)
    assert OTHER_BUCKET in {f.bucket for f in unscoped.files}  # the row is there to be found
    scoped = _search(conn, embedder, "cartographer salary", limit=10)
    assert scoped.files and {f.bucket for f in scoped.files} == {BUCKET}
    narrow = _search(conn, embedder, "cartographer salary", limit=10,
                     scope=Scope(buckets=(BUCKET,), key_prefixes=("parts/", "audio/")))
    assert narrow.files and all(f.key.startswith(("parts/", "audio/")) for f in narrow.files)


@pytest.mark.parametrize("query", ["pump seals", "cartographer", "harbour at dawn", "replacement valve housing"])
def test_the_text_leg_matches_numpy_exact_ranking_on_the_exact_and_the_index_path(conn, embedder, stored, query):
    vector = embedder(MODEL_TEXT_EMBEDDING, query)
    in_bucket = _chunk_ids(stored, lambda o: o.bucket == BUCKET)
    truth = _exact_order(stored, MODEL_TEXT_EMBEDDING, vector, in_bucket)[:10]
    exact = core.nearest(conn, MODEL_TEXT_EMBEDDING, vector, 10, scope=IN_BUCKET)
    assert exact.method == "exact" and [cid for cid, _ in exact.ranked] == truth
    # Forced onto the HNSW index (what a collection above exact_max_rows gets): same top 10
    _plan_as_for_a_large_table(conn)
    index = core.nearest(conn, MODEL_TEXT_EMBEDDING, vector, 10, scope=IN_BUCKET, tuning=Tuning(exact_max_rows=0))
    assert index.method.startswith("hnsw") and [cid for cid, _ in index.ranked] == truth


def _plan_as_for_a_large_table(conn) -> None:
    """A few dozen rows: the planner would sort them all rather than walk the HNSW graph; make it
    plan as it does for the large tables the index path is for (this session only)."""
    for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
        conn.execute(f"SET {setting} = off")


def test_a_filter_that_starves_the_index_candidates_still_returns_the_exact_top(conn, embedder, stored):
    # Given an index scan of 5 candidates (ef_search 5) and a filter that few of them pass
    vector = embedder(MODEL_TEXT_EMBEDDING, "pump maintenance")
    tuning = Tuning(exact_max_rows=0, candidates=5, ef_search=5)
    _plan_as_for_a_large_table(conn)
    leg = core.nearest(conn, MODEL_TEXT_EMBEDDING, vector, 3, Filters(modalities=("audio",)), IN_BUCKET, tuning)
    audio = _chunk_ids(stored, lambda o: o.modality == "audio")
    # Then the three audio chunks come back in exact order (iterative scan on pgvector >= 0.8,
    # else the exact scan after the index ran out)
    assert [cid for cid, _ in leg.ranked] == _exact_order(stored, MODEL_TEXT_EMBEDDING, vector, audio)[:3]
    assert leg.method in {"hnsw-iterative", "hnsw-then-exact", "hnsw-iterative-then-exact"}


def test_the_text_leg_can_use_the_partial_hnsw_index_and_the_lexical_leg_reads_only_the_postings_key(conn, embedder):
    from functions.search.filters import filter_sql
    from functions.search.lexical import bm25_sql
    from functions.search.vector import nearest_sql, vector_literal

    where, params = filter_sql(Filters(), IN_BUCKET)
    vector = embedder(MODEL_TEXT_EMBEDDING, "pump")
    with conn.transaction():
        _plan_as_for_a_large_table(conn)
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN " + nearest_sql(384, where, exact=False),
            {**params, "q": vector_literal(vector), "role": MODEL_TEXT_EMBEDDING, "limit": 10, "candidates": 10}))
    conn.execute("RESET ALL")
    conn.execute("SET enable_seqscan = off")  # (a few dozen rows: the planner would rather read them all)
    conn.execute("SET enable_bitmapscan = off")
    lexical_plan = "\n".join(r[0] for r in conn.execute(
        "EXPLAIN " + bm25_sql(where, 1), {**params, "limit": 10, "c0": 0.3, "c1": 0.045,
                                          "rare": [CODE.lower()], "rare_idf": [3.0], "common": ["part"], "common_idf": [0.5], "bound": 0.5}))
    pooled_plan = "\n".join(r[0] for r in conn.execute(
        "EXPLAIN " + bm25_sql(where, 1, pooled=True), {**params, "limit": 20, "c0": 0.3, "c1": 0.045,
                                                        "rare": [CODE.lower()], "rare_idf": [3.0], "common": ["part"],
                                                        "common_idf": [0.5], "bound": 0.5}))
    assert "embeddings_text_384_hnsw" in plan, plan
    assert "Index Only Scan using chunk_terms_pkey" in lexical_plan, lexical_plan
    assert "Index Only Scan using chunk_terms_pkey" in pooled_plan, pooled_plan


def test_the_function_url_handler_runs_the_same_search_for_an_allowed_caller(stored, search_models, db_env, monkeypatch):
    import json

    import functions.search.handler as handler
    from functions.common import constants as c
    from local.lambda_dispatch import FakeLambdaContext

    for name, value in search_models.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(c.ENV_SEARCH_BUCKETS, json.dumps([BUCKET]))
    monkeypatch.setenv(c.ENV_SEARCH_ACCESS, json.dumps({"arn:aws:sts::111122223333:assumed-role/Analyst/*": ["notes/", "parts/"]}))
    handler.backends.clear()
    event = {"version": "2.0", "rawPath": "/", "isBase64Encoded": False,
             "body": json.dumps({"query": f"cartographer {CODE}", "limit": 5}),
             "requestContext": {"http": {"method": "POST"}, "authorizer": {"iam": {
                 "userArn": "arn:aws:sts::111122223333:assumed-role/Analyst/alice", "accountId": "111122223333"}}}}
    try:
        response = handler.lambda_handler(event, FakeLambdaContext("search"))
    finally:
        backends = handler.backends.clear()
        if backends is not None:
            backends.db.close()
            backends.lexical_db.close()
    assert response["statusCode"] == 200, response["body"]
    body = json.loads(response["body"])
    keys = [f["key"] for f in body["results"]]
    # (the note is there twice: pipeline versions v1 and v0)
    assert {"notes/cartographer.txt", f"parts/{CODE.lower()}.txt"} <= set(keys[:3])
    assert all(k.startswith(("notes/", "parts/")) for k in keys) and {f["bucket"] for f in body["results"]} == {BUCKET}
    assert body["legs"]["lexical"] == "bm25" and body["pgvector_version"]
    assert all(f["passages"] and f["passages"][0]["text"] for f in body["results"])


@pytest.mark.parametrize("query", [CODE, "pump pressure relief valve", "cartographer who mapped the coast"])
def test_the_lexical_leg_on_a_second_connection_gives_the_same_answer(conn, embedder, migrated_db, query):
    # Given a second connection for the lexical leg (what the search function holds)
    from functions.common.db import open_connection

    with open_connection(migrated_db) as second:
        # When the lexical leg runs on it, beside the embedding and the vector legs
        beside = _search(conn, embedder, query, lexical_conn=second)
    # Then files, scores, passages and legs are those of the search on one connection
    alone = _search(conn, embedder, query)
    assert beside.to_dict() == alone.to_dict()
    assert beside.legs.keys() == {"text", "image", "lexical"}
