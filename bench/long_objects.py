"""Long objects through the whole local pipeline (the real ASL in moto, segments Map included):
an hour of audio, an hour of video, a 1,000-page PDF.

    .venv/bin/python bench/long_objects.py [--minutes 60] [--pages 1000] [--kinds audio,video,pdf]
        [--segment-seconds S] [--segment-pages P] [--no-tiny] [--work DIR]

Files are synthesized: a tone with a spoken sentence (Debian festival) every minute; the same
audio under a test pattern with a running timestamp drawn on it; PDF pages of text with a table
every tenth page. Each file is uploaded alone and processed by LocalPipeline with the deployed
segment settings (cdk.json segment_seconds / segment_pages) and the local run's chunking. Prints
per file: wall time, segments, chunks and vectors stored, Lambda invocations per step and the
longest one (the figure to hold against Lambda's 15 minutes), state transitions (every
*StateEntered event of the execution history) and history events (25,000 per execution at most),
endpoint calls per role, and the process' peak RSS while the file ran (VmHWM, reset per file;
the handlers of one file share the process and overlap, so this bounds each step's peak).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SENTENCE = "the pump in hall three was checked and the seal was replaced"


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def long_audio(tmp: Path, minutes: float) -> Path:
    """A quiet tone with the sentence spoken at the start of every minute (MP3, 64 kb/s mono)."""
    speech = tmp / "speech.wav"
    subprocess.run(["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", "-o", str(speech)],
                   input=SENTENCE.encode(), check=True)
    minute = tmp / "minute.wav"
    _ffmpeg("-i", str(speech), "-f", "lavfi", "-i", "sine=frequency=220:duration=60:sample_rate=16000",
            "-filter_complex", "[0:a]aresample=16000,apad=whole_dur=60[s];[1:a]volume=0.05[t];[s][t]amix=inputs=2:duration=longest",
            "-ac", "1", "-t", "60", str(minute))
    out = tmp / "hour.mp3"
    _ffmpeg("-stream_loop", str(max(0, int(minutes) - 1)), "-i", str(minute), "-t", str(minutes * 60),
            "-ac", "1", "-b:a", "64k", str(out))
    return out


def long_video(tmp: Path, audio: Path, minutes: float) -> Path:
    """A 320x240, 5 fps test pattern with its running time drawn on it, over `audio`."""
    out = tmp / "hour.mp4"
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=5:duration={minutes * 60}", "-i", str(audio),
            "-vf", "drawtext=text='%{pts\\:hms}':fontsize=28:fontcolor=white:x=20:y=20",
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "48k", "-t", str(minutes * 60), str(out))
    return out


def long_pdf(tmp: Path, pages: int) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = tmp / "manual.pdf"
    pdf = canvas.Canvas(str(out), pagesize=A4)
    for n in range(1, pages + 1):
        pdf.setFont("Helvetica", 12)
        pdf.drawString(72, 780, f"Pump manual, chapter {n}")
        for i in range(30):
            pdf.drawString(72, 750 - 20 * i, f"Step {i + 1} of chapter {n}: inspect valve {n}-{i} and record the reading.")
        pdf.showPage()
    pdf.save()
    return out


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux >= 4.0)


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_one(lp, recorder, path: Path, key: str, timeout_s: float) -> dict:
    from local.run import BUCKETS

    folder = path.parent
    target = folder / key
    target.parent.mkdir(parents=True, exist_ok=True)
    path.rename(target)
    lambdas_before, calls_before = len(recorder.lambdas), len(recorder.calls)
    _reset_peak()
    started = time.monotonic()
    uploads = lp.upload(folder, [target])
    # process() waits for `published` new records on the dispatcher's group, which resumes from the
    # offsets the previous file's pass committed: count this file's record only (as bench/load.py
    # does per wave), or every file after the first waits out --timeout.
    lp.published = 0
    lp.forward(uploads)
    [execution] = [e for e in lp.process(1, timeout_s=timeout_s) if e]
    wall = time.monotonic() - started
    sfn = lp.sfn
    events, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000,
                                         **({"nextToken": token} if token else {}))
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    entered = Counter(e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered"))
    # The segments are a Distributed Map: each is a child execution with a history of its own (which
    # moto does not keep), so they are counted from the input the Map state was entered with.
    segments = sum(len(json.loads(e["stateEnteredEventDetails"].get("input") or "{}").get("segments") or [])
                   for e in events if e["type"] == "MapStateEntered"
                   and e["stateEnteredEventDetails"]["name"].endswith("extract segments"))
    lambdas = recorder.lambdas[lambdas_before:]
    per_step: dict[str, list[float]] = defaultdict(list)
    for function, _, seconds in lambdas:
        per_step[function].append(seconds)
    calls = Counter(role for role, *_ in recorder.calls[calls_before:])
    with lp_db(lp) as conn:
        row = conn.execute(
            "SELECT o.status, (SELECT count(*) FROM pipeline.chunks c WHERE c.object_id = o.id),"
            " (SELECT count(*) FROM pipeline.embeddings e WHERE e.object_id = o.id)"
            " FROM pipeline.objects o WHERE o.bucket = %s AND o.key = %s", (BUCKETS["ingest"], key)).fetchone()
    return {"key": key, "bytes": target.stat().st_size, "wall_s": round(wall, 1), "status": row[0] if row else "missing",
            "chunks": row[1] if row else 0, "embeddings": row[2] if row else 0, "segments": segments,
            "transitions": sum(entered.values()), "history_events": len(events),
            "lambda": {f: (len(v), round(max(v), 1)) for f, v in sorted(per_step.items())},
            "endpoint_calls": dict(calls), "peak_rss_mb": round(_peak_mb())}


def lp_db(lp):
    from functions.common.db import open_connection

    return open_connection()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--kinds", default="audio,video,pdf")
    parser.add_argument("--segment-seconds", type=int, help="default: cdk.json segment_seconds")
    parser.add_argument("--segment-pages", type=int, help="default: cdk.json segment_pages")
    parser.add_argument("--timeout", type=float, default=5400.0, help="seconds to wait for one file's execution")
    parser.add_argument("--no-tiny", action="store_true",
                        help="leave the roles without local weights (image_embedding, generation) unavailable")
    parser.add_argument("--work", type=Path, help="folder for the local run's state (PostgreSQL data, logs); default: .local-run, whose database a run empties")
    args = parser.parse_args()
    kinds = args.kinds.split(",")

    from pipeline import Recorder  # bench/pipeline.py's counters of Lambda and endpoint calls

    from functions.common import constants as c
    from local.run import WORK, LocalPipeline

    config = json.loads((ROOT / "cdk.json").read_text())["context"]["pipeline"]
    results = []
    with tempfile.TemporaryDirectory(prefix="long-objects-") as tmp_name:
        tmp = Path(tmp_name)
        files = []
        print("synthesizing files ...", file=sys.stderr)
        audio = long_audio(tmp, args.minutes) if {"audio", "video"} & set(kinds) else None
        if "pdf" in kinds:
            files.append((long_pdf(tmp, args.pages), f"documents/manual-{args.pages}p.pdf"))
        if "video" in kinds:
            files.append((long_video(tmp, audio, args.minutes), f"video/hour-{args.minutes:g}min.mp4"))
        if "audio" in kinds:
            files.append((audio, f"audio/hour-{args.minutes:g}min.mp3"))
        recorder = Recorder()
        recorder.install()
        if not args.no_tiny:
            # Random tiny CLIP and Florence-2 for the roles without local weights, as bench/pipeline.py.
            from pipeline import _tiny_models

            from model_artifacts.catalog import ENV_LOCAL_MODEL_DIRS

            os.environ[ENV_LOCAL_MODEL_DIRS] = json.dumps(_tiny_models())
        with LocalPipeline(args.work or WORK, progress=False) as lp:
            os.environ[c.ENV_SEGMENT_SECONDS] = str(args.segment_seconds or config["segment_seconds"])
            os.environ[c.ENV_SEGMENT_PAGES] = str(args.segment_pages or config["segment_pages"])
            settings = (os.environ[c.ENV_SEGMENT_SECONDS], os.environ[c.ENV_SEGMENT_PAGES],
                        os.environ.get(c.ENV_VIDEO_CHUNK_SECONDS))
            for path, key in files:
                (tmp / "in").mkdir(exist_ok=True)
                moved = tmp / "in" / path.name
                path.rename(moved)
                print(f"processing {key} ...", file=sys.stderr)
                results.append(run_one(lp, recorder, moved, key, args.timeout))
                print(json.dumps(results[-1]), file=sys.stderr)
    print(f"segment_seconds {settings[0]}, segment_pages {settings[1]}, local video chunks of {settings[2]} s")
    print("| file | MB | wall s | status | segments | chunks | vectors | transitions | history events | "
          "Lambda invocations (longest s) | endpoint calls | peak RSS MB |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---|---|---:|")
    for r in results:
        lam = ", ".join(f"{f.removeprefix('pipeline-')} {n} ({longest})" for f, (n, longest) in r["lambda"].items())
        calls = ", ".join(f"{role} {n}" for role, n in sorted(r["endpoint_calls"].items()))
        print(f"| {r['key']} | {r['bytes'] / 1e6:.1f} | {r['wall_s']} | {r['status']} | {r['segments']} | {r['chunks']} | "
              f"{r['embeddings']} | {r['transitions']} | {r['history_events']} | {lam} | {calls} | {r['peak_rss_mb']} |")


if __name__ == "__main__":
    main()
