"""Which earlier result of the same bytes extract may reuse (functions/processing/results/reuse.py
`find_source`), against PostgreSQL with the schema of migrations/; and how the local report says
that a result was reused.

Given rows of earlier results, when extract asks for a result of the same bytes, then it gets the
one a copy may be made from, or none.
"""
from __future__ import annotations

import hashlib
import io
import json
from types import SimpleNamespace

import pytest

BUCKET = "bucket-a"
VERSION = "2026.11.1"
SHA = hashlib.sha256(b"the same bytes").hexdigest()
ALL_DEPLOYED = {role: f"endpoint-{role}" for role in ("text_embedding", "image_embedding", "generation", "speech", "ocr")}


def _row(db, key: str, *, sha: str = SHA, modality: str = "text", fmt: str = "text", status: str = "succeeded",
         pipeline_version: str = VERSION, unavailable: list[str] = (), reused_from: dict | None = None) -> None:
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO pipeline.objects (bucket, key, version_id, size, modality, detected_format, pipeline_version,"
            " status, unavailable, content_sha256, reused_from)"
            " VALUES (%s, %s, 'v1', 14, %s, %s, %s, %s, %s, %s, %s)",
            (BUCKET, key, modality, fmt, pipeline_version, status, list(unavailable), sha,
             None if reused_from is None else json.dumps(reused_from)))


def _find(db, key: str = "new.txt", *, modality: str = "text", fmt: str = "text", endpoints=ALL_DEPLOYED,
          sha: str = SHA):
    from functions.common.events import ObjectRef
    from functions.common.model_client import ModelClient
    from functions.processing.results.reuse import find_source
    from functions.processing.staging.manifest import ExtractManifest

    obj = ObjectRef(bucket=BUCKET, key=key, version_id="v1", size=14, modality=modality)
    manifest = ExtractManifest(object=obj, pipeline_version=VERSION, modality=modality, detected_format=fmt,
                               content_sha256=sha)
    found = find_source(db, manifest, ModelClient(endpoints).unavailable())
    return None if found is None else found.key


def test_a_succeeded_result_of_the_same_bytes_is_found(db):
    _row(db, "old.txt")
    assert _find(db) == "old.txt"


@pytest.mark.parametrize("differs", [
    {"sha": hashlib.sha256(b"other bytes").hexdigest()},
    {"pipeline_version": "2026.10.9"},
    {"modality": "document", "fmt": "csv"},
    {"fmt": "html"},
    {"status": "failed"},
])
def test_a_result_that_differs_in_what_decides_the_output_is_not_reused(db, differs):
    _row(db, "old.txt", **differs)
    assert _find(db) is None


def test_an_object_is_never_its_own_source(db):
    _row(db, "new.txt")
    assert _find(db, "new.txt") is None


def test_a_result_missing_an_output_a_deployed_model_would_give_is_not_reused(db):
    _row(db, "old.png", modality="image", fmt="png", unavailable=["generation"])
    assert _find(db, "new.png", modality="image", fmt="png") is None
    # while generation is still not deployed, it is what processing would give again
    still_missing = {r: e for r, e in ALL_DEPLOYED.items() if r != "generation"}
    assert _find(db, "new.png", modality="image", fmt="png", endpoints=still_missing) == "old.png"


def test_a_result_made_by_the_models_is_preferred_to_a_copy(db):
    _row(db, "a copy.txt", reused_from={"bucket": BUCKET, "key": "original.txt", "version_id": "v1"})
    _row(db, "original.txt")
    assert _find(db) == "original.txt"


def test_an_email_message_is_never_reused(db):
    # its attachments are written under the message's own key: a copy of another message's rows would not do it
    _row(db, "old.eml", modality="document", fmt="eml")
    assert _find(db, "new.eml", modality="document", fmt="eml") is None


def test_the_summary_and_the_html_report_say_from_which_object_a_result_was_reused(tmp_path):
    from local.report import FileReport, print_summary, write_html

    obj = {"key": "copies/b.txt", "chunks": [], "embeddings": 0, "generated": [], "unavailable": [], "size": 14,
           "detected_format": "text", "content_sha256": SHA,
           "reused_from": {"bucket": BUCKET, "key": "docs/a.txt", "version_id": "v1"}}
    files = [FileReport("copies/b.txt", "text", "succeeded", obj, None)]
    result = SimpleNamespace(objects=[obj], files=["copies/b.txt"], executions=[], elapsed=1.0, unavailable={},
                             attachments=[])

    out = io.StringIO()
    print_summary(files, result, out)
    page = write_html(tmp_path / "report.html", files, {"files": 1, "elapsed": 1.0, "executions": 0,
                                                        "executions_ok": 0, "unavailable": {}}).read_text()

    assert "same bytes as docs/a.txt (version v1)" in out.getvalue()
    assert "1 object: 1 succeeded (1 reusing the result of the same bytes) and 0 failed" in out.getvalue()
    assert "reused from" in page and "docs/a.txt (version v1)" in page
