"""Leaves nothing behind a process that can no longer clean up itself (kill -9, a crash, a
crashed test session): its model servers, its PostgreSQL, its temp folders.

What a process starts that outlives it on its own is registered here as it is started:
``reaper().process_group(pgid)`` (a model container), ``reaper().folder(path)`` (an ``mm-*``
home), ``reaper().postgres(pgdata)`` (a pgserver data directory), and forgotten once the process
stopped it itself (``reaper().forget(...)``). The first registration starts a sidecar (this file,
run as a script: nothing but the standard library, psutil and pgserver) in a session of its own,
holding the read end of a pipe whose only writer is the registering process. When that process
ends, however it ends, the pipe reaches end-of-file and the sidecar:

* kills each registered process group that still exists (SIGKILL: whatever was left is an orphan);
* stops each registered PostgreSQL as pgserver's own exit handler would, on behalf of the dead
  process: it takes pgserver's lock, drops the dead processes from the data directory's
  ``.handle_pids.json`` and stops the server (``pg_ctl stop`` by data directory, so a server
  restarted by ``pg_ctl restart`` is stopped too) only when no live process still holds a handle
  (a ``python -m local serve`` on the same folder keeps it); ``delete=True`` also removes the
  directory (a test session's throwaway server);
* removes each registered folder.

A child the container's own watchdog (local/sagemaker_container/serve.py) already ended is simply
gone; the two overlap on purpose.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve()


class Reaper:
    """The registering side: one sidecar per process (a forked child gets its own)."""

    def __init__(self) -> None:
        self._proc: Optional[subprocess.Popen] = None
        self._owner = 0
        self._lock = threading.Lock()

    def _send(self, message: dict[str, Any]) -> None:
        with self._lock:
            if self._proc is None or self._owner != os.getpid() or self._proc.poll() is not None:
                # Its own session: a Ctrl-C in the terminal or a kill of the run's process group
                # must not end the sidecar before it did its work. -I: not local/ on sys.path.
                self._proc = subprocess.Popen([sys.executable, "-I", str(HERE), str(os.getpid())], stdin=subprocess.PIPE,
                                              stdout=subprocess.DEVNULL, start_new_session=True)
                self._owner = os.getpid()
            assert self._proc.stdin is not None
            self._proc.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            self._proc.stdin.flush()

    @property
    def pid(self) -> Optional[int]:
        """The sidecar's pid (None before the first registration)."""
        return self._proc.pid if self._proc is not None and self._owner == os.getpid() else None

    def process_group(self, pgid: int) -> None:
        """Kill process group `pgid` if it still exists when this process ends."""
        self._send({"add": "group", "id": pgid})

    def folder(self, path: Path | str) -> None:
        """Remove `path` when this process ends."""
        self._send({"add": "folder", "id": str(path)})

    def postgres(self, pgdata: Path | str, delete: bool = False) -> None:
        """Stop the pgserver PostgreSQL of `pgdata` when this process ends and no other live process
        holds a handle on it; `delete`: remove the data directory as well."""
        self._send({"add": "postgres", "id": str(Path(pgdata).resolve()), "delete": delete})

    def forget(self, kind: str, ident: int | str | Path) -> None:
        """This process cleaned it up itself: leave `kind` ("group", "folder", "postgres") `ident` alone."""
        if self._proc is None or self._owner != os.getpid():
            return  # nothing registered from this process
        if kind == "postgres":
            ident = str(Path(str(ident)).resolve())
        self._send({"forget": kind, "id": ident if isinstance(ident, int) else str(ident)})


_REAPER = Reaper()


def reaper() -> Reaper:
    """This process's reaper."""
    return _REAPER


# --- the sidecar -----------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_postgres(pgdata: Path, dead: int, delete: bool) -> None:
    """pgserver's exit handler (PostgresServer._cleanup), run for the dead process `dead`."""
    import pgserver
    from pgserver.postgres_server import PostgresServer

    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    with PostgresServer._lock:
        handles = pgdata / ".handle_pids.json"
        try:
            pids = [int(p) for p in json.loads(handles.read_text())]
        except (OSError, ValueError):
            pids = []
        live = [p for p in pids if p != dead and _alive(p)]
        if handles.exists():
            handles.write_text(json.dumps(live))
        if live:
            return  # another process still uses this server: pgserver stops it when that one exits
        if (pgdata / "postmaster.pid").exists():
            try:
                pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user,  # type: ignore[attr-defined]
                                timeout=60)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                # pg_ctl runs as the server's user, who may not reach the folder (a parent made
                # 0700 since, as pytest does with its temp root): signal the postmaster instead.
                _signal_postmaster(pgdata)
        if delete:
            shutil.rmtree(pgdata, ignore_errors=True)


def _signal_postmaster(pgdata: Path, wait_s: float = 30.0) -> None:
    """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL: PostgreSQL's own signals
    (https://www.postgresql.org/docs/current/server-shutdown.html)."""
    import psutil

    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        postmaster = psutil.Process(pid)
    except (OSError, ValueError, IndexError, psutil.Error):
        return
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
        try:
            postmaster.send_signal(sig)
            postmaster.wait(wait_s)
            return
        except psutil.TimeoutExpired:
            continue
        except psutil.Error:
            return


def _serve(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    groups: set[int] = set()
    folders: set[str] = set()
    databases: dict[str, bool] = {}
    for raw in sys.stdin.buffer:  # until the registering process is gone (end of file)
        try:
            message = json.loads(raw)
        except ValueError:
            continue  # a line cut short by the kill
        kind = message.get("add") or message.get("forget")
        store: Any = {"group": groups, "folder": folders, "postgres": databases}.get(kind)
        if store is None:
            continue
        ident = message["id"]
        if "add" in message:
            if kind == "postgres":
                databases[ident] = bool(message.get("delete"))
            else:
                store.add(ident)
        elif kind == "postgres":
            databases.pop(ident, None)
        else:
            store.discard(ident)
    for pgid in groups:
        _kill_group(int(pgid))
    for pgdata, delete in databases.items():
        try:
            _stop_postgres(Path(pgdata), parent, delete)
        except Exception as exc:  # noqa: BLE001 - one database's trouble must not keep the rest
            print(f"reaper: could not stop PostgreSQL in {pgdata}: {exc}", file=sys.stderr)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
