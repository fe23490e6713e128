"""What a local run produced, for people: the summary table and the HTML report.

Everything is read back from where the pipeline put it: rows from PostgreSQL, step timings
from the Step Functions execution histories (local.history), thumbnails and keyframes from
the staging bucket (read while moto is still up). Nothing here is estimated.

The HTML report is one self-contained file (inline CSS and SVG, images as data: URIs, no
script, no network) so it opens anywhere, including from a CI artefact.
"""
from __future__ import annotations

import base64
import html
import json
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TextIO

from functions.common.constants import (
    DB_SCHEMA,
    MODEL_GENERATION,
    PIPELINE_STEPS,
    STEP_RECORD_FAILURE,
    TABLE_CHUNKS,
    TABLE_EMBEDDINGS,
    TABLE_FAILURES,
    TABLE_OBJECTS,
)
from local.history import Iteration, StepRun

if TYPE_CHECKING:
    from local.run import RunResult

S = DB_SCHEMA
REPORT_STEPS = (*PIPELINE_STEPS, STEP_RECORD_FAILURE)
MAX_FRAMES_PER_FILE = 8


# --- reading back ---------------------------------------------------------------------------
def load_objects(conn: Any) -> list[dict]:
    """Every object row with its chunks (and embedding roles per chunk), generated outputs and
    latest failure, ordered by modality and key."""
    rows = conn.execute(
        f"SELECT o.id, o.bucket, o.key, o.version_id, o.modality, o.status, o.detected_format, o.size,"
        f" o.metadata, o.unavailable, f.failed_step, f.error, f.reason, o.content_sha256, o.reused_from"
        f" FROM {S}.{TABLE_OBJECTS} o LEFT JOIN {S}.{TABLE_FAILURES} f"
        f"  ON f.bucket = o.bucket AND f.key = o.key AND f.version_id IS NOT DISTINCT FROM o.version_id"
        f"  AND f.pipeline_version = o.pipeline_version"
        f" ORDER BY o.modality, o.key").fetchall()
    names = ("id", "bucket", "key", "version_id", "modality", "status", "detected_format", "size", "metadata",
             "unavailable", "failed_step", "error", "reason", "content_sha256", "reused_from")
    objects = {row[0]: {**dict(zip(names, row)), "chunks": [], "generated": [], "embeddings": 0} for row in rows}
    for object_id, ordinal, kind, text, t0, t1, page, metadata, roles in conn.execute(
            f"SELECT ch.object_id, ch.ordinal, ch.kind, ch.text, ch.time_start, ch.time_end, ch.page, ch.metadata,"
            f" coalesce(array_agg(e.model_role ORDER BY e.model_role) FILTER (WHERE e.id IS NOT NULL), '{{}}')"
            f" FROM {S}.{TABLE_CHUNKS} ch LEFT JOIN {S}.{TABLE_EMBEDDINGS} e ON e.chunk_id = ch.id"
            f" GROUP BY ch.id ORDER BY ch.object_id, ch.ordinal"):
        obj = objects[object_id]
        obj["chunks"].append({"ordinal": ordinal, "kind": kind, "text": text, "time_start": t0, "time_end": t1,
                              "page": page, "metadata": metadata or {}, "roles": list(roles)})
        obj["embeddings"] += len(roles)
    for object_id, ordinal, task, content in conn.execute(
            f"SELECT g.object_id, ch.ordinal, g.task, g.content FROM {S}.generated g"
            f" LEFT JOIN {S}.{TABLE_CHUNKS} ch ON ch.id = g.chunk_id ORDER BY g.object_id, ch.ordinal NULLS FIRST"):
        objects[object_id]["generated"].append({"chunk_ordinal": ordinal, "task": task, "content": content})
    return list(objects.values())


