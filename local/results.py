"""Where a local run keeps what it produced, and what one pass left behind.

Shared by `local.run` (which fills it), `local.report` (which shows it) and `local.search`
(which queries the database the last run kept), so that neither of the last two imports
`local.run`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.common import constants as c
from local.history import Iteration

WORK = Path(__file__).resolve().parents[1] / ".local-run"
# Deployed, every concurrently running function connects to RDS Proxy, which pools the clients
# onto Aurora. Locally each Lambda container (local.lambda_dispatch) connects to PostgreSQL
# itself, and the Map states run up to 62 objects side by side, each through extract and store:
# PostgreSQL's default of 100 clients is too few ("sorry, too many clients already").
LOCAL_MAX_CONNECTIONS = 400


def _drop_dead_handles(pgdata: Path) -> None:
    """pgserver stops a server when the last process holding a handle exits, and knows them by the
    pids in `pgdata`/.handle_pids.json; a process killed with -9 never removes its own, and the
    server would then never be stopped by anyone. Forget the pids of processes that are gone."""
    import psutil
    from pgserver.postgres_server import PostgresServer

    handles = pgdata / ".handle_pids.json"
    if not handles.is_file():
        return
    with PostgresServer._lock:
        try:
            pids = [int(p) for p in json.loads(handles.read_text())]
        except ValueError:
            return
        live = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if live != pids:
            handles.write_text(json.dumps(live))


def start_postgres(work: Path, fresh: bool) -> dict[str, str]:
    """pgserver on `work`/pg (kept between runs, so `search` reads what `run` stored and a rerun
    resumes on it).

    fresh=True drops and recreates the pipeline database (a run starts from empty).
    Returns the DB_* environment variables that point at it. The server is stopped when the last
    process using it exits, also when that process is killed (local/reaper.py).
    """
    from urllib.parse import parse_qs, urlparse

    import pgserver
    from pgserver.utils import PostmasterInfo

    from local.reaper import reaper

    pgdata = (work / "pg").resolve()
    _drop_dead_handles(pgdata)
    server = pgserver.get_server(str(pgdata), cleanup_mode="stop")
    reaper().postgres(pgdata)
    shown = re.search(r"\d+", server.psql("SHOW max_connections;"))
    if shown is None or int(shown.group()) < LOCAL_MAX_CONNECTIONS:
        # Takes effect on restart (kept in the data directory: only the first run restarts). The
        # server may outlive the process that started it, so restart it by its data directory.
        server.psql(f"ALTER SYSTEM SET max_connections = {LOCAL_MAX_CONNECTIONS};")
        pgserver.pg_ctl(["-w", "-m", "fast", "restart"], pgdata=pgdata, user=server.system_user, timeout=60)
        # pgserver's exit handler stops the postmaster it knows (by pid): tell it the new one.
        server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)
    if fresh:
        server.psql(f"DROP DATABASE IF EXISTS {c.DB_NAME} WITH (FORCE);")
    if fresh or c.DB_NAME not in server.psql("SELECT datname FROM pg_database;").split():
        server.psql(f"CREATE DATABASE {c.DB_NAME};")
    uri = urlparse(server.get_uri())
    return {
        c.ENV_DB_HOST: parse_qs(uri.query).get("host", [uri.hostname or "127.0.0.1"])[0],
        c.ENV_DB_PORT: str(uri.port or 5432),
        c.ENV_DB_NAME: c.DB_NAME,
        c.ENV_DB_USER: uri.username or "postgres",
        c.ENV_DB_PASSWORD: uri.password or "",
        c.ENV_DB_AUTH: "password",
    }


@dataclass
class RunResult:
    """What one pass left behind, read while the stand-ins were still up."""

    work: Path
    files: list[Path]
    objects: list[dict]  # local.report.load_objects: one per object row in PostgreSQL
    iterations: list[Iteration]  # one per file and execution, from the execution histories
    executions: list[dict]  # list_executions entries (name, status, ...)
    artefacts: dict  # local.report.collect_artefacts: thumbnails / keyframes as data: URIs
    elapsed: float  # seconds from the first upload until every execution ended
    db_env: dict[str, str]
    unavailable: dict[str, str] = field(default_factory=dict)  # model role -> why
    report_path: Path | None = None
    attachments: list[str] = field(default_factory=list)  # keys extract wrote back (e-mail attachments)
    authorized: int = 0  # calls the stand-ins authorized against the template's policies (local/iam)
    denied: list[str] = field(default_factory=list)  # calls they denied, as "<role>: <action> on <resource> (why)"
    permissions_path: Path | None = None  # the run's IAM usage table
    up_to_date: int = 0  # files the pipeline passed through as already stored (a resumed run)
    model_calls: dict[str, int] = field(default_factory=dict)  # role -> InvokeEndpoint requests this run made


def roles_stored(conn: Any) -> list[str]:
    """The query models a search of this database needs: text_embedding, and image_embedding
    when image embeddings are stored."""
    rows = conn.execute(f"SELECT DISTINCT model_role FROM {c.DB_SCHEMA}.{c.TABLE_EMBEDDINGS}").fetchall()
    stored = {r[0] for r in rows}
    return [role for role in (c.MODEL_TEXT_EMBEDDING, c.MODEL_IMAGE_EMBEDDING) if role in stored or role == c.MODEL_TEXT_EMBEDDING]
