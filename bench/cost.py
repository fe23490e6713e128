"""Cost per million files, the design against the naive one, from what the local runs measured.

    .venv/bin/python bench/cost.py [--figures bench/out/pipeline-mixed.json] [--files-per-month 1000000]

Mix (stated): 60 % images, 20 % documents, 10 % text, 5 % audio of 1 minute, 5 % video of 1
minute. Inputs, per modality and mode, from bench/pipeline.py's saved figures (the local
executions' histories and the counters around the handlers and the model client):

* Step Functions Standard: state transitions per file (every state entered, plus retries).
* Lambda: invocations per file per function x the function's memory (cdk_app/orchestration.py
  `_SIZING`; forwarder and dispatcher 512 MB) x the duration measured *in the naive run* for
  both modes (one invocation at a time, as each Lambda has its own CPU on AWS; the design run
  ran 8-20 invocations on 2 cores, which inflates its durations), plus the request price.
  Forwarder: 1 per file; dispatcher: 1 per Kafka batch.
* SageMaker: endpoint items per file per role / items per second at the batch size the mode
  sends (bench/models.py figures: batch 1 for naive, the client's batch for the design) /
  the 50 % utilisation the autoscaling targets aim at (model_artifacts/catalog.py) -> instance-
  hours x the role's instance price. These are 2-core CPU throughputs priced at the GPU
  instance types: an upper bound on instance-hours, equally for both modes.
* MSK Serverless and Aurora: the monthly baseline (cluster-hours + partitions; writer + reader
  at min ACU) plus per-file data (one ~1 KB message in and out; stored vectors).
* SageMaker minimum instances (1 per endpoint, always on) are a baseline too: a month's cost
  per endpoint is max(usage, min_instances x 730 h).

Audio and video of the local runs are 5-15 s; per-file figures of those modalities are scaled
to 1 minute: extract duration by 60 s / measured duration, per-chunk model items by the
deployed chunk count of 1 minute (30 s speech windows; `video_chunk_seconds` in cdk.json) over
the measured chunk count.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from functions.common import constants as c  # noqa: E402

MIX = {"image": 0.60, "document": 0.20, "text": 0.10, "audio": 0.05, "video": 0.05}
MEDIA_SECONDS = 60.0
HOURS_PER_MONTH = 730.0

# Published us-east-1 on-demand prices (USD), read 2025; one table so a reader can check them.
PRICES = {
    # https://aws.amazon.com/step-functions/pricing/ (Standard workflows)
    "sfn_per_transition": 0.025 / 1000,
    # https://aws.amazon.com/lambda/pricing/ (x86_64, first tier)
    "lambda_per_gb_s": 0.0000166667,
    "lambda_per_request": 0.20 / 1_000_000,
    # https://aws.amazon.com/sagemaker/pricing/ (real-time inference)
    "sagemaker_per_hour": {"ml.g5.xlarge": 1.408, "ml.c6i.xlarge": 0.204},
    # https://aws.amazon.com/msk/pricing/ (MSK Serverless)
    "msk_cluster_hour": 0.75,
    "msk_partition_hour": 0.0015,
    "msk_per_gb_in": 0.10,
    "msk_per_gb_out": 0.05,
    # https://aws.amazon.com/rds/aurora/pricing/ (Serverless v2, Aurora Standard)
    "aurora_acu_hour": 0.12,
    "aurora_storage_gb_month": 0.10,
}

# items/s per role (bench/README.md "Models"): batch 1 for naive; the client's batch for the
# design (model_artifacts/catalog.py _CPU_ITEMS_PER_S). OCR on AWS is a Florence-2 pass,
# about twice the caption rate (catalog.py's own assumption).
THROUGHPUT = {
    "naive": {c.MODEL_TEXT_EMBEDDING: 8.40, c.MODEL_IMAGE_EMBEDDING: 5.53, c.MODEL_GENERATION: 0.43,
              c.MODEL_SPEECH: 1.31, c.MODEL_OCR: 2 * 0.43},
    "design": {c.MODEL_TEXT_EMBEDDING: 340.22, c.MODEL_IMAGE_EMBEDDING: 20.18, c.MODEL_GENERATION: 0.91,
               c.MODEL_SPEECH: 1.05, c.MODEL_OCR: 2 * 0.91},
}
TARGET_UTILISATION = 0.5
EDGE_MEMORY_MB = {c.FN_FORWARDER: 512, c.FN_DISPATCHER: 512}
MESSAGE_BYTES = 1024
VECTOR_BYTES_STORED = 3 * 1024  # a 384/512-dim float4 vector, its row and its HNSW entry, roughly


@dataclass
class FileFigures:
    """What one file of a modality costs in work, per mode (from bench/pipeline.py JSON)."""

    transitions: float
    lambda_invocations: Mapping[str, float]  # function -> invocations per file
    lambda_seconds: Mapping[str, float]  # function -> mean seconds per invocation
    endpoint_items: Mapping[str, float]  # role -> items per file
    dispatcher_per_file: float = 0.0
    vectors: float = 0.0


@dataclass
class Baseline:
    msk_partitions: int = 12
    aurora_instances: int = 2
    aurora_min_acu: float = 0.5
    endpoint_instances: Mapping[str, str] = field(default_factory=dict)  # role -> instance type (min 1 each)


def lambda_memory_mb() -> dict[str, int]:
    """Configured memory per pipeline function (`_SIZING` in cdk_app/orchestration.py, read from
    its source so that no CDK/jsii runtime starts) plus the edge functions."""
    import ast

    tree = ast.parse((ROOT / "cdk_app" / "orchestration.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_SIZING" for t in node.targets):
            sizing = {getattr(c, key.attr): value.elts[0].value for key, value in zip(node.value.keys, node.value.values)}
            return {**sizing, **EDGE_MEMORY_MB}
    raise LookupError("no _SIZING in cdk_app/orchestration.py")


def instance_types() -> dict[str, str]:
    from model_artifacts.catalog import CATALOG

    return {role: spec.instance_type for role, spec in CATALOG.items()}


def file_cost(f: FileFigures, mode: str, memory_mb: Mapping[str, int], instances: Mapping[str, str],
              prices: Mapping[str, Any] = PRICES) -> dict[str, float]:
    """USD per file by component: step_functions, lambda, sagemaker, msk (data only), aurora (storage, 1 month)."""
    invocations = {**f.lambda_invocations, c.FN_FORWARDER: 1.0, c.FN_DISPATCHER: f.dispatcher_per_file}
    gb_s = sum(n * f.lambda_seconds.get(fn, 0.0) * memory_mb[fn] / 1024 for fn, n in invocations.items())
    requests = sum(invocations.values())
    hours = {role: items / (THROUGHPUT[mode][role] * TARGET_UTILISATION) / 3600 for role, items in f.endpoint_items.items()}
    return {
        "step_functions": f.transitions * prices["sfn_per_transition"],
        "lambda": gb_s * prices["lambda_per_gb_s"] + requests * prices["lambda_per_request"],
        "sagemaker": sum(h * prices["sagemaker_per_hour"][instances[role]] for role, h in hours.items()),
        "msk": MESSAGE_BYTES / 1024**3 * (prices["msk_per_gb_in"] + prices["msk_per_gb_out"]),
        "aurora": f.vectors * VECTOR_BYTES_STORED / 1024**3 * prices["aurora_storage_gb_month"],
    }


def endpoint_hours(f: FileFigures, mode: str) -> dict[str, float]:
    return {role: items / (THROUGHPUT[mode][role] * TARGET_UTILISATION) / 3600 for role, items in f.endpoint_items.items()}


def baseline_monthly(b: Baseline, prices: Mapping[str, Any] = PRICES) -> dict[str, float]:
    return {
        "msk": HOURS_PER_MONTH * (prices["msk_cluster_hour"] + b.msk_partitions * prices["msk_partition_hour"]),
        "aurora": HOURS_PER_MONTH * b.aurora_instances * b.aurora_min_acu * prices["aurora_acu_hour"],
    }


def monthly_total(per_file: Mapping[str, Mapping[str, float]], hours_per_file: Mapping[str, Mapping[str, float]],
                  files: float, mix: Mapping[str, float], b: Baseline, prices: Mapping[str, Any] = PRICES) -> dict[str, float]:
    """A month of `files` files of `mix`: variable cost + baselines; SageMaker as max(usage, min instances)."""
    out = {k: 0.0 for k in ("step_functions", "lambda", "msk", "aurora")}
    role_hours: dict[str, float] = {}
    for modality, share in mix.items():
        for k in out:
            out[k] += files * share * per_file[modality][k]
        for role, h in hours_per_file[modality].items():
            role_hours[role] = role_hours.get(role, 0.0) + files * share * h
    for k, v in baseline_monthly(b, prices).items():
        out[k] += v
    out["sagemaker"] = sum(max(role_hours.get(role, 0.0), HOURS_PER_MONTH) * prices["sagemaker_per_hour"][itype]
                           for role, itype in b.endpoint_instances.items())
    out["total"] = sum(out.values())
    return out


# -- from bench/pipeline.py figures -------------------------------------------------------
def _deployed_units(modality: str) -> float:
    """Chunks the deployed app makes of 1 minute of audio / video (speech windows, video chunks)."""
    if modality == "audio":
        from functions.processing.audio import WINDOW_SECONDS

        return math.ceil(MEDIA_SECONDS / WINDOW_SECONDS)
    pipeline = json.loads((ROOT / "cdk.json").read_text())["context"]["pipeline"]
    return math.ceil(MEDIA_SECONDS / float(pipeline["video_chunk_seconds"]))


def figures_from_run(mode: str, run: Mapping[str, Any], naive: Mapping[str, Any]) -> dict[str, FileFigures]:
    """FileFigures per modality; Lambda durations from the naive run (see module docstring)."""
    out = {}
    dispatcher_per_file = run["dispatcher_invocations"] / run["files"]
    for modality in MIX:
        m = run["modalities"][modality]
        seconds = dict(naive["modalities"][modality]["lambda_mean_s"])
        items = dict(m["endpoint_items_per_file"])
        if modality in ("audio", "video") and m.get("media_s"):
            seconds[c.STEP_EXTRACT] = seconds.get(c.STEP_EXTRACT, 0.0) * MEDIA_SECONDS / m["media_s"]
            local_units = max(1.0, m["chunks"] if modality == "video" else math.ceil(m["media_s"] / 30.0))
            scale = _deployed_units(modality) / local_units
            for role in list(items):
                if role == c.MODEL_GENERATION and modality == "video":  # captions per chunk + one summary
                    items[role] = (items[role] - 1) * scale + 1
                elif role != c.MODEL_GENERATION:
                    items[role] *= scale
        vectors = items.get(c.MODEL_TEXT_EMBEDDING, 0.0) + items.get(c.MODEL_IMAGE_EMBEDDING, 0.0)
        out[modality] = FileFigures(transitions=m["transitions_per_file"], lambda_invocations=m["lambda_invocations_per_file"],
                                    lambda_seconds=seconds, endpoint_items=items,
                                    dispatcher_per_file=dispatcher_per_file, vectors=vectors)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figures", type=Path, default=ROOT / "bench" / "out" / "pipeline-mixed.json")
    parser.add_argument("--files-per-month", type=float, default=1_000_000)
    args = parser.parse_args()
    runs = json.loads(args.figures.read_text())
    memory, instances = lambda_memory_mb(), instance_types()
    baseline = Baseline(endpoint_instances=instances)
    print(f"# mix {MIX}; audio/video scaled to {MEDIA_SECONDS:.0f} s; figures from {args.figures}")
    print("\n## measured per file (local executions' histories and counters)\n")
    print("| modality | mode | state transitions | Lambda invocations | endpoint invocations | endpoint items |")
    print("|---|---|---:|---:|---:|---:|")
    for modality in MIX:
        for mode, run in runs.items():
            m = run["modalities"][modality]
            print(f"| {modality} | {mode} | {m['transitions_per_file']:.2f} "
                  f"| {sum(m['lambda_invocations_per_file'].values()) + 1 + run['dispatcher_invocations'] / run['files']:.2f} "
                  f"| {sum(m['endpoint_calls_per_file'].values()):.2f} | {sum(m['endpoint_items_per_file'].values()):.2f} |")
    totals = {}
    print("\n## USD per million files of the mix (variable cost only)\n")
    print("| mode | Step Functions | Lambda | SageMaker (instance-hours at measured throughput) | MSK data | Aurora storage (1 month) | total |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, run in runs.items():
        figures = figures_from_run(mode, run, runs["naive"])
        per_file = {m: file_cost(f, mode, memory, instances) for m, f in figures.items()}
        hours = {m: endpoint_hours(f, mode) for m, f in figures.items()}
        per_million = {k: 1e6 * sum(MIX[m] * per_file[m][k] for m in MIX) for k in next(iter(per_file.values()))}
        print(f"| {mode} | " + " | ".join(f"{v:,.2f}" for v in per_million.values()) + f" | {sum(per_million.values()):,.2f} |")
        totals[mode] = monthly_total(per_file, hours, args.files_per_month, MIX, baseline)
    print(f"\n## a month of {args.files_per_month:,.0f} files, with baselines (MSK cluster, Aurora min ACU, "
          "1 instance per endpoint always on)\n")
    print("| mode | Step Functions | Lambda | MSK | Aurora | SageMaker | total | per million files |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for mode, t in totals.items():
        print(f"| {mode} | {t['step_functions']:,.0f} | {t['lambda']:,.0f} | {t['msk']:,.0f} | {t['aurora']:,.0f} "
              f"| {t['sagemaker']:,.0f} | {t['total']:,.0f} | {t['total'] / args.files_per_month * 1e6:,.0f} |")
    if "design" in totals and "naive" in totals:
        print(f"\nnaive / design, month total: {totals['naive']['total'] / totals['design']['total']:.2f}x")


if __name__ == "__main__":
    main()
