"""Extraction fidelity: a public document corpus through the pipeline's extract step, compared word
by word with a reference extractor (Unstructured's `partition()`) and with the files' raw text.

    .venv/bin/python bench/extraction.py CORPUS [--reference REF.json] [--ocr] [--out OUT.json]
        [--max-bytes 2000000] [--exclude test_evaluate_files] [--files N]

Each file goes through what the local run's extract task runs: the object is put in the local
run's S3 stand-in (local.aws.MotoServer), classified by its key (functions/streaming/classify.py)
and extracted by `functions.processing.steps.extract.run` (the plain module behind the extract
Lambda handler: download, content detection, the format's reader, OCR through the model client,
chunks and text staged); the text read back is the staged `text.txt` (or the chunks' text when
there is none, as for images). `--ocr` starts the local profile's OCR endpoint (tesseract behind
the SageMaker Runtime stand-in, local/model_servers.py); without it scanned pages and images
record "ocr not available" and yield no text. Long PDFs are extracted in one invocation
(SEGMENT_PAGES is raised), as words are what is measured, not segments.

The reference comes from bench/extraction_reference.py, run in a separate virtualenv (the
product never imports Unstructured). Words are lower-cased runs of letters and digits (`\\w+`);
recall = shared words / reference words, precision = shared words / our words, as multisets.
Raw text (text-like files only: TXT, MD, CSV/TSV, HTML, EML, JSON, XML, RST, ORG, ...) is the
file decoded (a byte-order mark, UTF-8, UTF-16 by its NULs, else cp1252) with HTML/XML tags,
scripts and styles removed; binary formats have none. "tables" is what each side kept as
tables: ours from the extract manifest (a format's `tables`, an XLSX's sheets, a CSV), the
reference's Table elements.

Prints a table per file, a table per format (the file's extension) and the failures; writes the
figures as JSON to --out.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from functions.common import constants as c  # noqa: E402

INGEST, STAGING = "bench-ingest", "bench-staging"
PIPELINE_VERSION = "bench-extraction"
_WORD = re.compile(r"\w+")
_TEXT_LIKE = {".txt", ".md", ".markdown", ".csv", ".tsv", ".html", ".htm", ".xhtml", ".eml", ".json", ".ndjson",
              ".xml", ".rst", ".org", ".yaml", ".yml", ".go", ".py"}
_MARKUP = {".html", ".htm", ".xhtml", ".xml"}
_HIDDEN = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


# -- words -----------------------------------------------------------------------------
def words(text: str) -> Counter[str]:
    return Counter(w.lower() for w in _WORD.findall(text))


def overlap(ours: Counter[str], theirs: Counter[str]) -> tuple[float | None, float | None]:
    """(recall of `theirs` in `ours`, precision of `ours` against `theirs`); None where empty."""
    shared = sum((ours & theirs).values())
    recall = shared / sum(theirs.values()) if theirs else None
    precision = shared / sum(ours.values()) if ours else None
    return recall, precision


def raw_text(path: Path) -> str | None:
    """The file's own text for text-like files (see the module docstring), else None."""
    if path.suffix.lower() not in _TEXT_LIKE:
        return None
    data = path.read_bytes()
    for mark, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
                        (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(mark):
            text = data[len(mark):].decode(codec, errors="replace")
            break
    else:
        even, odd = data[0::2].count(0), data[1::2].count(0)
        if odd > len(data) // 6 and even < odd // 10:
            text = data.decode("utf-16-le", errors="replace")
        elif even > len(data) // 6 and odd < even // 10:
            text = data.decode("utf-16-be", errors="replace")
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("cp1252", errors="replace")
    if path.suffix.lower() in _MARKUP:
        text = html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", text)))
    return text


# -- the corpus --------------------------------------------------------------------------
def corpus(folder: Path, max_bytes: int, exclude: set[str], limit: int | None) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not exclude & set(p.relative_to(folder).parts)
                   and p.stat().st_size <= max_bytes)
    return files[:limit] if limit else files


