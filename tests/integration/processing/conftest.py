"""Fixtures for running objects through extract -> generate -> embed -> store like one Map
iteration of the state machine does (handlers called in order; any exception goes to
record_failure in the shape the Catch builds)."""
from __future__ import annotations

import json
from typing import Any

import pytest
from lambda_context import FakeLambdaContext
from media_files import speech_wav

from functions.common.constants import (
    DB_SCHEMA,
    ENV_MODEL_ENDPOINTS,
    ENV_PIPELINE_VERSION,
    ENV_TEXT_CHUNK_OVERLAP,
    ENV_TEXT_CHUNK_TOKENS,
    ENV_VIDEO_CHUNK_SECONDS,
    UNSUPPORTED,
)
from functions.common.events import ObjectRef

PIPELINE_VERSION = "v-test"


def _reset_handlers() -> None:
    import importlib

    for step in ("extract", "generate", "embed", "store", "record_failure"):
        module = importlib.import_module(f"functions.{step}.handler")
        for name in ("resources", "database"):
            if hasattr(module, name):
                old = getattr(module, name).clear()
                db = getattr(old, "db", old) if old is not None else None
                if db is not None and hasattr(db, "close"):
                    db.close()


class Pipeline:
    """Puts test objects into the ingest bucket and runs them through the handlers."""

    def __init__(self, s3: Any, bucket: str, db: Any) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.db = db

    def put(self, key: str, data: bytes, modality: str, content_type: str | None = None) -> ObjectRef:
        extra = {"ContentType": content_type} if content_type else {}
        response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)
        return ObjectRef(bucket=self.bucket, key=key, version_id=response.get("VersionId"),
                         etag=response["ETag"].strip('"'), size=len(data), content_type=content_type,
                         modality=modality)

    version = PIPELINE_VERSION

    def item(self, obj: ObjectRef) -> dict:
        """The WorkItem the Map's ItemSelector builds for `obj`."""
        return {"object": obj.model_dump(mode="json"), "pipeline_version": PIPELINE_VERSION}

    @staticmethod
    def new_containers() -> None:
        """The next invocations start in new containers (they read settings changed since)."""
        _reset_handlers()

    def handler(self, step: str):
        import importlib

        return importlib.import_module(f"functions.{step}.handler").lambda_handler

    def invoke(self, step: str, event: dict) -> dict:
        return self.handler(step)(event, FakeLambdaContext())

    def run(self, obj: ObjectRef, steps: list[str] | None = None, start: dict | None = None) -> dict:
        steps = steps or (["extract"] if obj.modality == UNSUPPORTED else ["extract", "generate", "embed", "store"])
        item = {"object": obj.model_dump(mode="json"), "pipeline_version": PIPELINE_VERSION}
        state = start or item
        for step in steps:
            try:
                state = self.handler(step)(state, FakeLambdaContext())
                if step == "extract" and state.get("segments"):  # as the segments Map, then assembly
                    for segment in state["segments"]:
                        self.handler("extract")({**item, "segment": segment}, FakeLambdaContext())
                    state = self.handler("extract")(state, FakeLambdaContext())
            except Exception as exc:  # what the Catch does with any error
                failure = {**item, "failed_step": step, "error": {
                    "Error": type(exc).__name__,
                    "Cause": json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__}),
                }}
                return self.handler("record_failure")(failure, FakeLambdaContext())
        return state

    def rows(self, obj: ObjectRef) -> dict[str, Any]:
        ident = (obj.bucket, obj.key, obj.version_id, PIPELINE_VERSION)
        where = "bucket = %s AND key = %s AND version_id IS NOT DISTINCT FROM %s AND pipeline_version = %s"
        with self.db.transaction() as conn:
            obj_row = conn.execute(
                f"SELECT id, status, modality, detected_format, metadata, unavailable, size FROM {DB_SCHEMA}.objects WHERE {where}",
                ident).fetchone()
            failure = conn.execute(
                f"SELECT failed_step, error, reason FROM {DB_SCHEMA}.failures WHERE {where}", ident).fetchone()
            if obj_row is None:
                return {"object": None, "failure": failure, "chunks": [], "embeddings": [], "generated": []}
            object_id = obj_row[0]
            chunks = conn.execute(
                f"SELECT ordinal, kind, text, time_start, time_end, duration, page, metadata FROM {DB_SCHEMA}.chunks"
                " WHERE object_id = %s ORDER BY ordinal", (object_id,)).fetchall()
            embeddings = conn.execute(
                f"SELECT c.ordinal, e.model_role, e.model_id, e.model_version, e.dimension, vector_dims(e.embedding)"
                f" FROM {DB_SCHEMA}.embeddings e JOIN {DB_SCHEMA}.chunks c ON c.id = e.chunk_id"
                " WHERE e.object_id = %s ORDER BY c.ordinal, e.model_role", (object_id,)).fetchall()
            generated = conn.execute(
                f"SELECT c.ordinal, g.task, g.content, g.model_id FROM {DB_SCHEMA}.generated g"
                f" LEFT JOIN {DB_SCHEMA}.chunks c ON c.id = g.chunk_id WHERE g.object_id = %s"
                " ORDER BY c.ordinal NULLS FIRST, g.task", (object_id,)).fetchall()
        return {
            "object": dict(zip(["id", "status", "modality", "detected_format", "metadata", "unavailable", "size"], obj_row)),
            "failure": failure,
            "chunks": [dict(zip(["ordinal", "kind", "text", "time_start", "time_end", "duration", "page", "metadata"], r))
                       for r in chunks],
            "embeddings": embeddings,
            "generated": generated,
        }

    def content(self, obj: ObjectRef) -> dict[str, Any]:
        """The rows without ids and timings: equal for equal results."""
        rows = self.rows(obj)
        if rows["object"]:
            rows["object"] = {k: v for k, v in rows["object"].items() if k != "id"}
        return rows


@pytest.fixture
def pipeline_env(monkeypatch, staging_bucket, db_env):
    monkeypatch.setenv(ENV_PIPELINE_VERSION, PIPELINE_VERSION)
    monkeypatch.setenv(ENV_VIDEO_CHUNK_SECONDS, "5")
    monkeypatch.setenv(ENV_TEXT_CHUNK_TOKENS, "40")
    monkeypatch.setenv(ENV_TEXT_CHUNK_OVERLAP, "10")
    return monkeypatch


@pytest.fixture
def pipeline(s3, ingest_bucket, db, pipeline_env, model_env) -> Pipeline:
    """All five roles served by the toolkit's model servers; handlers fresh for this test."""
    _reset_handlers()
    yield Pipeline(s3, ingest_bucket, db)
    _reset_handlers()


@pytest.fixture
def bare_pipeline(s3, ingest_bucket, db, pipeline_env, monkeypatch) -> Pipeline:
    """No model deployed at all: every role is "not available"."""
    monkeypatch.setenv(ENV_MODEL_ENDPOINTS, "{}")
    _reset_handlers()
    yield Pipeline(s3, ingest_bucket, db)
    _reset_handlers()


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    """A folder for the media files one test module synthesizes."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def wav(media_dir):
    """Speech (Debian festival) as a WAV file."""
    return speech_wav(media_dir)
