"""`python -m local serve`: the search, kept warm, for the CLI and a small search page.

Started once, it brings up PostgreSQL on the last run's data (`--work`, default .local-run/pg,
never cleared) and the query-embedding model server(s), then answers on 127.0.0.1 only:

* ``POST /search``: the deployed search function itself. Each request becomes the event a
  Lambda function URL sends (payload format 2.0) and runs `functions.search.handler.lambda_handler`
  in a container of its own (local.lambda_dispatch: one module instance per concurrent request,
  reused while warm, as on Lambda); its statusCode, headers and body are the HTTP answer. So the
  request and the answer are the deployed function's (functions/search/handler.py): a JSON body
  {"query", "limit", "filters"}, SearchResult.to_dict() back, 400 / 403 / 503 with {"error", "detail"}.
  The function's environment comes from the stand-ins as the local run sets it: DB_* from
  local.results.start_postgres, MODEL_* from local.model_servers, SEARCH_BUCKETS = the local
  ingest bucket.
* ``GET /``: the search page (local/search_page/index.html: one file, nothing from the network).
  It runs the query in its URL (``/?q=...&limit=5&modality=video&prefix=...``) on load.
* ``GET /thumbnail?bucket=&key=&version_id=``: a JPEG thumbnail of an image result, made from
  the file the run uploaded (``--source``, default `work`/samples, where the run generates the
  sample set); only for an object of the searchable buckets stored as an image of the same size.
* ``GET /healthz``: {"service", "pid", "work"}.

It writes `work`/search-service.json ({"url", "port", "pid"}) while it runs, so that
`python -m local search` asks it instead of starting everything itself (local/search.py).
`--bench N` times N warm queries over HTTP and prints p50 / p95 (against the running service
when there is one, else against one it starts for the purpose).
`--upstream URL` serves the page in front of the deployed function URL instead: /search is
forwarded SigV4-signed (service `lambda`, the default AWS credentials), nothing local starts.

Python API (the tests): ``SearchService(env, source=..., state_dir=...).start()`` against any
database and model profile; ``serve_local(work)`` is the CLI's setup as a context manager.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import math
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

from functions.common import constants as c

PAGE = Path(__file__).resolve().parent / "search_page" / "index.html"
STATE_FILE = "search-service.json"
SERVICE_NAME = "local-search"
FUNCTION_NAME = "local-search"  # the name its containers run under (local.lambda_dispatch)
DEFAULT_PORT = 8000
HOST = "127.0.0.1"
MAX_BODY_BYTES = 6 * 1024 * 1024  # a function URL's request payload limit
THUMBNAIL_PX = 256
THUMBNAIL_CACHE = 512  # thumbnails kept in memory, oldest dropped first
DEFAULT_BENCH_QUERIES = ("weather forecast for the coast", "invoice total", "boats in the harbour at dawn",
                         "maintenance of the pump", "meeting notes", "a person speaking", "map of the coastline")
# What boto3 needs to make a client in the function (the local gateway checks no signature).
LOCAL_AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "1"}


# --- the function URL event ---------------------------------------------------------------------
def function_url_event(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes,
                       source_ip: str, domain: str) -> dict[str, Any]:
    """The event a Lambda function URL hands the function for one HTTP request (payload format
    2.0, https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads). No
    IAM authorizer: a local request is unsigned."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous", "apiId": SERVICE_NAME, "domainName": domain, "domainPrefix": SERVICE_NAME,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": lowered.get("user-agent", "")},
            "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in urllib.parse.parse_qs(query).items()}
    if body:
        event["body"] = text
    return event


def http_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """A function URL's HTTP answer for what the function returned: a dict with statusCode (the
    structured form, the search function's) or anything else as a 200 JSON body."""
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        return int(result["statusCode"]), headers, raw
    return 200, {"content-type": "application/json"}, json.dumps(result).encode("utf-8")


