"""More like this and recommendations (functions/search/similar.py) over object vectors in
PostgreSQL: chunk embeddings stored as store writes them, object vectors refreshed by
functions/taxonomy/store.py."""
from __future__ import annotations

import numpy as np
import pytest

from functions.common.constants import DB_SCHEMA, MODEL_TEXT_EMBEDDING
from functions.search.filters import Filters, Scope
from functions.search.similar import ObjectKey, UnknownObject, recommend, similar_to
from functions.taxonomy.store import refresh_object_vectors

S = DB_SCHEMA
DIM = 384
RNG = np.random.default_rng(7)
TOPICS = {name: RNG.normal(size=DIM) for name in ("pumps", "cooking", "tennis", "taxes")}


def _near(topic: str, noise: float) -> np.ndarray:
    v = TOPICS[topic] + RNG.normal(scale=noise, size=DIM)
    return v / np.linalg.norm(v)


def _store(conn, bucket: str, key: str, vectors: list[np.ndarray], sha: str | None = None,
           version: str | None = None, pipeline_version: str = "v1") -> int:
    from pgvector import Vector

    oid = conn.execute(
        f"INSERT INTO {S}.objects (bucket, key, version_id, size, modality, pipeline_version, status, content_sha256)"
        " VALUES (%s, %s, %s, 1, 'text', %s, 'succeeded', %s) RETURNING id",
        (bucket, key, version, pipeline_version, sha)).fetchone()[0]
    for i, v in enumerate(vectors):
        cid = conn.execute(f"INSERT INTO {S}.chunks (object_id, ordinal, kind, text) VALUES (%s, %s, 'text', 'x')"
                           " RETURNING id", (oid, i)).fetchone()[0]
        conn.execute(f"INSERT INTO {S}.embeddings (object_id, chunk_id, model_role, model_id, model_version, dimension,"
                     " embedding) VALUES (%s, %s, %s, 'minilm', '1', %s, %s)",
                     (oid, cid, MODEL_TEXT_EMBEDDING, DIM, Vector(v.astype(np.float32))))
    refresh_object_vectors(conn, [oid])
    return oid


@pytest.fixture(scope="module")
def conn(migrated_db):
    from functions.common.db import open_connection

    connection = open_connection(migrated_db)
    connection.execute(f"TRUNCATE {S}.objects RESTART IDENTITY CASCADE")
    sha = "a" * 64
    with connection.transaction():
        _store(connection, "docs", "pumps/manual.pdf", [_near("pumps", 0.3) for _ in range(3)], sha=sha, version="2")
        _store(connection, "docs", "pumps/manual.pdf", [_near("pumps", 0.3)], version="1")  # an older version
        _store(connection, "docs", "copies/manual-copy.pdf", [_near("pumps", 0.3)], sha=sha)  # identical bytes
        for i in range(6):  # pages of one other manual: near-duplicates of each other
            _store(connection, "docs", f"pumps/spare-parts-{i}.pdf", [_near("pumps", 0.35)])
        for topic in ("cooking", "tennis", "taxes"):
            for i in range(3):
                _store(connection, "docs", f"{topic}/{i}.txt", [_near(topic, 1.0), _near("pumps", 1.5)])
        _store(connection, "private", "pumps/secret.pdf", [_near("pumps", 0.3)])
    yield connection
    connection.close()


def keys(hits) -> list[str]:
    return [h.key for h in hits]


def test_similar_objects_leave_out_the_object_its_other_versions_and_identical_copies(conn):
    hits = similar_to(conn, ObjectKey("docs", "pumps/manual.pdf"), k=5, scope=Scope(buckets=("docs",)), diversity=0)
    assert keys(hits)[:5] == [h.key for h in hits if h.key.startswith("pumps/spare-parts-")][:5]
    assert "pumps/manual.pdf" not in keys(hits) and "copies/manual-copy.pdf" not in keys(hits)
    assert all(-1 <= h.similarity <= 1 for h in hits) and hits[0].similarity >= hits[-1].similarity