# -- extraction through the extract step ---------------------------------------------------
class Extractor:
    """The extract step over the local run's S3 stand-in (and, with `ocr`, its OCR endpoint)."""

    def __init__(self, ocr: bool):
        self.ocr = ocr
        self._stack: list[Any] = []

    def __enter__(self) -> Extractor:
        import logging

        from local.aws import MotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request

        moto = MotoServer()
        endpoint = moto.start()
        self._stack.append(moto.stop)
        saved = {name: os.environ.get(name) for name in (c.ENV_AWS_ENDPOINT_URL, c.ENV_STAGING_BUCKET,
                                                           c.ENV_PIPELINE_VERSION, c.ENV_SEGMENT_PAGES)}
        self._stack.append(lambda: [os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
                                    for k, v in saved.items()])
        os.environ.update({c.ENV_AWS_ENDPOINT_URL: endpoint, c.ENV_STAGING_BUCKET: STAGING,
                           c.ENV_PIPELINE_VERSION: PIPELINE_VERSION, c.ENV_SEGMENT_PAGES: "100000"})
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        if self.ocr:
            from local.model_servers import start_local_profile

            profile = start_local_profile(roles=[c.MODEL_OCR], workers=1)
            self._stack.append(profile.stop)
            if c.MODEL_OCR not in profile.endpoints:
                raise SystemExit(f"the OCR endpoint did not start: {profile.unavailable}")
            os.environ.update(profile.env())
        from functions.processing.steps.context import Context

        self.ctx = Context.from_env(with_db=False)
        for bucket in (INGEST, STAGING):
            self.ctx.s3.create_bucket(Bucket=bucket)
        return self

    def __exit__(self, *exc: Any) -> None:
        while self._stack:
            self._stack.pop()()

    def extract(self, path: Path, key: str) -> dict[str, Any]:
        """{"text", "tables", "format", "seconds"} or {"refused": reason} / {"crashed": ...}."""
        from functions.common.errors import InvalidObjectError
        from functions.common.events import ObjectRef, WorkItem
        from functions.common.staging import Staging
        from functions.processing.staging.chunks import chunk_pages
        from functions.processing.staging.manifest import ExtractManifest
        from functions.processing.steps import extract as extract_step
        from functions.streaming.classify import classify

        modality = classify(key)
        if modality == c.UNSUPPORTED:
            return {"refused": "unsupported: no modality for its extension", "format": "-"}
        put = self.ctx.s3.put_object(Bucket=INGEST, Key=key, Body=path.read_bytes())
        obj = ObjectRef(bucket=INGEST, key=key, version_id=put.get("VersionId"), size=path.stat().st_size,
                        modality=modality)
        item = WorkItem(object=obj, pipeline_version=PIPELINE_VERSION)
        started = time.monotonic()
        try:
            result = extract_step.run(item, self.ctx)
        except InvalidObjectError as exc:
            return {"refused": f"{type(exc).__name__}: {exc}", "format": "-"}
        except Exception as exc:  # noqa: BLE001 - a crash is a finding, the run goes on
            return {"crashed": f"{type(exc).__name__}: {exc}", "format": "-"}
        seconds = time.monotonic() - started
        staging = Staging(self.ctx.s3, STAGING, PIPELINE_VERSION, obj)
        manifest = ExtractManifest.model_validate(staging.get_json(result.manifest.key.rsplit("/", 1)[-1]))
        text_file = manifest.artefacts.get("text")
        if text_file is not None:
            body = self.ctx.s3.get_object(Bucket=STAGING, Key=text_file.key)["Body"].read()
            text = body.decode("utf-8")
        else:
            text = "\n".join(ch.text or "" for _, page in chunk_pages(staging, manifest) for ch in page)
        return {"text": text, "tables": tables_kept(manifest.detected_format, manifest.metadata),
                "format": manifest.detected_format, "seconds": round(seconds, 2),
                "unavailable": list(manifest.unavailable)}


def tables_kept(detected: str, metadata: dict[str, Any]) -> int:
    """Tables our extraction kept as rows of cells, from the extract manifest's metadata."""
    if isinstance(metadata.get("tables"), int):
        return int(metadata["tables"])
    if isinstance(metadata.get("sheets"), list):
        return len(metadata["sheets"])
    return 1 if detected == "csv" and metadata.get("rows") else 0


