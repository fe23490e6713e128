"""What a local run produced, for people: the summary table and the HTML report.

Everything is read back from where the pipeline put it: rows from PostgreSQL, step timings
from the Step Functions execution histories (local.history), thumbnails and keyframes from
the staging bucket (read while moto is still up). Nothing here is estimated.

The HTML report is one self-contained file (inline CSS and SVG, images as data: URIs, no
script, no network) so it opens anywhere, including from a CI artefact. Its markup and CSS are
the Jinja templates in local/templates/ (autoescaped); this module only turns the run's rows and
histories into the plain values they show (`report_view`), SVG coordinates included.
"""
from __future__ import annotations

import base64
import json
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TextIO

import jinja2

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
from local.results import RunResult

S = DB_SCHEMA
REPORT_STEPS = (*PIPELINE_STEPS, STEP_RECORD_FAILURE)
MAX_FRAMES_PER_FILE = 8


# --- reading back ---------------------------------------------------------------------------
def load_objects(conn: Any) -> list[dict]:
    """Every object row with its chunks (and embedding roles per chunk), generated outputs and
    latest failure, ordered by modality and key."""
    rows = conn.execute(
        f"SELECT o.id, o.bucket, o.key, o.version_id, o.modality, o.status, o.detected_format, o.size,"
        f" o.metadata, o.unavailable, f.failed_step, f.error, f.reason, o.content_sha256, o.reused_from, o.compliance"
        f" FROM {S}.{TABLE_OBJECTS} o LEFT JOIN {S}.{TABLE_FAILURES} f"
        f"  ON f.bucket = o.bucket AND f.key = o.key AND f.version_id IS NOT DISTINCT FROM o.version_id"
        f"  AND f.pipeline_version = o.pipeline_version"
        f" ORDER BY o.modality, o.key").fetchall()
    names = ("id", "bucket", "key", "version_id", "modality", "status", "detected_format", "size", "metadata",
             "unavailable", "failed_step", "error", "reason", "content_sha256", "reused_from", "compliance")
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
    for obj in objects.values():
        obj["labels"] = []
    for object_id, label, score, role in conn.execute(
            f"SELECT object_id, label, score, model_role FROM {S}.object_labels ORDER BY object_id, model_role, rank"):
        objects[object_id]["labels"].append((label, float(score), role))
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
    def flags(self) -> Optional[str]:
        """The file's compliance findings, "pii: CREDIT_CARD 1, EMAIL_ADDRESS 2; moderation: none"
        (functions/compliance: objects.compliance), or None when it was not scanned."""
        return compliance_text(self.obj.get("compliance") if self.obj else None)

    @property
    def labels(self) -> Optional[str]:
        """The file's top taxonomy labels, "food-drink 0.52, healthy-living 0.31 (text_embedding)"
        (functions/taxonomy: pipeline.object_labels), or None when it has none."""
        labels = (self.obj or {}).get("labels") or []
        by_role: dict[str, list[str]] = {}
        for label, score, role in labels:
            by_role.setdefault(role, []).append(f"{label} {score:.2f}")
        return "; ".join(f"{', '.join(v)} ({role})" for role, v in by_role.items()) or None

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


def compliance_text(summary: Optional[dict]) -> Optional[str]:
    """objects.compliance as one line: finding counts per personal-data type and per moderation
    label, and what the roles that were not there did not look at: the pii role reads text
    (personal data and profanity), the moderation role images."""
    if not summary:
        return None
    counts = summary.get("counts") or {}
    unavailable = set(summary.get("unavailable") or [])
    text = {kind: ", ".join(f"{name} {n}" for name, n in sorted((counts.get(kind) or {}).items())) or "none"
            for kind in ("pii", "moderation")}
    if "pii" in unavailable:
        text["pii"] = "not scanned (model not available)"
    missing = [what for role, what in (("pii", "text"), ("moderation", "images")) if role in unavailable]
    if missing:  # what was found is still shown: PROFANITY comes from the pii role, labels from moderation
        text["moderation"] += f" ({' and '.join(missing)} not scanned: model not available)"
    return "; ".join(f"{kind}: {value}" for kind, value in text.items())


def file_reports(result: RunResult) -> list[FileReport]:
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


