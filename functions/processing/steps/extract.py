"""extract: verify the object by content and turn it into chunks (text, OCR, transcripts).

Reads the object from S3 into a temporary file (extract/source.py), checks what it really is,
and writes `extract.json` plus artefacts (thumbnail, keyframes, 16 kHz WAV slices, page images)
to the staging area (extract/: one extractor per modality). OCR (scanned pages, images) and
speech (transcripts) run here, because they produce the text that the chunks are made of. The
same bytes with a result already (results/reuse.py) are not extracted again; a long object is
planned in segments that the state machine extracts one by one (steps/segments.py).
"""
from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from functions.common.constants import UNSUPPORTED
from functions.common.errors import InvalidObjectError
from functions.common.events import Segment, SegmentItem, StepResult, WorkItem
from functions.common.staging import Staging
from functions.processing.chunking import transcript
from functions.processing.extract import extract
from functions.processing.extract.job import ExtractJob, probe
from functions.processing.extract.source import fetch, refuse_unsupported
from functions.processing.formats import pdf
from functions.processing.results.identity import is_up_to_date
from functions.processing.results.reuse import find_source
from functions.processing.staging import segments
from functions.processing.steps.context import Context

logger = logging.getLogger(__name__)


def run(item: WorkItem, ctx: Context) -> StepResult:
    """Extract one object version. Raises InvalidObjectError (and subclasses) for bad input."""
    started = time.monotonic()
    obj = item.object
    staging = Staging(ctx.s3, ctx.settings.staging_bucket, item.pipeline_version, obj)
    done = StepResult(object=obj, pipeline_version=item.pipeline_version, step="extract",
                      manifest=staging.manifest_pointer("extract"))
    if ctx.db is not None and obj.modality != UNSUPPORTED and is_up_to_date(ctx.db, obj, item.pipeline_version):
        logger.info("object version already processed by this pipeline version; nothing to do")
        return done.model_copy(update={"up_to_date": True})
    if obj.modality == UNSUPPORTED:
        refuse_unsupported(ctx.s3, obj)
    if obj.size == 0:
        raise InvalidObjectError("the object is empty (0 bytes)")
    limit = ctx.settings.max_object_bytes
    if obj.size > limit:
        raise InvalidObjectError(f"the object is {obj.size} bytes, above MAX_OBJECT_BYTES ({limit})")

    with tempfile.TemporaryDirectory(prefix="extract-") as tmp:
        job = open_job(ctx, item, staging, Path(tmp), limit)
        manifest = job.manifest
        size = job.source.stat().st_size
        # The same bytes already have a result for this pipeline version: store copies it.
        reuse_from = find_source(ctx.db, manifest, ctx.models.unavailable())
        planned = None if reuse_from else plan_segments(job)
        if planned:  # a long object: the state machine extracts each segment, then assembles
            manifest.segments = planned
            manifest.metadata.setdefault("bytes", size)
            manifest.timings["plan_s"] = round(time.monotonic() - started, 3)
            plan = staging.put_json("plan.json", manifest.model_dump(mode="json"))
            return done.model_copy(update={"manifest": plan, "segments": planned})
        if reuse_from is None:
            extract(job)
    if manifest.chunk_count > ctx.settings.max_chunks:
        raise InvalidObjectError(f"the object yields {manifest.chunk_count} chunks, above the limit of "
                                 f"{ctx.settings.max_chunks} (the MAX_CHUNKS setting, max_chunks in cdk.json)")
    manifest.metadata.setdefault("bytes", size)
    manifest.timings["extract_s"] = round(time.monotonic() - started, 3)
    staging.put_json("extract.json", manifest.model_dump(mode="json"))
    return done.model_copy(update={"reuse_from": reuse_from})


def open_job(ctx: Context, item: WorkItem | SegmentItem, staging: Staging, workdir: Path, limit: int) -> ExtractJob:
    """The object downloaded into `workdir` and checked, as an ExtractJob."""
    source = workdir / "source"
    _, manifest = fetch(ctx.s3, item, source, limit)
    return ExtractJob(source=source, workdir=workdir, s3=ctx.s3, settings=ctx.settings, models=ctx.models,
                      staging=staging, manifest=manifest)


def plan_segments(job: ExtractJob) -> list[Segment] | None:
    """The segments of an object too long for one invocation (staging/segments.py), or None."""
    m, settings = job.manifest, job.settings
    if m.modality in ("audio", "video"):
        info = probe(job)
        unit = settings.video_chunk_seconds if m.modality == "video" else transcript.WINDOW_SECONDS
        return segments.plan_time(info.duration, unit, settings.segment_seconds)
    if m.modality == "document" and m.detected_format == "pdf":
        return segments.plan_pages(pdf.pdf_page_count(job.source), settings.segment_pages)
    return None
