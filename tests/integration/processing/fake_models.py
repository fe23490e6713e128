"""A tiny HTTP server speaking the model contract (docs/contracts.md), for the roles that have
no local weights (image_embedding, generation) and for protocol tests (throttling, 5xx, 413).

Outputs are deterministic functions of the input, clearly fake ("fake-" model ids).
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

IMAGE_DIM = 512


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' inject_lambda_context reads."""

    function_name: str = "test-fn"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-fn"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


def fake_vector(seed: bytes, dim: int = IMAGE_DIM) -> list[float]:
    digest = hashlib.sha256(seed).digest()
    return [((digest[i % 32] + i) % 97) / 97.0 - 0.5 for i in range(dim)]


def fake_output(role: str, item: Any) -> Any:
    if role == "image_embedding":
        return fake_vector(json.dumps(item, sort_keys=True).encode())
    if role == "generation":
        if isinstance(item, dict) and item.get("task") == "summarize":
            words = item["text"].split()
            common = [w for w, _ in Counter(w.lower().strip(".,") for w in words if len(w) > 4).most_common(5)]
            return {"summary": " ".join(words[:25]), "keywords": common}
        return {"caption": "a fake caption of a picture", "tags": ["fake", "picture"]}
    raise ValueError(role)


class FakeModelServer:
    """Serves one role. `behaviour(request_number, body) -> (status, reply dict) | None`
    overrides the normal answer (None: answer normally). `requests` records the bodies."""

    def __init__(self, role: str, behaviour: Callable[[int, dict], tuple[int, dict] | None] | None = None,
                 max_batch: int = 64) -> None:
        self.role = role
        self.behaviour = behaviour
        self.max_batch = max_batch
        self.requests: list[dict] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FakeModelServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _answer(self, body: dict) -> tuple[int, dict]:
        number = len(self.requests)
        self.requests.append(body)
        if self.behaviour is not None:
            override = self.behaviour(number, body)
            if override is not None:
                return override
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            return 400, {"error": "inputs must be a list"}
        if len(inputs) > self.max_batch:
            return 413, {"error": f"batch of {len(inputs)} above {self.max_batch}"}
        return 200, {"model": {"id": f"fake-{self.role}", "version": "1"},
                     "outputs": [fake_output(self.role, item) for item in inputs]}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.headers.get("Content-Type") != "application/json":
                    status, reply = 415, {"error": "application/json only"}
                else:
                    try:
                        status, reply = server._answer(json.loads(raw))
                    except ValueError:
                        status, reply = 400, {"error": "malformed body"}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
