"""One run at a time per work folder: `work`/run.lock, held with flock by the run's process.

The file names its holder (pid, start time, command line). The kernel releases an flock when its
holder's process ends however it ends, so a second run finds either a live holder (it refuses,
naming it) or a lock nobody holds: a run that did not finish (killed, crashed, machine stopped),
whose pid the file still names, and whose results the new run resumes from.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

LOCK_FILE = "run.lock"


class WorkFolderBusy(RuntimeError):
    """Another live process holds the work folder's lock: `holder` is what its lock file says."""

    def __init__(self, work: Path, holder: dict[str, Any]) -> None:
        since = time.strftime("%H:%M:%S", time.localtime(holder.get("started", 0)))
        super().__init__(f"another run (pid {holder.get('pid', '?')}, started {since}: {holder.get('command', '?')}) "
                         f"is using {work}; wait for it to finish, or give this one its own folder with --work")
        self.holder = holder


@dataclass
class WorkLock:
    """The held lock. `previous`: what the lock file said when this run took it over from a run
    that did not finish (None when the last run ended cleanly or there was none)."""

    path: Path
    fd: int
    previous: Optional[dict[str, Any]] = None

    def release(self) -> None:
        """Mark a clean end (the file goes) and let go."""
        if self.fd < 0:
            return
        self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> WorkLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _holder(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 65536)
    try:
        found = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def acquire(work: Path, command: Optional[str] = None) -> WorkLock:
    """Take `work`'s lock or raise WorkFolderBusy. The file is left in place when the process dies
    without release(): the next run learns from it that it resumes after a crash."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise WorkFolderBusy(work, holder) from None
    previous = _holder(fd) or None  # a file nobody holds: its writer ended without releasing it
    me = {"pid": os.getpid(), "started": time.time(), "command": command or " ".join(sys.argv)}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(me).encode("utf-8"))
    os.fsync(fd)
    return WorkLock(path, fd, previous)
