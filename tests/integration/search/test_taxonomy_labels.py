"""Taxonomy labels from stored embeddings (functions/taxonomy), with the real all-MiniLM-L6-v2
server embedding both the objects' chunks and the label texts."""
from __future__ import annotations

import json

import numpy as np
import pytest

from functions.common.constants import DB_SCHEMA, MODEL_TEXT_EMBEDDING
from functions.taxonomy.relabel import relabel
from functions.taxonomy.store import label_objects, refresh_object_vectors
from functions.taxonomy.taxonomy import Taxonomy, load_taxonomy

S = DB_SCHEMA
TEXTS = {
    "match.txt": ["The striker scored twice in the second half and the home team won the championship final.",
                  "The coach praised the goalkeeper after the penalty shoot-out."],
    "recipe.txt": ["Whisk the eggs with sugar, fold in the flour and bake the cake for forty minutes.",
                   "Serve the soup with fresh bread and a glass of red wine."],
    "laptop.txt": ["The new laptop has a faster processor, more memory and a brighter screen.",
                   "Install the software update to fix the bug in the operating system."],
}
EXPECTED = {"match.txt": "sports", "recipe.txt": "food-drink", "laptop.txt": "technology-computing"}


def _store(conn, client, key: str, chunks: list[str], sha: str | None = None) -> int:
    from pgvector import Vector

    object_id = conn.execute(
        f"INSERT INTO {S}.objects (bucket, key, size, modality, pipeline_version, status, content_sha256)"
        " VALUES ('tax', %s, 1, 'text', 'v1', 'succeeded', %s) RETURNING id", (key, sha)).fetchone()[0]
    result = client.invoke(MODEL_TEXT_EMBEDDING, chunks)
    for ordinal, (text, vector) in enumerate(zip(chunks, result.outputs)):
        chunk_id = conn.execute(f"INSERT INTO {S}.chunks (object_id, ordinal, kind, text) VALUES (%s, %s, 'text', %s)"
                                " RETURNING id", (object_id, ordinal, text)).fetchone()[0]
        conn.execute(f"INSERT INTO {S}.embeddings (object_id, chunk_id, model_role, model_id, model_version, dimension,"
                     " embedding) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                     (object_id, chunk_id, MODEL_TEXT_EMBEDDING, result.model["id"], result.model["version"],
                      len(vector), Vector(vector)))
    refresh_object_vectors(conn, [object_id])
    return object_id


class TextOnly:
    """The deployed models as the relabel function sees them: text_embedding only."""

    def __init__(self, client):
        self.client = client

    def available(self, role):
        return role == MODEL_TEXT_EMBEDDING

    def invoke(self, role, items):
        return self.client.invoke(role, items)


@pytest.fixture
def conn(migrated_db, embedder):
    from functions.common.db import open_connection

    connection = open_connection(migrated_db)
    connection.execute(f"TRUNCATE {S}.objects, {S}.taxonomy_vectors RESTART IDENTITY CASCADE")
    with connection.transaction():
        ids = {key: _store(connection, embedder.client, key, chunks) for key, chunks in TEXTS.items()}
    connection.ids = ids
    yield connection
    connection.close()


def _labels(conn) -> dict[str, list[tuple]]:
    rows = conn.execute(f"SELECT o.key, l.label, l.rank, l.score, l.taxonomy_version, l.model_id, l.path"
                        f" FROM {S}.object_labels l JOIN {S}.objects o ON o.id = l.object_id ORDER BY o.key, l.rank"
                        ).fetchall()
    out: dict[str, list[tuple]] = {}
    for key, *rest in rows:
        out.setdefault(key, []).append(tuple(rest))
    return out


def test_the_object_vector_is_the_sum_of_its_chunk_embeddings_and_goes_with_the_object(conn):
    oid = conn.ids["match.txt"]
    stored = np.asarray(conn.execute(f"SELECT embedding::real[] FROM {S}.object_vectors WHERE object_id = %s",
                                     (oid,)).fetchone()[0])
    chunks = np.asarray([r[0] for r in conn.execute(f"SELECT embedding::real[] FROM {S}.embeddings WHERE object_id = %s",
                                                    (oid,)).fetchall()])
    np.testing.assert_allclose(stored, chunks.sum(axis=0), atol=1e-5)
    conn.execute(f"DELETE FROM {S}.objects WHERE id = %s", (oid,))
    assert conn.execute(f"SELECT count(*) FROM {S}.object_vectors WHERE object_id = %s", (oid,)).fetchone()[0] == 0


def test_a_dry_run_counts_and_writes_nothing(conn, embedder):
    plan = relabel(conn, TextOnly(embedder.client), load_taxonomy(), dry_run=True)
    assert plan["dry_run"] and plan["objects"] == 3 and plan["labelled_now"] == 0
    assert conn.execute(f"SELECT count(*) FROM {S}.object_labels").fetchone()[0] == 0
    assert conn.execute(f"SELECT count(*) FROM {S}.taxonomy_vectors").fetchone()[0] == 0


