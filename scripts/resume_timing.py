"""How much of a local run a rerun after a kill -9 at about half way redoes.

    .venv/bin/python scripts/resume_timing.py [FOLDER] [--work DIR] [--long-audio-s N]

Three runs of `python -m local run FOLDER` in DIR (default: a temp folder; FOLDER default: the
generated sample set): a clean one (--fresh), a fresh one killed with SIGKILL half way (half the
clean run's pipeline time after its first upload), and a rerun without --fresh. Prints each
run's wall time and its pipeline time (first upload to last execution, the run's own figure),
and the rerun's share of the clean run's. The model servers' start (the same for every run) is
in the wall time only.

`--long-audio-s N` adds an N-second recording (the sample set's speech, repeated) to a copy of
the folder: the sample files are small enough that Lambda cold starts and the stand-ins' own
overhead make most of a run, which no resume can skip; a long object is where a run spends
minutes, and where the model-call checkpoints of the interrupted run are reused.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = re.compile(r"\(pipeline ([\d.]+) s\)")


def _command(folder: Path | None, work: Path, fresh: bool) -> list[str]:
    return [sys.executable, "-m", "local", "run", *([str(folder)] if folder else []), "--work", str(work),
            *(["--fresh"] if fresh else [])]


def timed_run(folder: Path | None, work: Path, fresh: bool) -> tuple[float, float | None, str]:
    """(wall s, pipeline s, stdout) of one whole run."""
    started = time.monotonic()
    done = subprocess.run(_command(folder, work, fresh), cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    found = PIPELINE.search(done.stdout)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"run failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, float(found.group(1)) if found else None, done.stdout + done.stderr


def killed_run(folder: Path | None, work: Path, after_s: float) -> str:
    """A fresh run, SIGKILLed `after_s` seconds after its first progress line (its first upload);
    returns its last progress line."""
    import threading

    process = subprocess.Popen(_command(folder, work, True), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    last = ""
    timer: threading.Timer | None = None
    try:
        for line in process.stderr:
            if line.startswith("progress:"):
                last = line.strip()
                if timer is None:
                    timer = threading.Timer(after_s, os.kill, (process.pid, signal.SIGKILL))
                    timer.start()
        if process.wait() != -signal.SIGKILL:
            raise RuntimeError("the run ended before it was killed")
        return last
    finally:
        if timer is not None:
            timer.cancel()
        process.wait()


def with_long_audio(folder: Path | None, seconds: int, into: Path) -> Path:
    """A copy of `folder` (default: the sample set) with `audio/long report.wav`: the sample's
    speech repeated for `seconds`."""
    import shutil
    import wave

    sys.path.insert(0, str(ROOT))  # run as a script: the repository is not on the path
    from samples.generate import generate

    if folder is None:
        generate(into)
    else:
        shutil.copytree(folder, into)
    with wave.open(str(next(into.rglob("*.wav"))), "rb") as speech:
        params, frames = speech.getparams(), speech.readframes(speech.getnframes())
    repeats = max(1, round(seconds * params.framerate / max(1, params.nframes)))
    with wave.open(str(into / "audio" / "long report.wav"), "wb") as out:
        out.setparams(params)
        out.writeframes(frames * repeats)
    return into


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/resume_timing.py", description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, help="files to process (default: the sample set)")
    parser.add_argument("--work", type=Path, help="the work folder (default: a new temp folder)")
    parser.add_argument("--long-audio-s", type=int, help="add a recording this long (seconds) to a copy of the folder")
    parser.add_argument("--kill-at", type=float, default=0.5, help="share of the clean run's pipeline time (default 0.5)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="resume-timing-"))
    folder = args.folder
    if args.long_audio_s:
        folder = with_long_audio(folder, args.long_audio_s, work.parent / f"{work.name}-input")
    clean_wall, clean_pipeline, _ = timed_run(folder, work, fresh=True)
    print(f"clean run: {clean_wall:.1f} s wall, pipeline {clean_pipeline} s", flush=True)
    last = killed_run(folder, work, args.kill_at * (clean_pipeline or clean_wall / 2))
    print(f"killed (SIGKILL) at {args.kill_at:.0%} of the clean pipeline time; its last line: {last}", flush=True)
    time.sleep(3)  # the reaper stops the killed run's PostgreSQL and model servers
    rerun_wall, rerun_pipeline, out = timed_run(folder, work, fresh=False)
    resumed = [line for line in out.splitlines() if line.startswith(("resuming", "resumed", "the previous run"))]
    print("\n".join(resumed))
    print(f"rerun after the kill: {rerun_wall:.1f} s wall, pipeline {rerun_pipeline} s")
    print(f"rerun / clean: wall {rerun_wall / clean_wall:.0%}" + (
        f", pipeline {rerun_pipeline / clean_pipeline:.0%}" if clean_pipeline and rerun_pipeline else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
