"""A large text through extract -> generate -> embed -> store, each step in a process of its
own (as each is a Lambda of its own), on the local stand-ins.

    .venv/bin/python bench/large_text.py [--mb 100] [--steps extract,generate,embed,store]

The text is log lines (timestamps, ids and dictionary words: more word pieces per byte than
prose, so more chunks). Prints per step: wall time, peak RSS of the step's process (the
figure to compare with the function's memory size in cdk_app/orchestration.py) and what it
produced; then the chunk pages staged. Steps after the last one asked for are not run, so
`--steps extract` measures the chunking of 100 MB without the hour a 2-core CPU needs to embed
some 200,000 chunks with all-MiniLM-L6-v2 (on a GPU endpoint that is minutes).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = ("extract", "generate", "embed", "store")


def log_text(megabytes: float, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    words = ("request handled cache miss retry upstream timeout user session order invoice payment "
             "shipment warehouse pump valve sensor reading threshold exceeded recovered").split()
    lines, size, n = [], 0, 0
    target = int(megabytes * 1024 * 1024)
    while size < target:
        line = (f"2026-11-30T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z INFO svc-{n % 13} id={n:09d} "
                + " ".join(rng.choices(words, k=rng.randint(6, 18))) + "\n")
        lines.append(line)
        size += len(line)
        n += 1
    return "".join(lines).encode("utf-8")


def child(step: str, event: dict) -> None:
    """Run one step's handler in this process and print what it returned, its time and peak RSS."""
    import importlib

    from local import FakeLambdaContext

    handler = importlib.import_module(f"functions.{step}.handler").lambda_handler
    started = time.monotonic()
    result = handler(event, FakeLambdaContext(f"bench-{step}"))
    print(json.dumps({"result": result, "seconds": time.monotonic() - started,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--work", type=Path, help="folder for the local run's state (PostgreSQL data, logs); default: .local-run, whose database a run empties")
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, json.loads(sys.stdin.read()))
        return
    steps = [s for s in STEPS if s in args.steps.split(",")]

    from functions.common import constants as c
    from functions.common.events import ObjectRef
    from functions.common.staging import object_prefix
    from local.run import BUCKETS, PIPELINE_VERSION, WORK, LocalPipeline

    data = log_text(args.mb)
    print(f"text: {len(data) / 1e6:.1f} MB of log lines", file=sys.stderr)
    with LocalPipeline(args.work or WORK, progress=False) as lp:
        put = lp.s3.put_object(Bucket=BUCKETS["ingest"], Key="bench/large.log", Body=data, ContentType="text/plain")
        obj = ObjectRef(bucket=BUCKETS["ingest"], key="bench/large.log", version_id=put.get("VersionId"),
                        etag=put["ETag"].strip('"'), size=len(data), content_type="text/plain", modality="text")
        del data
        state = {"object": obj.model_dump(mode="json"), "pipeline_version": PIPELINE_VERSION}
        rows = []
        for step in steps:
            out = subprocess.run([sys.executable, __file__, "--child", step], input=json.dumps(state), text=True,
                                 capture_output=True, env=dict(os.environ), cwd=ROOT)
            lines = [line for line in out.stdout.splitlines() if line.startswith('{"result"')]
            if out.returncode or not lines:
                sys.stderr.write(out.stderr[-4000:])
                raise SystemExit(f"{step} failed (exit {out.returncode})")
            report = json.loads(lines[-1])
            state = report["result"]
            rows.append((step, report["seconds"], report["peak_rss_mb"], state))
            print(f"  {step}: {report['seconds']:.1f} s, peak RSS {report['peak_rss_mb']:.0f} MB", file=sys.stderr)
        extract = json.loads(lp.s3.get_object(Bucket=BUCKETS["staging"],
                                              Key=f"{object_prefix(PIPELINE_VERSION, obj)}/extract.json")["Body"].read())
    chunks = len(extract["chunks"]) + sum(p["count"] for p in extract["chunk_pages"])
    print(f"\n{args.mb:g} MB of text -> {chunks:,} chunks ({extract['metadata'].get('words', 0):,} words), "
          f"{len(extract['chunk_pages'])} staged pages of chunks beyond the manifest's own")
    print("| step | seconds | peak RSS MB | produced |\n|---|---:|---:|---|")
    for step, seconds, rss, result in rows:
        produced = {k: result[k] for k in ("status", "chunks", "embeddings") if k in result and result[k] is not None}
        print(f"| {step} | {seconds:.1f} | {rss:.0f} | {produced or result.get('step', '')} |")
    print(f"Lambda invocations: {len(rows)} (one per step); state transitions per object: "
          f"{len(rows)} task states of one Map iteration")
    _ = c  # names used by the stand-ins' environment


if __name__ == "__main__":
    main()
