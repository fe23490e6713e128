"""The search page in a real headless browser (Chromium): it runs the query of its URL against
the service, and the DOM it leaves is checked against the function's own answer."""
from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from search_service_support import BUCKET, post

QUERY = "pump seals and valves"


def _page(url: str, **params) -> str:
    return f"{url}/?{urllib.parse.urlencode(params, doseq=True)}"


def _check_rendered(dom, answer: dict) -> None:
    """The page shows every file of `answer` in order: key, modality, score, the legs that found
    it with their ranks, and each passage's place, legs and text."""
    assert dom.find("body").attrs["data-state"] == "done"
    hits = dom.find_all("li", "hit")
    assert [h.attrs["data-key"] for h in hits] == [r["key"] for r in answer["results"]]
    for hit, expected in zip(hits, answer["results"], strict=True):
        assert hit.attrs["data-modality"] == expected["modality"] and hit.attrs["data-bucket"] == expected["bucket"]
        assert hit.find(cls="key").text == expected["key"]
        assert hit.find(cls="score").text == f"score {expected['score']:.4f}"
        legs = {leg.attrs["data-leg"]: int(leg.attrs["data-rank"]) for leg in hit.find_all(cls="leg")}
        assert legs == expected["ranks"]
        passages = hit.find_all("li", "passage")
        assert [p.attrs["data-chunk"] for p in passages] == [str(p["chunk_id"]) for p in expected["passages"]]
        for shown, p in zip(passages, expected["passages"], strict=True):
            assert shown.find(cls="where").text == p["where"]
            assert shown.attrs["data-legs"].split() == p["matched_by"]
            assert shown.find(cls="text").text == p["text"]
    summary = dom.find(id="summary")
    for leg, method in answer["legs"].items():
        assert f"{leg} ({method})" in summary.text
    for leg, why in answer["unavailable"].items():
        assert f"{leg} not used: {why}" in summary.text


def test_the_page_shows_the_ranked_files_their_passages_and_the_legs_that_found_them(service, browse):
    _, _, answer = post(f"{service.url}/search", {"query": QUERY, "limit": 5})

    dom = browse(_page(service.url, q=QUERY, limit=5))

    _check_rendered(dom, answer)
    manual = dom.find("li", "hit", data_key="manuals/pump-manual.pdf")
    assert manual is dom.find_all("li", "hit")[0]
    assert [p.find(cls="where").text for p in manual.find_all("li", "passage")][0].startswith("page ")
    # the query's words are marked in the passages
    assert {m.text.lower() for m in manual.find_all("mark")} >= {"pump", "seals", "valves"}
    # a document shows its modality's icon (only images have thumbnails)
    assert manual.find(cls="icon").text == "document" and manual.find("img") is None
    assert dom.find(id="error").attrs.get("hidden") is not None


def test_the_page_sends_its_filters_to_the_function(service, browse):
    _, _, answer = post(f"{service.url}/search", {
        "query": "rain and wind", "limit": 5, "filters": {"modalities": ["audio"], "time_from": 12, "time_to": 18}})

    dom = browse(_page(service.url, q="rain and wind", limit=5, modality="audio", time_from=12, time_to=18))

    _check_rendered(dom, answer)
    [hit] = dom.find_all("li", "hit")
    assert hit.attrs["data-key"] == "audio/briefing.wav"
    assert [p.attrs["data-where"] for p in hit.find_all("li", "passage")] == ["10.00-20.00 s"]

    dom = browse(_page(service.url, q=QUERY, prefix="parts/", limit=3))
    assert [h.attrs["data-key"] for h in dom.find_all("li", "hit")] == ["parts/xk-4471.txt"]


def test_an_image_result_shows_the_thumbnail_of_its_file(service, browse):
    dom = browse(_page(service.url, q="red fishing boat in the harbour", limit=3))

    boat = dom.find("li", "hit", data_key="images/red-boat.png")
    assert boat is dom.find_all("li", "hit")[0]
    thumb = boat.find(cls="thumb")
    assert thumb.attrs.get("data-thumb") == "loaded"  # the browser loaded and decoded the JPEG
    src = thumb.find("img").attrs["src"]
    assert src.startswith("thumbnail?") and urllib.parse.parse_qs(src.split("?", 1)[1]) == {
        "bucket": [BUCKET], "key": ["images/red-boat.png"]}

    # An image whose file changed since the run stored it: its icon instead
    dom = browse(_page(service.url, q="green tractor ploughing a field", limit=1))
    changed = dom.find("li", "hit", data_key="images/changed.png")
    assert changed.find(cls="thumb").attrs.get("data-thumb") == "missing"
    assert changed.find("img") is None and changed.find(cls="icon").text == "image"


def test_an_invalid_request_shows_the_functions_400(service, browse):
    dom = browse(_page(service.url, q=QUERY, limit=1000))

    assert dom.find("body").attrs["data-state"] == "error"
    error = dom.find(id="error")
    assert error.attrs.get("hidden") is None and error.attrs["data-status"] == "400"
    assert error.text.startswith("invalid request (400)") and "limit" in error.text
    assert dom.find_all("li", "hit") == []


@pytest.fixture
def deployed(service):
    """A stand-in for the deployed function URL: checks the SigV4 signature's scope (service
    `lambda`), then runs the search handler on the event a function URL sends for a signed
    caller (requestContext.authorizer.iam), in containers of a function of its own."""
    from local.lambda_dispatch import FakeLambdaContext, drop_containers, step_handler
    from local.serve import function_url_event, http_response

    seen: list[str] = []

    class FunctionUrl(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            auth = self.headers.get("authorization", "")
            seen.append(auth)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if not (auth.startswith("AWS4-HMAC-SHA256 Credential=") and "/lambda/aws4_request" in auth):
                status, headers, raw = 403, {"content-type": "application/json"}, b'{"Message": "Forbidden"}'
            else:
                event = function_url_event("POST", "/", "", dict(self.headers.items()), body, "198.51.100.7",
                                           "abc.lambda-url.us-east-1.on.aws")
                event["requestContext"]["authorizer"] = {"iam": {
                    "accessKey": "ASIA", "accountId": "111122223333", "callerId": "AROA:analyst",
                    "userArn": "arn:aws:sts::111122223333:assumed-role/Analyst/analyst", "userId": "AROA:analyst"}}
                status, headers, raw = http_response(step_handler("search")(event, FakeLambdaContext("deployed-search")))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), FunctionUrl)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", seen
    finally:
        server.shutdown()
        server.server_close()
        drop_containers("deployed-search")


def test_the_page_renders_the_deployed_functions_answer_through_the_signing_proxy(service, browse, deployed):
    from local.serve import SearchService

    url, seen = deployed
    query = "red fishing boat in the harbour"
    _, _, answer = post(f"{service.url}/search", {"query": query, "limit": 4})

    # `python -m local serve --upstream URL`: the page, and /search forwarded SigV4-signed
    with SearchService({}, upstream=url) as proxy:
        dom = browse(_page(proxy.url, q=query, limit=4))
        with urllib.request.urlopen(f"{proxy.url}/healthz") as response:
            health = json.loads(response.read())

    assert health["upstream"] == url
    assert seen and all("/us-east-1/lambda/aws4_request" in auth for auth in seen)
    _check_rendered(dom, answer)
    # no local files behind a deployed function: the image shows its icon
    boat = dom.find("li", "hit", data_key="images/red-boat.png")
    assert boat.find(cls="thumb").attrs.get("data-thumb") == "missing" and boat.find(cls="icon").text == "image"
