"""The local search service's API, thumbnails, latency and the CLI's fast path, over real
searches of the stored corpus (conftest.py)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

from search_service_support import BUCKET, CODE, REPO_ROOT, post

QUERY = "pump seals and valves"


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read()


def test_search_answers_with_what_the_deployed_function_answers(service, migrated_db, text_model):
    from functions.common.db import open_connection
    from functions.common.model_client import ModelClient
    from functions.search.core import ModelEmbedder, Scope, search

    status, headers, body = post(f"{service.url}/search", {"query": QUERY, "limit": 5})

    # Then the answer is the function's SearchResult.to_dict(), over the searchable bucket only
    assert status == 200 and headers["content-type"] == "application/json"
    embed = ModelEmbedder(ModelClient(text_model.endpoints, components=text_model.components,
                                      sagemaker_client=text_model.client()))
    with open_connection(migrated_db) as conn:
        expected = search(conn, QUERY, embed, limit=5, scope=Scope(buckets=(BUCKET,))).to_dict()
    assert body == json.loads(json.dumps(expected, default=str))
    assert body["results"][0]["key"] == "manuals/pump-manual.pdf"
    # the other tenant's file says the same words, and is never returned
    assert {r["bucket"] for r in body["results"]} == {BUCKET}
    assert "secret/pump-seals.txt" not in [r["key"] for r in body["results"]]
    # every leg that ran and the one that could not (no image model here) are named
    assert set(body["legs"]) == {"text", "lexical"} and "image" in body["unavailable"]
    manual = body["results"][0]
    assert set(manual["ranks"]) == {"text", "lexical"}
    assert all(p["where"].startswith("page ") and "seals" in p["text"] for p in manual["passages"])


def test_filters_reach_the_function(service):
    status, _, body = post(f"{service.url}/search", {
        "query": "rain and wind", "limit": 5, "filters": {"modalities": ["audio"], "time_from": 12, "time_to": 18}})

    assert status == 200
    assert [r["key"] for r in body["results"]] == ["audio/briefing.wav"]
    assert [p["where"] for p in body["results"][0]["passages"]] == ["10.00-20.00 s"]


def test_an_exact_code_is_found_by_the_lexical_leg(service):
    _, _, body = post(f"{service.url}/search", {"query": CODE, "limit": 3})

    assert body["results"][0]["key"] == f"parts/{CODE.lower()}.txt"
    assert "lexical" in body["results"][0]["ranks"]


def test_an_invalid_request_is_the_functions_400(service):
    for bad in ({"query": ""}, {"query": "pump", "limit": 1000}, {"query": "pump", "filters": {"modalities": ["smell"]}},
                {"query": "pump", "unknown": 1}):
        status, _, body = post(f"{service.url}/search", bad)
        assert status == 400 and body["error"] == "invalid request", bad
    status, _, body = post(f"{service.url}/search", None, raw=b"not json")
    assert status == 400 and body["error"] == "invalid request"
    status, _, _ = _get(f"{service.url}/search")
    assert status == 405


def test_the_thumbnail_of_an_image_result_is_its_uploaded_file_scaled_down(service):
    from PIL import Image

    query = urllib.parse.urlencode({"bucket": BUCKET, "key": "images/red-boat.png"})
    status, content_type, data = _get(f"{service.url}/thumbnail?{query}")

    assert status == 200 and content_type == "image/jpeg"
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and max(image.size) == 256 and image.size == (256, 192)
    r, g, b = image.convert("RGB").getpixel((128, 96))
    assert r > 150 and g < 80 and b < 80


def test_no_thumbnail_for_a_changed_file_another_bucket_or_a_path_outside_the_folder(service):
    for bucket, key in ((BUCKET, "images/changed.png"),  # stored with another size
                        (BUCKET, "notes/bakery.txt"),  # not an image, not in the folder
                        ("another-tenant-bucket", "images/red-boat.png"),  # not a searchable bucket
                        (BUCKET, "images/../../etc/passwd"), (BUCKET, "/etc/passwd")):
        status, content_type, data = _get(f"{service.url}/thumbnail?" + urllib.parse.urlencode({"bucket": bucket, "key": key}))
        assert status == 404 and content_type == "application/json", (key, data)


def test_warm_queries_answer_in_under_a_second(service):
    from local.serve import bench

    result = bench(service.url, n=20)

    print(result.line())
    assert len(result.seconds) == 20
    assert result.p95 < 1.0, result.line()


def _cli(*args: str, work) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "local", "search", *args, "--work", str(work)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})


def test_the_cli_asks_the_running_service(service, work):
    # Given the service's state file in the run's folder
    assert json.loads((work / "search-service.json").read_text())["url"] == service.url

    done = _cli(QUERY, "--limit", "3", work=work)

    # Then the CLI answers from it (no PostgreSQL or model started: there is none in `work`)
    assert done.returncode == 0, done.stderr
    assert f"answered by the search service at {service.url}" in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("pgvector ") and "text: exact" in lines[0] and "lexical: bm25" in lines[0]
    assert lines[1].startswith(" 1. manuals/pump-manual.pdf  (document; ")
    assert "page " in lines[2] and "text+lexical" in lines[2]

    refused = _cli(QUERY, "--limit", "1000", work=work)
    assert refused.returncode == 1 and "invalid request (400)" in refused.stderr


def test_the_cli_searches_on_its_own_when_no_service_runs(tmp_path):
    # Given a state file left behind by a service that is gone
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "search-service.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": int(gone.stdout)}))

    done = _cli(QUERY, work=tmp_path)

    # Then it goes the old way: PostgreSQL on the folder's data, which this folder lacks
    assert done.returncode == 1 and "no database in" in done.stderr, done.stderr


def test_search_result_comes_from_the_running_service(service, work):
    from local.search import search, search_result

    result = search_result(QUERY, limit=3, work=work)
    _, _, body = post(f"{service.url}/search", {"query": QUERY, "limit": 3})

    assert result.to_dict() == body
    [first, *_] = search(QUERY, limit=3, work=work)
    assert first.key == "manuals/pump-manual.pdf" and first.modality == "document"
    assert first.passages[0].page is not None and "seals" in first.passages[0].text
