"""A small corpus stored in PostgreSQL (the migrated test database) with real embeddings from
the model servers: all-MiniLM-L6-v2 for text, CLIP (random tiny weights: no CLIP weights can
be downloaded here; its text and image towers still share one space) for images and keyframes.

Rows are written as the store step writes them (objects -> chunks -> embeddings); nothing in
the rankings is precomputed: every test asks PostgreSQL through functions/search/core.py.
"""
from __future__ import annotations

from typing import Any

import pytest
from search_corpus import corpus, png

from functions.common.constants import DB_SCHEMA, MODEL_IMAGE_EMBEDDING, MODEL_TEXT_EMBEDDING

S = DB_SCHEMA


@pytest.fixture(scope="session")
def search_models(tmp_path_factory):
    """text_embedding (real MiniLM) and image_embedding (tiny random CLIP) servers, one worker each."""
    from local.model_servers import start_local_profile
    from model_artifacts import random_models

    clip = random_models.build_clip(tmp_path_factory.mktemp("search-clip") / "random-tiny-clip")
    with start_local_profile(roles=[MODEL_TEXT_EMBEDDING, MODEL_IMAGE_EMBEDDING],
                             weights={MODEL_IMAGE_EMBEDDING: str(clip)}, workers=1) as profile:
        missing = {MODEL_TEXT_EMBEDDING, MODEL_IMAGE_EMBEDDING} - set(profile.endpoints)
        if missing:
            pytest.fail(f"model endpoints did not start: {profile.unavailable}")
        yield profile


@pytest.fixture(scope="session")
def embedder(search_models):
    from functions.common.model_client import ModelClient
    from functions.search.core import ModelEmbedder

    return ModelEmbedder(ModelClient(search_models.endpoints, components=search_models.components,
                                   sagemaker_client=search_models.client()))


@pytest.fixture(scope="module")
def stored(migrated_db, embedder) -> dict[str, Any]:
    """The corpus in PostgreSQL; returns {"objects": [...], "vectors": {(role, chunk id): vector}}."""
    from pgvector import Vector

    from functions.common.db import open_connection

    client = embedder.client
    objects = corpus()
    vectors: dict[tuple[str, int], list[float]] = {}
    conn = open_connection(migrated_db)
    try:
        with conn.transaction():
            conn.execute(f"TRUNCATE {S}.objects, {S}.failures RESTART IDENTITY CASCADE")
            for obj in objects:
                object_id = conn.execute(
                    f"INSERT INTO {S}.objects (bucket, key, size, modality, pipeline_version, status, created_at)"
                    " VALUES (%s, %s, 1, %s, %s, 'succeeded', coalesce(%s, now())) RETURNING id",
                    (obj.bucket, obj.key, obj.modality, obj.pipeline_version, obj.created_at)).fetchone()[0]
                texts = [c.text for c in obj.chunks if c.text]
                text_vectors = iter(client.invoke(MODEL_TEXT_EMBEDDING, texts).outputs if texts else [])
                images = [{"image_b64": png(c.image_rgb)} for c in obj.chunks if c.image_rgb]
                image_result = client.invoke(MODEL_IMAGE_EMBEDDING, images) if images else None
                image_vectors = iter(image_result.outputs if image_result else [])
                for ordinal, chunk in enumerate(obj.chunks):
                    chunk_id = conn.execute(
                        f"INSERT INTO {S}.chunks (object_id, ordinal, kind, text, time_start, time_end, page)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                        (object_id, ordinal, chunk.kind, chunk.text, chunk.time_start, chunk.time_end, chunk.page)).fetchone()[0]
                    obj.ids.append(chunk_id)
                    for role, source, present in ((MODEL_TEXT_EMBEDDING, text_vectors, chunk.text),
                                                  (MODEL_IMAGE_EMBEDDING, image_vectors, chunk.image_rgb)):
                        if not present:
                            continue
                        vector = [float(v) for v in next(source)]
                        vectors[(role, chunk_id)] = vector
                        conn.execute(
                            f"INSERT INTO {S}.embeddings (object_id, chunk_id, model_role, model_id, model_version,"
                            " dimension, embedding) VALUES (%s, %s, %s, 'test', 'test', %s, %s)",
                            (object_id, chunk_id, role, len(vector), Vector(vector)))
            conn.execute("ANALYZE")
    finally:
        conn.close()
    return {"objects": objects, "vectors": vectors}


@pytest.fixture
def conn(stored, migrated_db):
    from functions.common.db import open_connection

    connection = open_connection(migrated_db)
    yield connection
    connection.close()