def _data_uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def collect_artefacts(s3: Any, staging_bucket: str, pipeline_version: str, objects: list[dict]) -> dict:
    """{(key, version_id): {"thumbnail": data URI | None, "frames": {chunk ordinal: data URI}}}
    from each object's extract manifest in the staging bucket. Missing artefacts are skipped."""
    from botocore.exceptions import ClientError

    from functions.common.events import ObjectRef
    from functions.common.staging import object_prefix

    found: dict = {}
    for obj in objects:
        # A reused result's artefacts are those of the object it was copied from.
        origin = obj.get("reused_from") or obj
        ref = ObjectRef(bucket=origin["bucket"], key=origin["key"], version_id=origin["version_id"], size=obj["size"],
                        modality=obj["modality"])
        prefix = object_prefix(pipeline_version, ref)
        entry: dict = {"thumbnail": None, "frames": {}}
        found[(obj["key"], obj["version_id"])] = entry

        def read(key: str) -> Optional[bytes]:
            try:
                return s3.get_object(Bucket=staging_bucket, Key=key)["Body"].read()
            except ClientError:
                return None

        raw = read(f"{prefix}/extract.json")
        if raw is None:
            continue
        manifest = json.loads(raw)
        thumb = (manifest.get("artefacts") or {}).get("thumbnail")
        if thumb and (data := read(thumb["key"])):
            entry["thumbnail"] = _data_uri(data, thumb.get("content_type") or "image/jpeg")
        if obj["modality"] == "image":
            continue  # the thumbnail is the image; the full-size copy would only bloat the report
        for chunk in manifest.get("chunks", [])[:MAX_FRAMES_PER_FILE]:
            image = chunk.get("image")
            if image and (data := read(image["key"])):
                entry["frames"][chunk["ordinal"]] = _data_uri(data, image.get("content_type") or "image/jpeg")
    return found


# --- one record per file ------------------------------------------------------------------
@dataclass
class FileReport:
    key: str
    modality: str
    status: str  # succeeded | failed | missing (no row)
    obj: Optional[dict]
    iteration: Optional[Iteration]
    artefacts: dict = field(default_factory=dict)

    @property
    def chunks(self) -> int:
        return len(self.obj["chunks"]) if self.obj else 0

    @property
    def embeddings(self) -> int:
        return self.obj["embeddings"] if self.obj else 0

    @property
    def reused_from(self) -> Optional[str]:
        """The object whose result of the same bytes this one's rows copy ("key (version v)"), or None."""
        source = self.obj.get("reused_from") if self.obj else None
        if not source:
            return None
        return source["key"] + (f" (version {source['version_id']})" if source.get("version_id") else "")

    @property
    def reason(self) -> Optional[str]:
        if self.obj and self.obj.get("reason") and self.status == "failed":
            return self.obj["reason"]
        failure = self.iteration.failure if self.iteration else None
        return failure.cause if failure else None

    def seconds(self, step: str) -> Optional[float]:
        run = self.iteration.step(step) if self.iteration else None
        return run.seconds if run else None

    @property
    def total_seconds(self) -> Optional[float]:
        if not self.iteration or any(s.exited is None for s in self.iteration.steps):
            return None
        return (max(s.exited for s in self.iteration.steps) - self.iteration.started).total_seconds()


def file_reports(result: "RunResult") -> list[FileReport]:
    """One FileReport per object row (and per uploaded file without one), with the earliest
    iteration that processed it (later ones are duplicate deliveries that short-circuit)."""
    by_ident: dict[tuple, Iteration] = {}
    for it in sorted(result.iterations, key=lambda i: i.started):
        by_ident.setdefault((it.key, it.version_id), it)
    reports = []
    seen = set()
    for obj in result.objects:
        ident = (obj["key"], obj["version_id"])
        seen.add(obj["key"])
        reports.append(FileReport(obj["key"], obj["modality"], obj["status"], obj, by_ident.get(ident),
                                  result.artefacts.get(ident, {})))
    for it in by_ident.values():
        if it.key not in seen:
            seen.add(it.key)
            reports.append(FileReport(it.key, it.modality, "missing", None, it))
    return reports


# --- the text summary -----------------------------------------------------------------------
def _fmt(seconds: Optional[float]) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


def step_stats(files: list[FileReport]) -> dict[str, dict[str, float]]:
    """Per step: files that ran it, total / mean / max seconds."""
    stats = {}
    for step in REPORT_STEPS:
        values = [s for f in files if (s := f.seconds(step)) is not None]
        if values:
            stats[step] = {"files": len(values), "total": sum(values), "mean": statistics.fmean(values),
                           "max": max(values)}
    return stats