def test_every_object_gets_its_topic_from_the_default_taxonomy_with_version_and_model(conn, embedder):
    taxonomy = load_taxonomy()
    done = relabel(conn, TextOnly(embedder.client), taxonomy)
    assert done["objects_labelled"] == 3 and done["labels_written"] == 9
    labels = _labels(conn)
    for key, expected in EXPECTED.items():
        label, rank, score, version, model_id, path = labels[key][0]
        assert (label, rank, version, path) == (expected, 1, taxonomy.version, [expected])
        assert model_id == done["models"][MODEL_TEXT_EMBEDDING]["id"]
        assert [r[1] for r in labels[key]] == [1, 2, 3] and labels[key][1][2] <= score


def test_a_new_taxonomy_version_relabels_from_stored_vectors_without_touching_chunks(conn, embedder):
    client = TextOnly(embedder.client)
    relabel(conn, client, load_taxonomy())
    chunks_before = conn.execute(f"SELECT array_agg(id ORDER BY id) FROM {S}.embeddings").fetchone()[0]
    # Given the user's own taxonomy, with a hierarchy and a few-shot example
    mine = Taxonomy.model_validate({"name": "iab-content-tier1", "labels": [
        {"id": "leisure", "name": "Leisure", "description": "free time"},
        {"id": "ball-games", "name": "Ball games", "description": "football and other games played with a ball",
         "parent": "leisure", "examples": ["The referee blew the whistle and the striker shot at goal."]},
        {"id": "kitchen", "name": "Kitchen", "description": "cooking and baking at home", "parent": "leisure"},
        {"id": "computers", "name": "Computers", "description": "hardware and software"}]})
    plan = relabel(conn, client, mine, dry_run=True)
    assert plan["labelled_now"] == 3 and plan["at_this_version"] == 0
    done = relabel(conn, client, mine)
    labels = _labels(conn)
    # Then every row is of the new version, the hierarchy is in the path, and nothing else changed
    assert {r[3] for rows in labels.values() for r in rows} == {mine.version}
    assert labels["match.txt"][0][0] == "ball-games" and labels["match.txt"][0][5] == ["leisure", "ball-games"]
    assert labels["recipe.txt"][0][0] == "kitchen" and labels["laptop.txt"][0][0] == "computers"
    assert done["objects_labelled"] == 3
    assert conn.execute(f"SELECT array_agg(id ORDER BY id) FROM {S}.embeddings").fetchone()[0] == chunks_before


def test_an_object_stored_after_labelling_is_labelled_in_its_own_transaction(conn, embedder):
    taxonomy = load_taxonomy()
    relabel(conn, TextOnly(embedder.client), taxonomy)
    with conn.transaction():
        oid = _store(conn, embedder.client, "hike.txt", ["We hiked to the mountain hut and took the train to the coast.",
                                                         "Book flights and hotels early for the summer holidays."])
        assert label_objects(conn, taxonomy, [oid]) == 3
    assert _labels(conn)["hike.txt"][0][0] == "travel"


def test_a_taxonomy_with_a_cycle_or_an_unknown_parent_is_refused():
    with pytest.raises(ValueError, match="cycle"):
        Taxonomy.model_validate_json(json.dumps({"name": "t", "labels": [
            {"id": "a", "name": "A", "parent": "b"}, {"id": "b", "name": "B", "parent": "a"}]}))
    with pytest.raises(ValueError, match="not a label"):
        Taxonomy.model_validate({"name": "t", "labels": [{"id": "a", "name": "A", "parent": "z"}]})


def test_search_and_more_like_this_filter_by_label_including_a_parents_children(conn, embedder):
    from functions.search.core import Filters, Scope, search
    from functions.search.similar import ObjectKey, similar_to

    mine = Taxonomy.model_validate({"name": "mine", "labels": [
        {"id": "leisure", "name": "Leisure", "description": "free time"},
        {"id": "ball-games", "name": "Ball games", "description": "football and other games played with a ball",
         "parent": "leisure"},
        {"id": "kitchen", "name": "Kitchen", "description": "cooking and baking at home", "parent": "leisure"},
        {"id": "computers", "name": "Computers", "description": "hardware and software"}]})
    relabel(conn, TextOnly(embedder.client), mine)
    found = search(conn, "new laptop processor", embedder, filters=Filters(labels=("ball-games",)), scope=Scope(),
                   roles=(MODEL_TEXT_EMBEDDING,))
    assert [f.key for f in found.files] == ["match.txt"]
    leisure = similar_to(conn, ObjectKey("tax", "laptop.txt"), k=5, filters=Filters(labels=("leisure",)))
    assert {h.key for h in leisure} == {"match.txt", "recipe.txt"}
