"""The processing tests' Pipeline (tests/integration/processing/conftest.py) with the scan step,
on the shared model endpoints (pii and moderation with their real weights)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PROCESSING = Path(__file__).resolve().parents[1] / "processing"
sys.path.insert(0, str(PROCESSING))  # its conftest imports lambda_context and media_files from there
_spec = importlib.util.spec_from_file_location("processing_conftest", PROCESSING / "conftest.py")
processing = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(processing)

STEPS = ["extract", "scan", "generate", "embed", "store"]


def _reset() -> None:
    import importlib

    processing._reset_handlers()
    module = importlib.import_module("functions.scan.handler")
    module.resources.clear()


@pytest.fixture
def pipeline_env(monkeypatch, staging_bucket, db_env):
    monkeypatch.setenv(processing.ENV_PIPELINE_VERSION, processing.PIPELINE_VERSION)
    monkeypatch.setenv(processing.ENV_TEXT_CHUNK_TOKENS, "40")
    monkeypatch.setenv(processing.ENV_TEXT_CHUNK_OVERLAP, "10")
    return monkeypatch


@pytest.fixture
def pipeline(s3, ingest_bucket, db, pipeline_env, model_env):
    _reset()
    yield processing.Pipeline(s3, ingest_bucket, db)
    _reset()


def findings(db, obj) -> list[dict]:
    """The object's findings with their chunk's ordinal and stored text."""
    with db.transaction() as conn:
        rows = conn.execute(
            """SELECT f.kind, f.type, f.score, f.recognizer, f.char_start, f.char_end, f.page, f.time_start, f.time_end,
                      f.value_hash, f.model_id, f.model_version, c.ordinal, c.text
               FROM pipeline.findings f JOIN pipeline.objects o ON o.id = f.object_id
               JOIN pipeline.chunks c ON c.id = f.chunk_id
               WHERE o.bucket = %s AND o.key = %s ORDER BY c.ordinal, f.char_start""",
            (obj.bucket, obj.key)).fetchall()
    names = ["kind", "type", "score", "recognizer", "start", "end", "page", "time_start", "time_end", "value_hash",
             "model_id", "model_version", "ordinal", "text"]
    return [dict(zip(names, r)) for r in rows]


def summary(db, obj) -> dict | None:
    with db.transaction() as conn:
        row = conn.execute("SELECT compliance FROM pipeline.objects WHERE bucket = %s AND key = %s",
                           (obj.bucket, obj.key)).fetchone()
    return row[0] if row else None
