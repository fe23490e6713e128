"""Taxonomy labels written by store with the object's embeddings (functions/taxonomy/ingest.py):
the object's vector and its top labels of the default taxonomy, replaced, not added, when
store runs again."""
from __future__ import annotations

from functions.taxonomy.taxonomy import load_taxonomy

RECIPE = ("Preheat the oven. Whisk four eggs with sugar until pale, fold in the flour and the melted butter, "
          "pour the batter into a tin and bake the sponge cake for thirty minutes. Serve it with cream and "
          "fresh strawberries, and a cup of coffee.")


def _labels(pipeline, obj):
    with pipeline.db.transaction() as conn:
        return conn.execute(
            "SELECT l.label, l.rank, l.taxonomy_version, l.model_role, l.model_id FROM pipeline.object_labels l"
            " JOIN pipeline.objects o ON o.id = l.object_id WHERE o.key = %s ORDER BY l.model_role, l.rank",
            (obj.key,)).fetchall()


def test_a_stored_text_gets_its_vector_and_its_top_labels_in_the_same_write(pipeline):
    obj = pipeline.put("recipes/sponge.txt", RECIPE.encode(), "text", "text/plain")

    assert pipeline.run(obj)["status"] == "succeeded"

    labels = _labels(pipeline, obj)
    taxonomy = load_taxonomy()
    assert [r[1] for r in labels] == [1, 2, 3]
    assert labels[0][0] == "food-drink"
    assert {(r[2], r[3]) for r in labels} == {(taxonomy.version, "text_embedding")}
    rows = pipeline.rows(obj)
    assert {r[0] for r in labels} and labels[0][4] == rows["embeddings"][0][2]  # the embeddings' model
    with pipeline.db.transaction() as conn:
        vectors = conn.execute("SELECT v.chunks FROM pipeline.object_vectors v JOIN pipeline.objects o"
                               " ON o.id = v.object_id WHERE o.key = %s", (obj.key,)).fetchall()
    assert vectors == [(len(rows["embeddings"]),)]


def test_store_run_again_replaces_the_labels(pipeline):
    obj = pipeline.put("recipes/again.txt", RECIPE.encode(), "text", "text/plain")
    item = {"object": obj.model_dump(mode="json"), "pipeline_version": "v-test"}
    embedded = pipeline.run(obj, steps=["extract", "generate", "embed"], start=item)
    pipeline.run(obj, steps=["store"], start=embedded)
    first = _labels(pipeline, obj)

    pipeline.run(obj, steps=["store"], start=embedded)

    assert _labels(pipeline, obj) == first and len(first) == 3
