"""The local search service (local/serve.py) over a small corpus stored in PostgreSQL, and a
real headless browser to open its page.

The corpus is written as the store step writes it (objects -> chunks -> embeddings, the BM25
postings by the chunks' triggers), its text embedded by the real all-MiniLM-L6-v2 model server;
nothing in the rankings is precomputed. The service runs in this process against the test
database and that model server, as `python -m local serve` runs against the local run's.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from search_service_support import BUCKET, SOURCE_FILES, Node, Obj, S, corpus, parse_html

from functions.common.constants import ENV_SEARCH_BUCKETS, MODEL_TEXT_EMBEDDING


@pytest.fixture(scope="session")
def text_model():
    """The real all-MiniLM-L6-v2 endpoint, one worker."""
    from local.model_servers import start_local_profile

    with start_local_profile(roles=[MODEL_TEXT_EMBEDDING], workers=1) as profile:
        if MODEL_TEXT_EMBEDDING not in profile.endpoints:
            pytest.fail(f"the text_embedding endpoint did not start: {profile.unavailable}")
        yield profile


@pytest.fixture(scope="module")
def stored(migrated_db, text_model) -> list[Obj]:
    """The corpus in the (emptied) test database."""
    from pgvector import Vector

    from functions.common.db import open_connection
    from functions.common.model_client import ModelClient

    client = ModelClient(text_model.endpoints, components=text_model.components, sagemaker_client=text_model.client())
    objects = corpus()
    conn = open_connection(migrated_db)
    try:
        with conn.transaction():
            conn.execute(f"TRUNCATE {S}.objects, {S}.failures RESTART IDENTITY CASCADE")
            for obj in objects:
                size = obj.size if obj.size is not None else len(SOURCE_FILES.get(obj.key, b"x"))
                object_id = conn.execute(
                    f"INSERT INTO {S}.objects (bucket, key, size, modality, pipeline_version, status)"
                    " VALUES (%s, %s, %s, %s, 'v1', 'succeeded') RETURNING id",
                    (obj.bucket, obj.key, size, obj.modality)).fetchone()[0]
                vectors = iter(client.invoke(MODEL_TEXT_EMBEDDING, [ch.text for ch in obj.chunks]).outputs)
                for ordinal, chunk in enumerate(obj.chunks):
                    chunk_id = conn.execute(
                        f"INSERT INTO {S}.chunks (object_id, ordinal, kind, text, time_start, time_end, page)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                        (object_id, ordinal, chunk.kind, chunk.text, chunk.time_start, chunk.time_end,
                         chunk.page)).fetchone()[0]
                    vector = [float(v) for v in next(vectors)]
                    conn.execute(
                        f"INSERT INTO {S}.embeddings (object_id, chunk_id, model_role, model_id, model_version,"
                        " dimension, embedding) VALUES (%s, %s, %s, 'test', 'test', %s, %s)",
                        (object_id, chunk_id, MODEL_TEXT_EMBEDDING, len(vector), Vector(vector)))
            conn.execute("ANALYZE")
    finally:
        conn.close()
    return objects


@pytest.fixture(scope="module")
def source_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("uploaded")
    for key, data in SOURCE_FILES.items():
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A local run's folder: where the service writes its state file for the CLI."""
    return tmp_path_factory.mktemp("work")


@pytest.fixture(scope="module")
def service(stored, pg_server, text_model, source_folder, work):
    """The service in this process: the test database, the MiniLM endpoint, SEARCH_BUCKETS = BUCKET."""
    from local.serve import SearchService

    env = {**pg_server, **text_model.env(), ENV_SEARCH_BUCKETS: json.dumps([BUCKET])}
    with SearchService(env, source=source_folder, state_dir=work) as running:
        yield running


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("no chromium: the page is tested in a real headless browser (scripts/setup.sh installs it)")
    return path


@pytest.fixture
def browse(chromium, tmp_path):
    """open(url) -> the DOM after the page's scripts ran (Chromium headless --dump-dom; virtual
    time runs until the page's requests are answered, 15 s at most)."""

    def open_page(url: str) -> Node:
        profile = tmp_path / f"chromium-{len(list(tmp_path.iterdir()))}"
        done = subprocess.run(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
             f"--user-data-dir={profile}", "--virtual-time-budget=15000", "--dump-dom", url],
            capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})
        assert done.returncode == 0, done.stderr[-2000:]
        assert "<body" in done.stdout, done.stderr[-2000:]
        return parse_html(done.stdout)

    return open_page