# -- the comparison --------------------------------------------------------------------------
def measure(files: list[Path], folder: Path, reference: dict[str, Any], extractor: Extractor) -> Iterator[dict[str, Any]]:
    for path in files:
        key = str(path.relative_to(folder))
        ours = extractor.extract(path, key)
        ref = reference.get(key, {})
        raw = raw_text(path)
        row: dict[str, Any] = {"file": key, "ext": path.suffix.lower() or "(none)", "format": ours.get("format"),
                               "status": "ok" if "text" in ours else ("crashed" if "crashed" in ours else "refused"),
                               "reason": ours.get("refused") or ours.get("crashed"),
                               "ref_status": "-" if not ref else ("error" if "error" in ref else "ok"),
                               "tables": ours.get("tables"), "ref_tables": ref.get("tables"),
                               "supported": not str(ours.get("refused", "")).startswith("unsupported")}
        our_words = words(ours.get("text", ""))
        row["words"] = sum(our_words.values())
        if "text" in ref:
            ref_words = words(ref["text"])
            row["ref_words"] = sum(ref_words.values())
            # A reference without words has nothing to recall; a file we refused recalls none of its words.
            row["recall_ref"], row["precision_ref"] = (overlap(our_words, ref_words) if "text" in ours or not ref_words
                                                       else (0.0, None))
        if raw is not None:
            raw_words = words(raw)
            row["recall_raw"] = overlap(our_words, raw_words)[0]
            if "text" in ref:
                row["ref_recall_raw"] = overlap(words(ref["text"]), raw_words)[0]
        yield row


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def per_format(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_ext: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_ext[row["ext"]].append(row)
    summary = []
    for ext, group in sorted(by_ext.items()):
        compared = [r for r in group if r.get("recall_ref") is not None]
        summary.append({
            "ext": ext, "files": len(group), "ok": sum(r["status"] == "ok" for r in group),
            "refused": sum(r["status"] == "refused" for r in group), "crashed": sum(r["status"] == "crashed" for r in group),
            "compared": len(compared),
            "recall_ref": _mean([r.get("recall_ref") for r in compared]),
            "precision_ref": _mean([r.get("precision_ref") for r in compared]),
            "recall_raw": _mean([r.get("recall_raw") for r in group if r["status"] == "ok"]),
            "ref_recall_raw": _mean([r.get("ref_recall_raw") for r in group if r["ref_status"] == "ok"]),
            "tables": sum(r["tables"] or 0 for r in group), "ref_tables": sum(r["ref_tables"] or 0 for r in group),
        })
    return summary


def print_report(rows: list[dict[str, Any]], summary: list[dict[str, Any]]) -> None:
    print("| file | format | status | words | recall vs reference | precision vs reference | recall vs raw "
          "| reference recall vs raw | tables | reference tables |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['file']} | {r['format']} | {r['status']} | {r['words']} | {_pct(r.get('recall_ref'))} "
              f"| {_pct(r.get('precision_ref'))} | {_pct(r.get('recall_raw'))} | {_pct(r.get('ref_recall_raw'))} "
              f"| {r['tables'] if r['tables'] is not None else '-'} "
              f"| {r['ref_tables'] if r['ref_tables'] is not None else '-'} |")
    print()
    print("| format | files | ok | refused | crashed | compared | recall vs reference | precision vs reference "
          "| recall vs raw | reference recall vs raw | tables | reference tables |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in summary:
        print(f"| {s['ext']} | {s['files']} | {s['ok']} | {s['refused']} | {s['crashed']} | {s['compared']} "
              f"| {_pct(s['recall_ref'])} | {_pct(s['precision_ref'])} | {_pct(s['recall_raw'])} "
              f"| {_pct(s['ref_recall_raw'])} | {s['tables']} | {s['ref_tables']} |")
    compared = [r for r in rows if r.get("recall_ref") is not None]
    print()
    print(f"files: {len(rows)}; ok: {sum(r['status'] == 'ok' for r in rows)}; "
          f"refused: {sum(r['status'] == 'refused' for r in rows)}; crashed: {sum(r['status'] == 'crashed' for r in rows)}; "
          f"recall vs reference per file: {_pct(_mean([r['recall_ref'] for r in compared]))} over {len(compared)} files")
    read = [r for r in compared if r["supported"]]
    print(f"formats the pipeline reads: {sum(r['supported'] for r in rows)} files; recall vs reference per file: "
          f"{_pct(_mean([r['recall_ref'] for r in read]))} over {len(read)} files")
    failures = [r for r in rows if r["status"] != "ok"]
    if failures:
        print()
        print("| failed file | status | reason |")
        print("|---|---|---|")
        for r in failures:
            print(f"| {r['file']} | {r['status']} | {str(r['reason']).replace('|', '/')[:200]} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Extraction word recall and precision against a reference extractor.")
    parser.add_argument("corpus", type=Path, help="folder of documents (read recursively)")
    parser.add_argument("--reference", type=Path, help="JSON written by bench/extraction_reference.py")
    parser.add_argument("--ocr", action="store_true", help="start the local OCR endpoint (tesseract)")
    parser.add_argument("--out", type=Path, help="write the per-file and per-format figures as JSON")
    parser.add_argument("--max-bytes", type=int, default=2_000_000, help="skip larger files")
    parser.add_argument("--exclude", default="test_evaluate_files", help="comma-separated folder names to skip")
    parser.add_argument("--files", type=int, help="only the first N files (sorted by path)")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        parser.error(f"{args.corpus} is not a folder")
    if args.reference is not None and not args.reference.is_file():
        parser.error(f"{args.reference} does not exist")
    reference = json.loads(args.reference.read_text()) if args.reference else {}
    files = corpus(args.corpus, args.max_bytes, {n for n in args.exclude.split(",") if n}, args.files)
    started = time.monotonic()
    with Extractor(args.ocr) as extractor:
        rows = list(measure(files, args.corpus, reference, extractor))
    summary = per_format(rows)
    print_report(rows, summary)
    print(f"\n{len(files)} files in {time.monotonic() - started:.1f} s")
    if args.out:
        args.out.write_text(json.dumps({"files": rows, "formats": summary}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
