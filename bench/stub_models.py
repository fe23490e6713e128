"""Contract-speaking stand-ins for the model roles that have no local weights (CLIP, Florence-2).

The pipeline benchmark needs every endpoint call the deployed app makes to happen, so that it
can count them per file; without weights `image_embedding` and `generation` are "not
available" and their calls would never be made. These stubs answer the wire format of
docs/contracts.md at (almost) no compute cost: image embeddings are deterministic unit
vectors of 512 dimensions, captions and summaries are fixed strings. Their *latency* is not a
model's: the benchmark prices those roles from bench/models.py throughput instead.
"""
from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from functions.common.constants import MODEL_GENERATION, MODEL_IMAGE_EMBEDDING

STUB_ROLES = (MODEL_IMAGE_EMBEDDING, MODEL_GENERATION)
IMAGE_DIMENSION = 512


def _vector(item: object) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(json.dumps(item, sort_keys=True).encode()).digest()[:8], "big")
    v = np.random.default_rng(seed).normal(size=IMAGE_DIMENSION)
    return (v / np.linalg.norm(v)).round(6).tolist()


def _output(role: str, item: object) -> object:
    if role == MODEL_IMAGE_EMBEDDING:
        return _vector(item)
    if isinstance(item, dict) and item.get("task") == "summarize":
        return {"summary": " ".join(str(item.get("text", "")).split()[:20]), "keywords": ["stub"]}
    return {"caption": "stub caption", "tags": ["stub"]}


def _handler(role: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # /ping
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:  # /invocations
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            reply = json.dumps({"model": {"id": f"stub-{role}", "version": "0"},
                                "outputs": [_output(role, item) for item in body["inputs"]]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    return Handler


class StubModels:
    """Start one stub server per role in STUB_ROLES; `endpoints` is {role: url}. Call stop()."""

    def __init__(self, roles: tuple[str, ...] = STUB_ROLES):
        self.endpoints: dict[str, str] = {}
        self._servers: list[ThreadingHTTPServer] = []
        for role in roles:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(role))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)
            self.endpoints[role] = f"http://127.0.0.1:{server.server_address[1]}"

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