def print_summary(files: list[FileReport], result: "RunResult", out: TextIO = sys.stdout) -> None:
    """The per-file table, time per step, and throughput."""
    width = max([len(f.key) for f in files] + [4])
    steps = " ".join(f"{s:>8}" for s in PIPELINE_STEPS)
    print(f"{'file':<{width}}  {'modality':<8} {'status':<9} {'chunks':>6} {'vectors':>7} {steps} {'total s':>8}", file=out)
    for f in files:
        cells = " ".join(f"{_fmt(f.seconds(s)):>8}" for s in PIPELINE_STEPS)
        line = f"{f.key:<{width}}  {f.modality:<8} {f.status:<9} {f.chunks:>6} {f.embeddings:>7} {cells} {_fmt(f.total_seconds):>8}"
        if f.status != "succeeded":
            run = f.iteration.failure if f.iteration else None
            where = f" at {run.step} ({run.error})" if run else ""
            line += f"\n{'':<{width}}  ^ failed{where}: {f.reason or 'no reason recorded'}"
        elif f.reused_from:
            line += f"\n{'':<{width}}  ^ same bytes as {f.reused_from}: its result reused, no model called"
        print(line, file=out)
    print(f"\n{'step':<15} {'files':>5} {'total s':>8} {'mean s':>8} {'max s':>8}", file=out)
    for step, s in step_stats(files).items():
        print(f"{step:<15} {s['files']:>5} {s['total']:>8.2f} {s['mean']:>8.2f} {s['max']:>8.2f}", file=out)
    ok = sum(f.status == "succeeded" for f in files)
    failed = sum(f.status == "failed" for f in files)
    reused = sum(bool(f.reused_from) for f in files)
    executions_ok = sum(e["status"] == "SUCCEEDED" for e in result.executions)
    per_minute = len(result.files) / result.elapsed * 60 if result.elapsed else 0.0
    print(f"\n{len(result.objects)}/{len(result.files)} files have a result row ({ok} succeeded"
          f"{f', {reused} of them reusing the result of the same bytes' if reused else ''}, {failed} failed); "
          f"{executions_ok}/{len(result.executions)} executions succeeded; "
          f"{per_minute:.1f} files per minute ({result.elapsed:.1f} s from first upload to last execution)", file=out)


# --- the HTML report ------------------------------------------------------------------------
def run_meta(result: "RunResult") -> dict:
    return {"files": len(result.files), "elapsed": result.elapsed,
            "executions": len(result.executions),
            "executions_ok": sum(e["status"] == "SUCCEEDED" for e in result.executions),
            "unavailable": result.unavailable}


e = html.escape
COLOURS = {  # fill, stroke: as the Step Functions console draws states
    "succeeded": ("#e9f6ec", "#1d8102"),
    "caught": ("#fff4e5", "#ec7211"),
    "failed": ("#fdecea", "#d13212"),
    "running": ("#e8f1fb", "#0073bb"),
    "not run": ("#f4f4f4", "#aab7b8"),
}


def _node(x: int, y: int, label: str, run: Optional[StepRun]) -> str:
    state = run.outcome if run else "not run"
    fill, stroke = COLOURS[state]
    dash = ' stroke-dasharray="4 3"' if run is None else ""
    timing = "" if run is None else (_fmt(run.seconds) + " s" if run.seconds is not None else "running")
    if run and run.attempts > 1:
        timing += f" · {run.attempts} tries"
    title = f"{label}: {state}" + (f" — {run.error}: {run.cause}" if run and run.error else "")
    return (f'<g class="state state-{state.replace(" ", "-")}"><title>{e(title)}</title>'
            f'<rect x="{x}" y="{y}" width="132" height="46" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="2"{dash}/>'
            f'<text x="{x + 66}" y="{y + 20}" class="n">{e(label)}</text>'
            f'<text x="{x + 66}" y="{y + 37}" class="t">{e(timing)}</text></g>')