def print_summary(files: list[FileReport], result: RunResult, out: TextIO = sys.stdout) -> None:
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
        if f.status == "succeeded" and f.flags:
            line += f"\n{'':<{width}}  ^ findings: {f.flags}"
        if f.status == "succeeded" and f.labels:
            line += f"\n{'':<{width}}  ^ labels: {f.labels}"
        print(line, file=out)
    print(f"\n{'step':<15} {'files':>5} {'total s':>8} {'mean s':>8} {'max s':>8}", file=out)
    for step, s in step_stats(files).items():
        print(f"{step:<15} {s['files']:>5} {s['total']:>8.2f} {s['mean']:>8.2f} {s['max']:>8.2f}", file=out)
    ok = sum(f.status == "succeeded" for f in files)
    failed = sum(f.status == "failed" for f in files)
    reused = sum(bool(f.reused_from) for f in files)
    executions_ok = sum(e["status"] == "SUCCEEDED" for e in result.executions)
    per_minute = len(result.files) / result.elapsed * 60 if result.elapsed else 0.0
    # Attachments extract wrote back are objects of their own, not uploaded files: count them apart.
    attached = set(result.attachments)
    uploaded_rows = sum(o["key"] not in attached for o in result.objects)
    derived = len(result.objects) - uploaded_rows
    also = ("" if not attached else f", plus {derived}/{len(attached)} e-mail attachments as objects of their own")
    missing = sum(f.status == "missing" for f in files)  # an execution ran, no result row
    print(f"\n{uploaded_rows}/{len(result.files)} uploaded files have a result row{also}; "
          f"{len(result.objects)} object{'s' if len(result.objects) != 1 else ''}: {ok} succeeded"
          f"{f' ({reused} reusing the result of the same bytes)' if reused else ''} and {failed} failed"
          f"{f', {missing} with no row' if missing else ''}; "
          f"{executions_ok}/{len(result.executions)} executions succeeded; "
          f"{per_minute:.1f} files per minute ({result.elapsed:.1f} s from first upload to last execution)", file=out)


# --- the HTML report: a view model the templates render ---------------------------------------
TEMPLATES = Path(__file__).resolve().parent / "templates"
COLOURS = {  # fill, stroke: as the Step Functions console draws states
    "succeeded": ("#e9f6ec", "#1d8102"),
    "caught": ("#fff4e5", "#ec7211"),
    "failed": ("#fdecea", "#d13212"),
    "running": ("#e8f1fb", "#0073bb"),
    "not run": ("#f4f4f4", "#aab7b8"),
}
# The execution graph's geometry in px: one box per step, left to right, record_failure below.
BOX_W, BOX_H = 132, 46
GRAPH_X0, GRAPH_GAP, GRAPH_Y0 = 12, 172, 14
MAX_CHUNK_TEXT = 600  # characters of a chunk's text shown


def run_meta(result: RunResult) -> dict:
    """The run's own figures for report_view: files, elapsed seconds, executions (all and
    succeeded) and the models not available locally."""
    return {"files": len(result.files), "elapsed": result.elapsed,
            "executions": len(result.executions),
            "executions_ok": sum(e["status"] == "SUCCEEDED" for e in result.executions),
            "unavailable": result.unavailable}


@dataclass
class Edge:
    """An arrow of the execution graph; kind is on | off (a step not run) | catch."""

    x1: int
    y1: int
    x2: int
    y2: int
    kind: str
    label: str = ""  # written beside the arrow, at (label_x, label_y)
    label_x: int = 0
    label_y: int = 0


@dataclass
class StateBox:
    """One Task state of the execution graph, coloured by its outcome."""

    x: int
    y: int
    label: str
    state: str  # a key of COLOURS
    timing: str  # "1.25 s", "running" (with " · 3 tries" after retries), or "" when not run
    title: str  # the tooltip: state, and the error caught
    dashed: bool  # the step did not run
    edge_in: Optional[Edge] = None  # the arrow from the step before, drawn after the box
    width: int = BOX_W
    height: int = BOX_H

    @property
    def fill(self) -> str:
        return COLOURS[self.state][0]

    @property
    def stroke(self) -> str:
        return COLOURS[self.state][1]

    @property
    def css_state(self) -> str:
        return self.state.replace(" ", "-")

    @property
    def cx(self) -> int:
        return self.x + self.width // 2

    @property
    def label_y(self) -> int:
        return self.y + 20

    @property
    def timing_y(self) -> int:
        return self.y + 37


@dataclass
class Graph:
    """extract -> generate -> embed -> store, and record_failure under the step that failed."""

    width: int
    height: int
    steps: list[StateBox]
    catch: Optional[Edge] = None  # the Catch arrow down to record_failure, when there is one
    record_failure: Optional[StateBox] = None