# --- thumbnails ----------------------------------------------------------------------------------
class Thumbnails:
    """JPEG thumbnails of image results, from the files the run uploaded.

    An object's key is its path under `source` (local.run uploads `path.relative_to(folder)`).
    A thumbnail is made only for an object the search may return (SEARCH_BUCKETS, the caller's
    scope), stored as an image whose size is the file's, so a folder that changed since the run
    shows no wrong picture."""

    def __init__(self, source: Optional[Path], env: Mapping[str, str]) -> None:
        self.source = source.resolve() if source else None
        self.env = dict(env)
        self._conn: Any = None
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int, int], bytes] = {}
        self._cache_lock = threading.Lock()

    def _stored(self, bucket: str, key: str, version_id: Optional[str]) -> Optional[tuple[str, int]]:
        """(modality, size) of the stored object version, or None."""
        import psycopg

        from functions.common.db import DbConfig, open_connection

        sql = (f"SELECT modality, size FROM {c.DB_SCHEMA}.{c.TABLE_OBJECTS} WHERE bucket = %s AND key = %s"
               " AND status = 'succeeded' AND (%s::text IS NULL OR version_id = %s) ORDER BY id DESC LIMIT 1")
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = open_connection(DbConfig.from_env(self.env))
                    row = self._conn.execute(sql, (bucket, key, version_id, version_id)).fetchone()
                    return (row[0], int(row[1])) if row else None
                except psycopg.OperationalError:
                    self._close_locked()
                    if attempt == 2:
                        raise
        return None

    def get(self, bucket: str, key: str, version_id: Optional[str]) -> tuple[int, bytes | str]:
        """(200, the JPEG) or (404 / 403, why not)."""
        from functions.search.settings import AccessDenied, SearchSettings

        if self.source is None:
            return 404, "no source folder for thumbnails (python -m local serve --source FOLDER)"
        try:
            scope = SearchSettings.from_env(self.env).scope_for(None)
        except AccessDenied as exc:
            return 403, str(exc)
        if (scope.buckets is not None and bucket not in scope.buckets) or (
                scope.key_prefixes is not None and not any(key.startswith(p) for p in scope.key_prefixes)):
            return 404, "not an object the search may return"
        path = (self.source / key).resolve()
        if not path.is_relative_to(self.source) or not path.is_file():
            return 404, f"{key} is not in {self.source}"
        stored = self._stored(bucket, key, version_id)
        stat = path.stat()
        if stored is None or stored[0] != "image":
            return 404, "not a stored image"
        if stored[1] != stat.st_size:
            return 404, f"{path} is not the file the run stored ({stat.st_size} bytes, stored {stored[1]})"
        ident = (str(path), stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(ident)
        if cached is None:
            from PIL import Image, ImageOps

            with Image.open(path) as opened:
                image = ImageOps.exif_transpose(opened)
                image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
                out = io.BytesIO()
                image.convert("RGB").save(out, format="JPEG", quality=85)
            with self._cache_lock:
                if len(self._cache) >= THUMBNAIL_CACHE:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[ident] = out.getvalue()
            return 200, out.getvalue()
        return 200, cached

    def _close_locked(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()


# --- the service ---------------------------------------------------------------------------------
class SearchService:
    """The HTTP service (module docstring) around the search function's handler.

    `env`: the function's environment (DB_*, MODEL_ENDPOINTS, MODEL_COMPONENTS, MODEL_BATCH_ITEMS,
    AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, SEARCH_BUCKETS, optional SEARCH_ACCESS); it is put into
    os.environ while the service runs (a Lambda container reads its environment there) and taken
    out again on stop. `source`: the folder the run uploaded (thumbnails). `state_dir`: where to
    write STATE_FILE for the CLI (None: nowhere), once start() has run one search (`warm`) so
    that the first real one finds a warm container and model. `upstream`: a deployed function
    URL to forward /search to, SigV4-signed, instead of running the handler here. Use as a
    context manager.
    """

    def __init__(self, env: Mapping[str, str], *, source: Optional[Path] = None, state_dir: Optional[Path] = None,
                 port: int = 0, upstream: Optional[str] = None, log: bool = False, warm: bool = True) -> None:
        self.env = {**LOCAL_AWS_ENV, **env}
        self.source = source
        self.state_dir = state_dir
        self.port = port
        self.upstream = upstream
        self.log = log
        self.warm = warm
        self.thumbnails = Thumbnails(None if upstream else source, self.env)
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._saved_env: dict[str, Optional[str]] = {}

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self) -> SearchService:
        from local.lambda_dispatch import drop_containers

        self._server = ThreadingHTTPServer((HOST, self.port), _handler_class(self))
        self._server.daemon_threads = True
        if not self.upstream:
            self._saved_env = {name: os.environ.get(name) for name in self.env}
            os.environ.update(self.env)
            drop_containers(FUNCTION_NAME)  # containers read the environment when they start
        self._thread = threading.Thread(target=self._server.serve_forever, name="search-service", daemon=True)
        self._thread.start()
        if self.warm and not self.upstream:
            try:
                self.warm_up()  # before the state file names it: the CLI's first query finds it warm
            except BaseException:
                self.stop()
                raise
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            state = {"url": self.url, "port": self._server.server_address[1], "pid": os.getpid(),
                     "started": datetime.now(UTC).isoformat(timespec="seconds"), "upstream": self.upstream}
            tmp = self.state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state), encoding="utf-8")
            tmp.replace(self.state_path)
        return self

    @property
    def state_path(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir / STATE_FILE

    def stop(self) -> None:
        from local.lambda_dispatch import drop_containers

        if self.state_dir is not None:
            with contextlib.suppress(FileNotFoundError, ValueError):
                if json.loads(self.state_path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                    self.state_path.unlink()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.thumbnails.close()
        if not self.upstream:
            drop_containers(FUNCTION_NAME)  # closes each container's database connection
            for name, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._saved_env = {}

    def __enter__(self) -> SearchService:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- what the routes do ---------------------------------------------------------------------
    def invoke(self, event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        """Run the search function on a function URL event, as Lambda would."""
        from local.lambda_dispatch import FakeLambdaContext, step_handler

        return http_response(step_handler("search")(event, FakeLambdaContext(FUNCTION_NAME)))

    def forward(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        """POST `body` to the deployed function URL, SigV4-signed for the `lambda` service."""
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        assert self.upstream is not None
        session = boto3.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            return 500, {"content-type": "application/json"}, b'{"error": "no AWS credentials to sign with"}'
        host = urllib.parse.urlparse(self.upstream).hostname or ""
        parts = host.split(".")  # <url-id>.lambda-url.<region>.on.aws
        region = parts[2] if len(parts) == 5 and parts[1] == "lambda-url" else (session.region_name or "us-east-1")
        content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "application/json")
        request = AWSRequest(method="POST", url=self.upstream, data=body, headers={"content-type": content_type})
        SigV4Auth(credentials.get_frozen_credentials(), "lambda", region).add_auth(request)
        prepared = urllib.request.Request(self.upstream, data=body, method="POST", headers=dict(request.headers.items()))
        try:
            with urllib.request.urlopen(prepared, timeout=60) as response:
                return response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers.items()), exc.read()

    def warm_up(self, query: str = "warm up") -> None:
        """One search, so that the first real one finds a warm container and model. Raises
        RuntimeError when the function cannot answer (no schema, no model...)."""
        body = json.dumps({"query": query, "limit": 1}).encode("utf-8")
        event = function_url_event("POST", "/search", "", {"content-type": "application/json"}, body,
                                   HOST, urllib.parse.urlsplit(self.url).netloc)
        try:
            status, _, answer = self.invoke(event)
        except Exception as exc:  # noqa: BLE001 - what the function raised, for the person starting it
            raise RuntimeError(f"the search function failed on a first query: {type(exc).__name__}: {exc}") from exc
        if status != 200:
            raise RuntimeError(f"the search function answered a first query with {status}: {answer[:500].decode()}")


def _handler_class(service: SearchService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "local-search"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            if service.log:
                super().log_message(format, *args)

        def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
            self.send_response(status)
            skip = {"content-length", "connection", "transfer-encoding", "date", "server"}
            for name, value in headers.items():
                if name.lower() not in skip:
                    self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.send_header("cache-control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, {"content-type": "application/json"}, json.dumps(body).encode("utf-8"))

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urllib.parse.urlsplit(self.path)
            if url.path in ("/", "/index.html"):
                self._send(200, {"content-type": "text/html; charset=utf-8"}, PAGE.read_bytes())
            elif url.path == "/thumbnail":
                params = urllib.parse.parse_qs(url.query)
                bucket, key = params.get("bucket", [""])[0], params.get("key", [""])[0]
                if not bucket or not key:
                    self._json(400, {"error": "invalid request", "detail": "bucket and key are required"})
                    return
                try:
                    status, data = service.thumbnails.get(bucket, key, params.get("version_id", [None])[0] or None)
                except Exception as exc:  # noqa: BLE001 - an unreadable image, a configuration error
                    status, data = 500, f"{type(exc).__name__}: {exc}"[:500]
                if isinstance(data, bytes):
                    self._send(status, {"content-type": "image/jpeg"}, data)
                else:
                    self._json(status, {"error": "no thumbnail", "detail": data})
            elif url.path == "/healthz":
                self._json(200, {"service": SERVICE_NAME, "pid": os.getpid(), "upstream": service.upstream})
            elif url.path == "/search":
                self._json(405, {"error": "method not allowed", "detail": "POST a JSON body to /search"})
            else:
                self._json(404, {"error": "not found", "detail": url.path})

        do_HEAD = do_GET  # noqa: N815

        def do_POST(self) -> None:  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/search":
                self._json(404, {"error": "not found", "detail": url.path})
                return
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                self._json(413, {"error": "request too large", "detail": f"at most {MAX_BODY_BYTES} bytes"})
                return
            body = self.rfile.read(length) if length else b""
            headers = dict(self.headers.items())
            try:
                if service.upstream:
                    self._send(*service.forward(body, headers))
                else:
                    host = self.headers.get("host") or urllib.parse.urlsplit(service.url).netloc
                    event = function_url_event("POST", url.path, url.query, headers, body, self.client_address[0], host)
                    self._send(*service.invoke(event))
            except Exception as exc:  # noqa: BLE001 - an unhandled function error: Lambda's 502
                self._json(502, {"error": "function error", "detail": f"{type(exc).__name__}: {exc}"[:2000]})

    return Handler


# --- the local stand-ins under it ----------------------------------------------------------------
@contextlib.contextmanager
def serve_local(work: Path, *, port: int = DEFAULT_PORT, source: Optional[Path] = None,
                workers: Optional[int] = None, log: bool = False) -> Iterator[SearchService]:
    """PostgreSQL on `work`/pg and the query models, then the service over them (state file in
    `work`). Raises RuntimeError when no run stored anything there."""
    from functions.common.db import DbConfig, open_connection
    from local.model_servers import start_local_profile
    from local.results import roles_stored, start_postgres
    from local.run import BUCKETS

    if not (work / "pg").is_dir():
        raise RuntimeError(f"no database in {work / 'pg'}: run `python -m local run` first")
    db_env = start_postgres(work, fresh=False)
    try:
        with open_connection(DbConfig.from_env(db_env)) as conn:
            roles = roles_stored(conn)
    except Exception as exc:  # noqa: BLE001 - no database, or no schema: the run never stored anything
        raise RuntimeError(f"cannot read the pipeline database in {work / 'pg'} ({exc}): "
                           "run `python -m local run` first") from exc
    print(f"starting the query model(s): {', '.join(roles)}", file=sys.stderr)
    with start_local_profile(roles=roles, workers=workers or min(2, os.cpu_count() or 1)) as profile:
        if c.MODEL_TEXT_EMBEDDING not in profile.endpoints:
            raise RuntimeError(f"text_embedding model not available: {profile.unavailable.get(c.MODEL_TEXT_EMBEDDING)}")
        for role, why in profile.unavailable.items():
            if role in roles:
                print(f"  model {role}: not available ({why})", file=sys.stderr)
        env = {**db_env, **profile.env(), c.ENV_SEARCH_BUCKETS: json.dumps([BUCKETS["ingest"]])}
        if source is None and (work / "samples").is_dir():
            source = work / "samples"  # where `python -m local run` generates the sample set
        with SearchService(env, source=source, state_dir=work, port=port, log=log) as service:
            yield service


def running_service(work: Path, timeout: float = 1.0) -> Optional[str]:
    """The URL of the service serving `work` (its state file names a live process that answers
    /healthz as that process), or None."""
    try:
        state = json.loads((work / STATE_FILE).read_text(encoding="utf-8"))
        pid, url = int(state["pid"]), str(state["url"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=timeout) as response:
            health = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return url if health.get("service") == SERVICE_NAME and health.get("pid") == pid else None


# --- latency -------------------------------------------------------------------------------------
@dataclass
class BenchResult:
    seconds: list[float]  # each query's wall time, in order

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile."""
        ordered = sorted(self.seconds)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p95(self) -> float:
        return self.percentile(95)

    def line(self) -> str:
        return (f"{len(self.seconds)} warm queries over HTTP: p50 {self.p50 * 1000:.0f} ms, "
                f"p95 {self.p95 * 1000:.0f} ms, max {max(self.seconds) * 1000:.0f} ms")


def bench(url: str, n: int = 20, queries: tuple[str, ...] = DEFAULT_BENCH_QUERIES, limit: int = 10) -> BenchResult:
    """Time `n` searches end to end over HTTP (POST /search, the whole answer read), cycling
    through `queries`, after one untimed warm-up request per query. Raises RuntimeError on an
    answer other than 200."""
    def one(query: str) -> float:
        body = json.dumps({"query": query, "limit": limit}).encode("utf-8")
        request = urllib.request.Request(f"{url}/search", data=body, method="POST",
                                         headers={"content-type": "application/json"})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"search answered {exc.code}: {exc.read()[:500]!r}") from exc
        return time.perf_counter() - started

    for query in queries[:n]:
        one(query)
    return BenchResult([one(queries[i % len(queries)]) for i in range(n)])


# --- CLI -----------------------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    from local.results import WORK

    parser = argparse.ArgumentParser(prog="python -m local serve", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on {HOST} (default {DEFAULT_PORT})")
    parser.add_argument("--work", type=Path, default=WORK, help="the local run's folder (default .local-run)")
    parser.add_argument("--source", type=Path,
                        help="the folder the run uploaded, for image thumbnails (default WORK/samples)")
    parser.add_argument("--workers", type=int, help="model workers per query model (default 2)")
    parser.add_argument("--bench", type=int, metavar="N", help="time N warm queries over HTTP, print p50/p95, exit")
    parser.add_argument("--query", action="append", help="a query for --bench (repeatable; default a fixed set)")
    parser.add_argument("--upstream", help="a deployed search function URL: forward /search to it, SigV4-signed")
    parser.add_argument("--log", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the handler's per-request INFO lines
    queries = tuple(args.query) if args.query else DEFAULT_BENCH_QUERIES

    if args.bench:
        url = running_service(args.work)
        if url:
            print(f"using the running service at {url}", file=sys.stderr)
            print(bench(url, args.bench, queries).line())
            return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if args.upstream:
            service_cm: contextlib.AbstractContextManager[SearchService] = SearchService(
                {}, port=args.port, upstream=args.upstream, log=args.log)
        else:
            running = running_service(args.work)
            if running:
                print(f"a search service already serves {args.work}: {running}", file=sys.stderr)
                return 1
            service_cm = serve_local(args.work, port=args.port, source=args.source, workers=args.workers, log=args.log)
        with service_cm as service:
            if args.bench:
                print(bench(service.url, args.bench, queries).line())
                return 0
            print(f"search page: {service.url}/   API: POST {service.url}/search   (Ctrl-C to stop)", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while not stop.wait(1.0):
                    pass
    except (RuntimeError, OSError) as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


__all__ = ["SearchService", "BenchResult", "bench", "function_url_event", "http_response", "running_service",
           "serve_local", "main"]
