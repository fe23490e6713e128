"""A `python -m local run` killed with SIGKILL leaves nothing running and no temp folder behind
(local/reaper.py, the containers' exit-with-parent watchdog), and its lock says it did not finish."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[3]


def _processes_of(tmp: Path, work: Path) -> list[psutil.Process]:
    """Every process that belongs to the run under test: its temp folder or its work folder in
    the command line (model servers' Java frontends and workers are reparented once their
    launcher exits, PostgreSQL daemonizes: neither is a child of the run) or in the environment."""
    found = []
    for process in psutil.process_iter(["cmdline", "environ"]):
        try:
            text = " ".join(process.info["cmdline"] or []) + " " + str((process.info["environ"] or {}).get("TMPDIR"))
        except psutil.Error:
            continue
        if (str(tmp) in text or str(work) in text) and process.pid != os.getpid():
            found.append(process)
    return found


def test_a_killed_run_leaves_no_process_no_postgres_and_no_temp_folder(tmp_path):
    # Given a run on a few small files, with its own temp folder
    folder, work, tmp = tmp_path / "in", tmp_path / "work", tmp_path / "tmp"
    for d in (folder, tmp):
        d.mkdir()
    for n in range(3):
        (folder / f"note {n}.txt").write_text(f"Note {n}: the tanker berths at dawn. " * 20)
    run = subprocess.Popen([sys.executable, "-m", "local", "run", str(folder), "--work", str(work)], cwd=REPO_ROOT,
                           env={**os.environ, "TMPDIR": str(tmp)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    assert run.stderr is not None
    try:
        # When it is killed (SIGKILL: no handler runs) once everything is up and files move
        for line in run.stderr:
            if line.startswith("progress:"):
                break
        else:
            raise AssertionError(f"the run ended before any progress (exit {run.wait()})")
        running = _processes_of(tmp, work)
        assert any("ModelServer" in " ".join(p.cmdline()) for p in running)  # the model servers are up
        assert (work / "pg" / "postmaster.pid").is_file()
        assert list(tmp.glob("mm-*"))
        os.kill(run.pid, signal.SIGKILL)
    finally:
        run.wait(timeout=60)
    # Then within seconds nothing of it runs any more: model servers, PostgreSQL, the reaper itself
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (_processes_of(tmp, work) or list(tmp.glob("mm-*"))):
        time.sleep(0.5)
    assert [" ".join(p.cmdline())[:120] for p in _processes_of(tmp, work) if p.is_running()] == []
    assert list(tmp.glob("mm-*")) == []
    assert not (work / "pg" / "postmaster.pid").exists()
    # And its lock file names it as a run that did not finish (the next run resumes)
    assert json.loads((work / "run.lock").read_text())["pid"] == run.pid
