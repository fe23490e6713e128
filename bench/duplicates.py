"""The model calls saved when a share of a set is duplicate bytes (functions/processing/results/reuse.py).

    .venv/bin/python bench/duplicates.py [--files 20] [--duplicates 0.2]

Builds a mixed set (bench/mixed_set.py: images with drawn words, PDFs, a scanned PDF, DOCX,
texts, audio, video) of `files` objects of which the share `duplicates` are byte-for-byte copies
of others under other keys, then runs every object through the four steps' handlers in-process
(extract -> generate -> embed -> store, a failure to record_failure, as one Map iteration does) on
the local stand-ins (moto S3, pgserver PostgreSQL + pgvector, the model containers behind the
SageMaker Runtime stand-in), twice:

* without reuse: each object in a pipeline version of its own, so no earlier result of its bytes
  exists for it and every object is processed by the models (what the pipeline did before);
* with reuse: every object in one pipeline version, in key order: a copy finds the result of the
  first of its bytes and store copies the rows.

Counted per model role: the InvokeEndpoint requests that reached the containers (the stand-in's
own count), and the rows stored; the two passes must store the same number of chunks and
vectors. The roles without local weights (image_embedding, generation) are served by random tiny
models of their architectures (model_artifacts.random_models), so their calls are made and counted.
Objects are processed one after another: two copies processed at the same time would both be
processed in full (both look before either is stored), so this is the saving when copies arrive
after their first's result is stored.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_artifacts.catalog import ENV_LOCAL_MODEL_DIRS  # noqa: E402

STEPS = ("extract", "generate", "embed", "store")


def build_set(folder: Path, files: int, share: float, seed: int = 15) -> list[tuple[Path, Path | None]]:
    """`files` files under folder: unique ones from bench/mixed_set.py plus round(files * share)
    copies (under `copies/`) of unique ones picked at random. Returns (path, path it copies or None)."""
    from bench.mixed_set import generate

    copies = round(files * share)
    unique = generate(folder / "unique", total=files - copies, seed=seed)
    rng = random.Random(seed)
    out: list[tuple[Path, Path | None]] = [(p, None) for p in unique]
    for n, original in enumerate(rng.sample(unique, copies)):
        copy = folder / "copies" / f"{n:02d}-{original.name}"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, copy)
        out.append((copy, original))
    return sorted(out, key=lambda pair: pair[0].relative_to(folder).as_posix())


def run_object(obj, pipeline_version: str) -> dict:
    """One Map iteration through the handlers; any exception goes to record_failure as the Catch does."""
    import importlib

    from local import FakeLambdaContext

    def handler(step: str):
        return importlib.import_module(f"functions.{step}.handler").lambda_handler

    item = {"object": obj.model_dump(mode="json"), "pipeline_version": pipeline_version}
    state: dict = item
    for step in STEPS:
        try:
            state = handler(step)(state, FakeLambdaContext(f"bench-{step}"))
            if step == "extract" and state.get("segments"):  # a long object: the segments, then assembly
                for segment in state["segments"]:
                    handler("extract")({**item, "segment": segment}, FakeLambdaContext("bench-extract"))
                state = handler("extract")(state, FakeLambdaContext("bench-extract"))
        except Exception as exc:
            failure = {**item, "failed_step": step, "error": {
                "Error": type(exc).__name__, "Cause": json.dumps({"errorMessage": str(exc)})}}
            return handler("record_failure")(failure, FakeLambdaContext("bench-record_failure"))
    return state


def measure(lp, objects: list, versions: list[str]) -> dict:
    def calls() -> dict[str, int]:
        # The endpoints carry the names the synthesized template gives them (LocalPipeline passes them on).
        return {role: lp.profile.runtime.invocations(name) for role, name in lp.profile.endpoints.items()}

    before, started = calls(), time.monotonic()
    results = [run_object(obj, version) for obj, version in zip(objects, versions)]
    after = calls()
    return {"seconds": time.monotonic() - started,
            "calls": {role: after[role] - before[role] for role in after},
            "statuses": [r["status"] for r in results],
            "reused": sum(bool(r.get("reused")) for r in results),
            "chunks": sum(r.get("chunks", 0) for r in results),
            "vectors": sum(r.get("embeddings", 0) for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--duplicates", type=float, default=0.2, help="share of the set that copies other files")
    parser.add_argument("--work", type=Path, help="folder for the local run's state (PostgreSQL data, logs); default: .local-run, whose database a run empties")
    args = parser.parse_args()

    from bench.pipeline import _tiny_models
    from functions.common.events import ObjectRef
    from functions.streaming.classify import classify
    from local.run import BUCKETS, WORK, LocalPipeline

    os.environ[ENV_LOCAL_MODEL_DIRS] = json.dumps(_tiny_models())
    with tempfile.TemporaryDirectory(prefix="bench-duplicates-") as tmp:
        folder = Path(tmp)
        pairs = build_set(folder, args.files, args.duplicates)
        copies = sum(original is not None for _, original in pairs)
        print(f"{len(pairs)} files, {copies} of them copies of others "
              f"({', '.join(sorted(o.parent.name + '/' + o.name for _, o in pairs if o))})", file=sys.stderr)
        with LocalPipeline(args.work or WORK, progress=False) as lp:
            objects = []
            for path, _ in pairs:
                key = path.relative_to(folder).as_posix()
                data = path.read_bytes()
                put = lp.s3.put_object(Bucket=BUCKETS["ingest"], Key=key, Body=data)
                objects.append(ObjectRef(bucket=BUCKETS["ingest"], key=key, version_id=put.get("VersionId"),
                                         etag=put["ETag"].strip('"'), size=len(data), modality=classify(key)))
            print("pass without reuse (a pipeline version per object) ...", file=sys.stderr)
            without = measure(lp, objects, [f"bench-solo-{i}" for i in range(len(objects))])
            print("pass with reuse (one pipeline version) ...", file=sys.stderr)
            with_reuse = measure(lp, objects, ["bench-shared"] * len(objects))
    roles = sorted(set(without["calls"]) | set(with_reuse["calls"]))
    print(f"\n{len(pairs)} files, {copies} duplicates ({copies / len(pairs):.0%}); "
          f"roles served: {', '.join(roles)}")
    print("| model role | invocations without reuse | with reuse | saved |\n|---|---:|---:|---:|")
    for role in roles + ["all"]:
        a = sum(without["calls"].values()) if role == "all" else without["calls"].get(role, 0)
        b = sum(with_reuse["calls"].values()) if role == "all" else with_reuse["calls"].get(role, 0)
        saved = f"{(a - b) / a:.0%}" if a else "-"
        print(f"| {role} | {a} | {b} | {a - b} ({saved}) |")
    for name, m in (("without reuse", without), ("with reuse", with_reuse)):
        statuses = {s: m["statuses"].count(s) for s in sorted(set(m["statuses"]))}
        print(f"{name}: {m['seconds']:.1f} s, {statuses}, {m['reused']} reused, "
              f"{m['chunks']} chunks and {m['vectors']} vectors stored")


if __name__ == "__main__":
    main()