def _graph(it: Optional[Iteration]) -> str:
    """extract -> generate -> embed -> store, and record_failure under the step that failed."""
    parts, x0, gap, y = [], 12, 172, 14
    failure = it.failure if it else None
    for i, step in enumerate(PIPELINE_STEPS):
        run = it.step(step) if it else None
        parts.append(_node(x0 + i * gap, y, step, run))
        if i:
            edge = "on" if run else "off"
            parts.append(f'<line class="edge {edge}" x1="{x0 + (i - 1) * gap + 132}" y1="{y + 23}" '
                         f'x2="{x0 + i * gap - 3}" y2="{y + 23}" marker-end="url(#arrow)"/>')
    rf = it.step(STEP_RECORD_FAILURE) if it else None
    height = 76
    if failure or rf:
        col = PIPELINE_STEPS.index(failure.step) if failure and failure.step in PIPELINE_STEPS else 0
        fx = x0 + col * gap
        parts.append(f'<line class="edge catch" x1="{fx + 66}" y1="{y + 46}" x2="{fx + 66}" y2="{y + 83}" '
                     f'marker-end="url(#arrow)"/><text x="{fx + 72}" y="{y + 68}" class="c">Catch</text>')
        parts.append(_node(fx, y + 86, "record_failure", rf))
        height = 160
    width = x0 * 2 + gap * 3 + 132
    return (f'<svg class="graph" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="execution graph">'
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#687078"/></marker></defs>'
            + "".join(parts) + "</svg>")


def _range(chunk: dict) -> str:
    if chunk["time_start"] is not None:
        return f"{chunk['time_start']:.2f}–{chunk['time_end']:.2f} s"
    if chunk["page"] is not None:
        return f"page {chunk['page']}"
    return f"#{chunk['ordinal']}"


def _generated_html(f: FileReport) -> str:
    obj = f.obj or {}
    if obj.get("generated"):
        items = []
        for g in obj["generated"]:
            c = g["content"] or {}
            text = c.get("caption") or c.get("summary") or json.dumps(c)
            tags = c.get("tags") or c.get("keywords") or []
            where = "whole file" if g["chunk_ordinal"] is None else f"chunk {g['chunk_ordinal']}"
            items.append(f'<li><span class="muted">{e(g["task"])} · {e(where)}</span> {e(str(text))}'
                         + (f' <span class="tags">{e(", ".join(map(str, tags)))}</span>' if tags else "") + "</li>")
        return "<ul class='gen'>" + "".join(items) + "</ul>"
    if MODEL_GENERATION in (obj.get("unavailable") or []):
        return '<p class="na">model not available (generation): no description was generated</p>'
    return '<p class="muted">no generated description</p>'