def _box(x: int, y: int, label: str, run: Optional[StepRun]) -> StateBox:
    state = run.outcome if run else "not run"
    timing = "" if run is None else (_fmt(run.seconds) + " s" if run.seconds is not None else "running")
    if run and run.attempts > 1:
        timing += f" · {run.attempts} tries"
    title = f"{label}: {state}" + (f" — {run.error}: {run.cause}" if run and run.error else "")
    return StateBox(x, y, label, state, timing, title, dashed=run is None)


def graph(it: Optional[Iteration]) -> Graph:
    """The execution graph of one file's iteration (every step 'not run' without one)."""
    x0, gap, y = GRAPH_X0, GRAPH_GAP, GRAPH_Y0
    boxes = []
    for i, step in enumerate(PIPELINE_STEPS):
        run = it.step(step) if it else None
        box = _box(x0 + i * gap, y, step, run)
        if i:
            box.edge_in = Edge(x0 + (i - 1) * gap + BOX_W, y + BOX_H // 2, x0 + i * gap - 3, y + BOX_H // 2,
                               "on" if run else "off")
        boxes.append(box)
    width = x0 * 2 + gap * (len(PIPELINE_STEPS) - 1) + BOX_W
    failure = it.failure if it else None
    rf = it.step(STEP_RECORD_FAILURE) if it else None
    if not (failure or rf):
        return Graph(width, 76, boxes)
    col = PIPELINE_STEPS.index(failure.step) if failure and failure.step in PIPELINE_STEPS else 0
    fx = x0 + col * gap
    catch = Edge(fx + BOX_W // 2, y + BOX_H, fx + BOX_W // 2, y + 83, "catch", "Catch", fx + BOX_W // 2 + 6, y + 68)
    return Graph(width, 160, boxes, catch, _box(fx, y + 86, STEP_RECORD_FAILURE, rf))


def _range(chunk: dict) -> str:
    if chunk["time_start"] is not None:
        return f"{chunk['time_start']:.2f}–{chunk['time_end']:.2f} s"
    if chunk["page"] is not None:
        return f"page {chunk['page']}"
    return f"#{chunk['ordinal']}"


@dataclass
class GeneratedItem:
    task: str
    where: str  # "whole file" | "chunk N"
    text: str  # the caption or summary (else the content as JSON)
    tags: str  # comma-separated tags or keywords, "" when none


@dataclass
class Segment:
    span: str  # "0.00–1.50 s"
    text: str


@dataclass
class ChunkRow:
    ordinal: int
    kind: str
    where: str  # time range, page or ordinal
    frame: Optional[str]  # data: URI of its keyframe
    segments: list[Segment]  # timed transcript segments; when present they are the text shown
    text: str  # "" when nothing was heard or read
    label: str  # "OCR" when the text was read from pixels
    roles: str  # embedding roles, comma-separated, or "none"


@dataclass
class Failure:
    step: str
    error: str
    reason: str


@dataclass
class FileView:
    """One file: its row of the files table and its section."""

    anchor: str
    key: str
    modality: str
    status: str
    reused_from: Optional[str]
    chunks: int
    embeddings: int
    step_seconds: list[str]  # per pipeline step, formatted ("-" when not run)
    total_seconds: str
    reason: str  # failure reason for the table ("" when succeeded)
    graph: Graph
    thumbnail: Optional[str]
    facts: list[tuple[str, str]]
    failure: Optional[Failure]
    generated: list[GeneratedItem]
    generation_unavailable: bool
    chunk_rows: list[ChunkRow]


def _generated(obj: dict) -> list[GeneratedItem]:
    items = []
    for g in obj.get("generated") or []:
        c = g["content"] or {}
        text = c.get("caption") or c.get("summary") or json.dumps(c)
        tags = c.get("tags") or c.get("keywords") or []
        where = "whole file" if g["chunk_ordinal"] is None else f"chunk {g['chunk_ordinal']}"
        items.append(GeneratedItem(g["task"], where, str(text), ", ".join(map(str, tags))))
    return items


def _chunk_rows(obj: dict, frames: dict) -> list[ChunkRow]:
    rows = []
    for ch in obj.get("chunks") or []:
        segments = ch["metadata"].get("segments")
        segments = [s for s in segments if isinstance(s, dict) and "start" in s] if isinstance(segments, list) else []
        text = ch["text"] or ""
        if len(text) > MAX_CHUNK_TEXT:
            text = text[:MAX_CHUNK_TEXT] + "…"
        label = "OCR" if ch["kind"] in ("image", "page_image") or ch["metadata"].get("ocr_words") else ""
        rows.append(ChunkRow(ch["ordinal"], ch["kind"], _range(ch), frames.get(ch["ordinal"]),
                             [Segment(f"{s['start']:.2f}–{s['end']:.2f} s", s["text"]) for s in segments],
                             text, label, ", ".join(ch["roles"]) or "none"))
    return rows


def file_view(i: int, f: FileReport) -> FileView:
    """What the report shows of one file (the i-th, which names its anchor)."""
    obj = f.obj or {}
    failure = None
    if f.status != "succeeded":
        run = f.iteration.failure if f.iteration else None
        failure = Failure(step=obj.get("failed_step") or (run.step if run else "?"),
                          error=obj.get("error") or (run.error if run else "") or "",
                          reason=f.reason or "no reason recorded")
    unavailable = obj.get("unavailable") or []
    facts = [("modality", f.modality), ("format", obj.get("detected_format") or "-"),
             ("size", f"{obj.get('size', 0):,} B"), ("chunks", str(f.chunks)), ("embeddings", str(f.embeddings)),
             ("total", _fmt(f.total_seconds) + " s")]
    if unavailable:
        facts.append(("models not available", ", ".join(unavailable)))
    if f.reused_from:
        facts.append(("reused from", f"{f.reused_from}: same bytes, its result copied, no model called"))
    if f.flags:
        facts.append(("compliance findings", f.flags))
    if f.labels:
        facts.append(("taxonomy labels", f.labels))
    if obj.get("content_sha256"):
        facts.append(("sha256", obj["content_sha256"][:16] + "…"))
    return FileView(
        anchor=f"f{i}", key=f.key, modality=f.modality, status=f.status, reused_from=f.reused_from,
        chunks=f.chunks, embeddings=f.embeddings, step_seconds=[_fmt(f.seconds(s)) for s in PIPELINE_STEPS],
        total_seconds=_fmt(f.total_seconds), reason=(f.reason or "") if f.status != "succeeded" else "",
        graph=graph(f.iteration), thumbnail=f.artefacts.get("thumbnail"), facts=facts, failure=failure,
        generated=_generated(obj), generation_unavailable=MODEL_GENERATION in unavailable,
        chunk_rows=_chunk_rows(obj, f.artefacts.get("frames", {})))


@dataclass
class ReportView:
    """Everything the report page shows."""

    cards: list[tuple[str, str]]  # (value, label)
    steps: tuple[str, ...]  # the pipeline steps, the files table's time columns
    step_stats: dict[str, dict[str, float]]  # step_stats()
    files: list[FileView]
    unavailable: dict[str, str]  # model role -> why it is not available locally
    legend: list[tuple[str, str, str]] = field(default_factory=list)  # (state, fill, stroke)


def report_view(files: list[FileReport], meta: dict) -> ReportView:
    """The report of `files`; `meta` is run_meta() (files, elapsed, executions, executions_ok, unavailable)."""
    ok = sum(f.status == "succeeded" for f in files)
    per_minute = meta["files"] / meta["elapsed"] * 60 if meta["elapsed"] else 0.0
    cards = [(str(meta["files"]), "files"), (str(ok), "succeeded"), (str(len(files) - ok), "failed"),
             (f"{meta['executions_ok']}/{meta['executions']}", "executions succeeded"),
             (f"{per_minute:.1f}", "files per minute"), (f"{meta['elapsed']:.1f} s", "wall time")]
    return ReportView(cards=cards, steps=PIPELINE_STEPS, step_stats=step_stats(files),
                      files=[file_view(i, f) for i, f in enumerate(files)],
                      unavailable=dict(meta.get("unavailable") or {}),
                      legend=[(name, fill, stroke) for name, (fill, stroke) in COLOURS.items()])


_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                          keep_trailing_newline=True)


def render_html(view: ReportView) -> str:
    """The report page (local/templates/report.html.j2) of `view`."""
    return _ENV.get_template("report.html.j2").render(report=view)


def write_html(path: Path, files: list[FileReport], meta: dict) -> Path:
    """Write the self-contained report to `path`; returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report_view(files, meta)), encoding="utf-8")
    return path