def test_the_callers_scope_is_kept(conn):
    everything = keys(similar_to(conn, ObjectKey("docs", "pumps/manual.pdf"), k=20, diversity=0))
    scoped = keys(similar_to(conn, ObjectKey("docs", "pumps/manual.pdf"), k=20, scope=Scope(buckets=("docs",)),
                             diversity=0))
    assert "pumps/secret.pdf" in everything and "pumps/secret.pdf" not in scoped
    with pytest.raises(UnknownObject):
        similar_to(conn, ObjectKey("private", "pumps/secret.pdf"), scope=Scope(buckets=("docs",)))
    prefixed = similar_to(conn, ObjectKey("docs", "pumps/manual.pdf"), k=20, filters=Filters(key_prefix="tennis/"))
    assert keys(prefixed) and all(k.startswith("tennis/") for k in keys(prefixed))


def test_diversity_spreads_the_list_over_topics_instead_of_one_manuals_pages(conn):
    plain = keys(similar_to(conn, ObjectKey("docs", "pumps/manual.pdf"), k=4, scope=Scope(buckets=("docs",)),
                            diversity=0))
    diverse = keys(similar_to(conn, ObjectKey("docs", "pumps/manual.pdf"), k=4, scope=Scope(buckets=("docs",)),
                              diversity=0.7))
    assert all(k.startswith("pumps/spare-parts-") for k in plain)
    assert diverse[0] == plain[0] and len({k.split("/")[0] for k in diverse}) >= 3


def test_recommendations_follow_the_liked_objects_away_from_the_disliked_and_skip_the_history(conn):
    liked = [ObjectKey("docs", "tennis/0.txt"), ObjectKey("docs", "tennis/1.txt")]
    disliked = [ObjectKey("docs", "taxes/0.txt")]
    hits = recommend(conn, liked, disliked, k=3, scope=Scope(buckets=("docs",)), diversity=0)
    assert keys(hits)[0] == "tennis/2.txt"
    assert not {h.key for h in hits} & {"tennis/0.txt", "tennis/1.txt", "taxes/0.txt"}
    assert "taxes/1.txt" not in keys(hits) and "taxes/2.txt" not in keys(hits)


def test_an_unknown_object_and_time_filters_are_refused(conn):
    with pytest.raises(UnknownObject):
        similar_to(conn, ObjectKey("docs", "nope.pdf"))
    with pytest.raises(ValueError, match="whole objects"):
        similar_to(conn, ObjectKey("docs", "pumps/manual.pdf"), filters=Filters(time_from=1.0))


def _call(handler, body: dict, principal: str = "arn:aws:sts::111122223333:assumed-role/Analyst/alice"):
    import json

    from local.lambda_dispatch import FakeLambdaContext

    event = {"version": "2.0", "rawPath": "/", "isBase64Encoded": False, "body": json.dumps(body),
             "requestContext": {"http": {"method": "POST"}, "authorizer": {"iam": {"userArn": principal}}}}
    response = handler.lambda_handler(event, FakeLambdaContext("search"))
    return response["statusCode"], json.loads(response["body"])


def test_the_search_function_answers_more_like_this_and_history_requests(conn, search_models, db_env, monkeypatch):
    import json

    import functions.search.handler as handler
    from functions.common import constants as c

    for name, value in {**search_models.env(), **db_env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(c.ENV_SEARCH_BUCKETS, json.dumps(["docs"]))
    handler.backends.clear()
    try:
        status, body = _call(handler, {"similar_to": {"bucket": "docs", "key": "pumps/manual.pdf"}, "limit": 3,
                                       "diversity": 0})
        assert status == 200 and body["mode"] == "similar"
        assert [r["key"][:18] for r in body["results"]] == ["pumps/spare-parts-"] * 3
        status, body = _call(handler, {"liked": [{"bucket": "docs", "key": "tennis/0.txt"}], "limit": 2})
        assert status == 200 and body["mode"] == "recommend" and body["results"][0]["key"].startswith("tennis/")
        # another bucket's object is not the caller's to compare with; two modes at once are refused
        assert _call(handler, {"similar_to": {"bucket": "private", "key": "pumps/secret.pdf"}})[0] == 404
        assert _call(handler, {"query": "pumps", "similar_to": {"bucket": "docs", "key": "pumps/manual.pdf"}})[0] == 400
    finally:
        backends = handler.backends.clear()
        if backends is not None:
            backends.db.close()
            backends.lexical_db.close()