def _chunks_html(f: FileReport) -> str:
    obj = f.obj or {}
    if not obj.get("chunks"):
        return '<p class="muted">no chunks</p>'
    frames = f.artefacts.get("frames", {})
    rows = []
    for ch in obj["chunks"]:
        frame = frames.get(ch["ordinal"])
        img = f'<img class="frame" src="{frame}" alt="{e(ch["kind"])} {ch["ordinal"]}">' if frame else ""
        segments = ch["metadata"].get("segments")
        segments = [s for s in segments if isinstance(s, dict) and "start" in s] if isinstance(segments, list) else []
        if segments:
            body = "".join(f'<div class="seg"><span class="ts">{s["start"]:.2f}–{s["end"]:.2f} s</span> '
                           f'{e(s["text"])}</div>' for s in segments)
        elif ch["text"]:
            text = ch["text"] if len(ch["text"]) <= 600 else ch["text"][:600] + "…"
            label = "OCR" if ch["kind"] in ("image", "page_image") or ch["metadata"].get("ocr_words") else ""
            body = (f'<span class="tag">{label}</span> ' if label else "") + f'<span class="txt">{e(text)}</span>'
        else:
            body = '<span class="muted">(no text: nothing was heard or read here)</span>'
        roles = ", ".join(ch["roles"]) or "none"
        rows.append(f'<tr><td class="ord">{ch["ordinal"]}</td><td class="kind">{e(ch["kind"])}<br>'
                    f'<span class="muted">{e(_range(ch))}</span></td><td>{img}</td><td>{body}</td>'
                    f'<td class="roles">{e(roles)}</td></tr>')
    return ('<table class="chunks"><thead><tr><th>#</th><th>kind / where</th><th></th><th>text</th>'
            '<th>embeddings</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def _file_html(i: int, f: FileReport) -> str:
    obj = f.obj or {}
    thumb = f.artefacts.get("thumbnail")
    thumb_html = f'<img class="thumb" src="{thumb}" alt="thumbnail of {e(f.key)}">' if thumb else ""
    failure = ""
    if f.status != "succeeded":
        run = f.iteration.failure if f.iteration else None
        step = obj.get("failed_step") or (run.step if run else "?")
        error = obj.get("error") or (run.error if run else "")
        failure = (f'<div class="failure"><b>Failed at {e(step)}</b> <code>{e(error or "")}</code><br>'
                   f'{e(f.reason or "no reason recorded")}</div>')
    unavailable = obj.get("unavailable") or []
    facts = [("modality", f.modality), ("format", obj.get("detected_format") or "-"),
             ("size", f"{obj.get('size', 0):,} B"), ("chunks", str(f.chunks)), ("embeddings", str(f.embeddings)),
             ("total", _fmt(f.total_seconds) + " s")]
    if unavailable:
        facts.append(("models not available", ", ".join(unavailable)))
    if f.reused_from:
        facts.append(("reused from", f"{f.reused_from}: same bytes, its result copied, no model called"))
    if obj.get("content_sha256"):
        facts.append(("sha256", obj["content_sha256"][:16] + "…"))
    facts_html = "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in facts)
    return (f'<section class="file" id="f{i}" data-key="{e(f.key)}" data-status="{e(f.status)}">'
            f'<header><h2>{e(f.key)}</h2><span class="badge m-{e(f.modality)}">{e(f.modality)}</span>'
            f'<span class="badge s-{e(f.status)}">{e(f.status)}</span>'
            + (f'<span class="badge reused" title="{e(f.reused_from)}">reused</span>' if f.reused_from else "")
            + '</header>'
            f'<div class="top"><div class="graphbox">{_graph(f.iteration)}</div>'
            f'<div class="side">{thumb_html}<dl class="facts">{facts_html}</dl></div></div>{failure}'
            f'<h3>Generated</h3>{_generated_html(f)}<h3>Chunks</h3>{_chunks_html(f)}</section>')


CSS = """
:root{--ink:#16191f;--muted:#687078;--line:#d5dbdb;--bg:#f2f3f3;--card:#fff;--ok:#1d8102;--bad:#d13212}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:1120px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:0;word-break:break-all}h3{font-size:13px;margin:16px 0 6px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.sub{color:var(--muted);margin-bottom:18px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin-bottom:18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card .v{font-size:24px;font-weight:600}.card .l{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;background:var(--card)}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;background:#fafafa}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.panel{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px;margin-bottom:18px;overflow-x:auto}
.file{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px;margin-bottom:18px}
.file header{display:flex;gap:8px;align-items:center;margin-bottom:10px}
.badge{font-size:12px;padding:2px 8px;border-radius:10px;background:#eaeded;color:var(--ink)}
.s-succeeded{background:#e9f6ec;color:var(--ok)}.reused{background:#e8f1fb;color:#0073bb}.s-failed,.s-missing{background:#fdecea;color:var(--bad)}
.top{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap}
.side{flex:1;min-width:220px}.thumb{display:block;max-width:100%;max-height:110px;margin-bottom:8px;border:1px solid var(--line);border-radius:4px}
.graph text.n{font-size:13px;font-weight:600;text-anchor:middle;fill:var(--ink)}
.graph text.t{font-size:11px;text-anchor:middle;fill:var(--muted)}.graph text.c{font-size:11px;fill:#ec7211}
.graph .edge{stroke:#687078;stroke-width:1.5}.graph .edge.off{stroke:#aab7b8;stroke-dasharray:4 3}.graph .edge.catch{stroke:#ec7211}
.facts{display:grid;grid-template-columns:repeat(2,auto);gap:2px 14px;margin:0;font-size:13px}
.facts div{display:contents}.facts dt{color:var(--muted)}.facts dd{margin:0}
.failure{margin-top:10px;padding:10px 12px;border-left:4px solid var(--bad);background:#fdecea;border-radius:4px}
.na{color:#8a6d00;background:#fff8e1;padding:6px 10px;border-radius:4px;display:inline-block;margin:0}
.muted{color:var(--muted)}.tag{font-size:11px;background:#eaeded;border-radius:3px;padding:0 4px}
.tags{color:var(--muted);font-size:12px}.gen{margin:0;padding-left:18px}
.chunks td.ord{width:28px;color:var(--muted)}.chunks td.kind{width:150px}.chunks td.roles{width:120px;color:var(--muted);font-size:12px}
.frame{max-width:160px;border-radius:3px;border:1px solid var(--line)}
.seg{margin-bottom:2px}.ts{font-family:ui-monospace,monospace;font-size:12px;color:#0073bb;margin-right:6px}
.legend{display:flex;gap:14px;flex-wrap:wrap;font-size:12px;color:var(--muted);margin:6px 0 0}
.legend i{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:4px;vertical-align:-2px;border:2px solid}
a{color:#0073bb;text-decoration:none}a:hover{text-decoration:underline}
"""


def write_html(path: Path, files: list[FileReport], meta: dict) -> Path:
    """Write the self-contained report to `path`; returns it."""
    ok = sum(f.status == "succeeded" for f in files)
    failed = len(files) - ok
    per_minute = meta["files"] / meta["elapsed"] * 60 if meta["elapsed"] else 0.0
    cards = [(str(meta["files"]), "files"), (str(ok), "succeeded"), (str(failed), "failed"),
             (f"{meta['executions_ok']}/{meta['executions']}", "executions succeeded"),
             (f"{per_minute:.1f}", "files per minute"), (f"{meta['elapsed']:.1f} s", "wall time")]
    cards_html = "".join(f'<div class="card"><div class="v">{e(v)}</div><div class="l">{e(label)}</div></div>'
                         for v, label in cards)
    steps = "".join(f'<tr><td>{e(step)}</td><td class="num">{s["files"]}</td><td class="num">{s["total"]:.2f}</td>'
                    f'<td class="num">{s["mean"]:.2f}</td><td class="num">{s["max"]:.2f}</td></tr>'
                    for step, s in step_stats(files).items())
    rows = "".join(
        f'<tr><td><a href="#f{i}">{e(f.key)}</a></td><td>{e(f.modality)}</td>'
        f'<td><span class="badge s-{e(f.status)}">{e(f.status)}</span>'
        + (f' <span class="badge reused" title="{e(f.reused_from)}">reused</span>' if f.reused_from else "")
        + f'</td><td class="num">{f.chunks}</td>'
        f'<td class="num">{f.embeddings}</td>'
        + "".join(f'<td class="num">{_fmt(f.seconds(s))}</td>' for s in PIPELINE_STEPS)
        + f'<td class="num">{_fmt(f.total_seconds)}</td><td>{e(f.reason or "") if f.status != "succeeded" else ""}</td></tr>'
        for i, f in enumerate(files))
    step_heads = "".join(f'<th class="num">{e(s)} s</th>' for s in PIPELINE_STEPS)
    unavailable = "".join(f"<li><b>{e(role)}</b>: {e(why)}</li>" for role, why in meta.get("unavailable", {}).items())
    legend = "".join(f'<span><i style="background:{fill};border-color:{stroke}"></i>{e(name)}</span>'
                     for name, (fill, stroke) in COLOURS.items())
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Local pipeline run</title><style>{CSS}</style></head>
<body><main>
<h1>Local pipeline run</h1>
<div class="sub">upload → forwarder → Kafka → dispatcher → Step Functions (extract → generate → embed → store) → PostgreSQL + pgvector</div>
<div class="cards">{cards_html}</div>
<div class="panel"><h3 style="margin-top:0">Files</h3><table><thead><tr><th>file</th><th>modality</th><th>status</th>
<th class="num">chunks</th><th class="num">vectors</th>{step_heads}<th class="num">total s</th><th>failure reason</th></tr></thead>
<tbody>{rows}</tbody></table></div>
<div class="panel"><h3 style="margin-top:0">Time per step (Task state entered → exited)</h3><table><thead><tr><th>step</th>
<th class="num">files</th><th class="num">total s</th><th class="num">mean s</th><th class="num">max s</th></tr></thead>
<tbody>{steps}</tbody></table>
{"<h3>Models not available locally</h3><ul>" + unavailable + "</ul>" if unavailable else ""}
<div class="legend">{legend}</div></div>
{"".join(_file_html(i, f) for i, f in enumerate(files))}
</main></body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
    return path
