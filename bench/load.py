"""Load: push many small mixed files through the whole local pipeline and count the outcomes.

    .venv/bin/python -m bench.load [--files 1000] [--seed 7]

Generates the files (text, PNG with words, WAV tone, PDF, DOCX, a few MP4 clips and ~2 %
corrupt files), uploads them to the local ingest bucket, forwards every S3 event, lets the
ESM stand-in dispatch the Kafka batches and waits for every execution; then reads
PostgreSQL and prints, per file: processed (one complete result set), failed (one failure
row with a reason), duplicated (more than one object row, or a result and a failure) and
lost (no outcome at all). The last two must be 0; the exit status is 1 otherwise.
Handler logs go to .local-run/load/lambda.log (--work to choose the folder).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import random
import subprocess
import sys
import time
import wave
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".local-run" / "load"
# Share of each kind in the mix (the rest of 1.0 is text).
MIX = {"image": 0.12, "audio": 0.06, "document": 0.10, "docx": 0.04, "video": 0.005, "corrupt": 0.02}


def _wav(seconds: float, freq: int) -> bytes:
    import math

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        frames = bytearray()
        for i in range(int(16000 * seconds)):
            frames += int(3000 * math.sin(2 * math.pi * freq * i / 16000)).to_bytes(2, "little", signed=True)
        w.writeframes(bytes(frames))
    return out.getvalue()


def generate(folder: Path, count: int, seed: int) -> list[Path]:
    """`count` small files of mixed kinds under `folder`; returns their paths."""
    from samples.generate import _docx, _image, _pdf

    rng = random.Random(seed)
    words = ("river stone lantern orchard copper meadow harbor violet thunder maple canyon silver garden "
             "falcon ember glacier willow saffron prairie beacon invoice report quarterly finance").split()
    folder.mkdir(parents=True, exist_ok=True)
    clip = folder.parent / "clip.mp4"
    if not clip.exists():
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc=size=160x120:rate=5", "-t", "2", "-pix_fmt", "yuv420p", str(clip)], check=True)
    templates = {"image": [_image(rng.sample(words, 3), "PNG") for _ in range(5)],
                 "document": [_pdf("Load", [" ".join(rng.sample(words, 8))]) for _ in range(5)],
                 "docx": [_docx("Load", [(w, str(i)) for i, w in enumerate(rng.sample(words, 4))]) for _ in range(5)],
                 "audio": [_wav(1.0, f) for f in (220, 330, 440)]}
    paths = []
    for i in range(count):
        r, kind, acc = rng.random(), "text", 0.0
        for name, share in MIX.items():
            acc += share
            if r < acc:
                kind = name
                break
        if kind == "text":
            path, data = folder / f"text/{i:05d}.txt", (" ".join(rng.choices(words, k=rng.randint(20, 400))) + "\n").encode()
        elif kind == "image":
            path, data = folder / f"images/{i:05d}.png", rng.choice(templates["image"])
        elif kind == "audio":
            path, data = folder / f"audio/{i:05d}.wav", rng.choice(templates["audio"])
        elif kind == "document":
            path, data = folder / f"documents/{i:05d}.pdf", rng.choice(templates["document"])
        elif kind == "docx":
            path, data = folder / f"documents/{i:05d}.docx", rng.choice(templates["docx"])
        elif kind == "video":
            path, data = folder / f"video/{i:05d}.mp4", clip.read_bytes()
        else:
            path, data = folder / f"corrupt/{i:05d}.pdf", b"%PDF-1.7\n" + bytes(rng.randrange(256) for _ in range(300))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


def count_outcomes(db_env: dict[str, str], bucket: str, uploaded: list[tuple[str, str | None]]) -> Counter:
    """processed / failed / duplicated / lost over the uploaded (key, version) pairs."""
    from functions.common.constants import DB_SCHEMA as S
    from functions.common.db import DbConfig, open_connection

    with open_connection(DbConfig.from_env(db_env)) as conn:
        objects = conn.execute(
            f"""SELECT o.key, o.version_id, o.status, (SELECT count(*) FROM {S}.chunks c WHERE c.object_id = o.id)
                FROM {S}.objects o WHERE o.bucket = %s""", (bucket,)).fetchall()
        failures = conn.execute(f"SELECT key, version_id FROM {S}.failures WHERE bucket = %s", (bucket,)).fetchall()
    rows: dict[tuple, list] = {}
    for key, version, status, chunks in objects:
        rows.setdefault((key, version), []).append((status, chunks))
    failed_rows = Counter((k, v) for k, v in failures)
    counts: Counter = Counter()
    for ident in uploaded:
        found, nfail = rows.get(ident, []), failed_rows.get(ident, 0)
        if not found and not nfail:
            counts["lost"] += 1
        elif len(found) > 1 or nfail > 1 or (nfail and any(s == "succeeded" for s, _ in found)):
            counts["duplicated"] += 1
        elif nfail == 1 and found == [("failed", 0)]:
            counts["failed"] += 1
        elif not nfail and len(found) == 1 and found[0][0] == "succeeded":
            counts["processed"] += 1
        else:
            counts["inconsistent"] += 1  # e.g. a failed object row without its failure row
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--wave", type=int, default=100,
                        help="files uploaded per wave; the next wave starts when this one's executions ended")
    parser.add_argument("--work", type=Path, default=WORK,
                        help="folder for the files, the handler log and the run's PostgreSQL (default: %(default)s)")
    args = parser.parse_args(argv)

    from local.run import BUCKETS, LocalPipeline

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    folder = work / "files"
    print(f"generating {args.files} files into {folder}", file=sys.stderr)
    files = generate(folder, args.files, args.seed)
    kinds = Counter(p.relative_to(folder).parts[0] for p in files)
    log = (work / "lambda.log").open("w", encoding="utf-8")
    with contextlib.redirect_stdout(log), LocalPipeline(work, progress=False) as pipeline:
        started = time.monotonic()
        uploads, executions = [], []
        # Waves bound the concurrency: locally every execution's Map iterations are threads of
        # this process and the model servers share its 2 cores; with all 1,000 files in flight
        # at once the model requests time out (60 s) and the retries dominate.
        for start in range(0, len(files), args.wave):
            wave_uploads = pipeline.upload(folder, files[start:start + args.wave])
            pipeline.published = 0  # process() waits for this many new records on the same group
            pipeline.published = pipeline.forward(wave_uploads)
            executions += pipeline.process(len(wave_uploads))
            uploads += wave_uploads
            print(f"  {len(uploads)} files done after {time.monotonic() - started:.0f} s", file=sys.stderr)
        elapsed = time.monotonic() - started
        counts = count_outcomes(pipeline.db_env, BUCKETS["ingest"], [(u.key, u.version_id) for u in uploads])
    log.close()
    statuses = Counter(e["status"] for e in executions)
    print(f"files: {len(files)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})")
    print(f"executions: {len(executions)} ({', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))})")
    print(f"processed: {counts['processed']}  failed: {counts['failed']}  duplicated: {counts['duplicated']}"
          f"  lost: {counts['lost']}  inconsistent: {counts['inconsistent']}")
    print(f"elapsed: {elapsed:.1f} s  files per minute: {len(files) / elapsed * 60:.0f}")
    return 0 if counts["duplicated"] == counts["lost"] == counts["inconsistent"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
