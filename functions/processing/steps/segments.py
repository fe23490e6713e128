"""The segments of a long object (staging/segments.py): extract one segment into
`segments/<n>.json`, then assemble them in order into `extract.json`, as if extracted whole."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from botocore.exceptions import ClientError

from functions.common.aws_errors import is_not_found
from functions.common.errors import InvalidObjectError, StagingUnavailableError
from functions.common.events import Segment, SegmentItem, SegmentResult, StepResult
from functions.common.staging import Staging
from functions.processing.extract import extract
from functions.processing.extract.job import TEXT_PLAIN
from functions.processing.staging import segments
from functions.processing.staging.chunks import ChunkWriter
from functions.processing.staging.manifest import ExtractManifest, StagedFile
from functions.processing.steps.context import Context
from functions.processing.steps.extract import open_job


def run_segment(item: SegmentItem, ctx: Context) -> SegmentResult:
    """Extract one segment of a long object into `segments/<n>.json`; a segment already staged
    with the same bounds (an earlier attempt finished it) is not redone."""
    started = time.monotonic()
    staging = Staging(ctx.s3, ctx.settings.staging_bucket, item.pipeline_version, item.object)
    name = segments.part_name(item.segment)
    staged = _staged_part(staging, name)
    if segments.is_done(staged, item.segment):
        return SegmentResult(number=item.segment.number, chunks=len(staged.chunks), from_checkpoint=True)
    with tempfile.TemporaryDirectory(prefix="extract-") as tmp:
        job = open_job(ctx, item, staging, Path(tmp), ctx.settings.max_object_bytes)
        part = job.manifest
        part.segment = item.segment
        extract(job)
    if part.chunk_pages:  # a segment's chunks stay in its own document (pages are for the whole)
        raise InvalidObjectError("a segment yields more chunks than one page; lower SEGMENT_SECONDS / SEGMENT_PAGES")
    part.timings["extract_s"] = round(time.monotonic() - started, 3)
    staging.put_json(name, part.model_dump(mode="json"))
    return SegmentResult(number=item.segment.number, chunks=len(part.chunks))


def assemble(planned: StepResult, ctx: Context) -> StepResult:
    """The segments' outputs merged in order into `extract.json`, as if extracted whole."""
    started = time.monotonic()
    obj = planned.object
    staging = Staging(ctx.s3, ctx.settings.staging_bucket, planned.pipeline_version, obj)
    plan = ExtractManifest.model_validate(staging.get_json("plan.json"))
    if plan.segments != planned.segments:
        raise InvalidObjectError("the segments to assemble are not the ones extract planned")
    parts = (_staged_part(staging, segments.part_name(s)) or _missing(s) for s in plan.segments or [])
    with ChunkWriter(staging, plan, ctx.settings.max_chunks) as writer:
        texts = segments.assemble(plan, parts, writer)
    if texts:
        name = "transcript.txt" if plan.modality in ("audio", "video") else "text.txt"
        separator = "\f" if plan.modality == "document" else " "  # pages stay pages
        joined = separator.join(_staged_text(staging, key) for key in texts).encode("utf-8")
        pointer = staging.put_bytes(name, joined, TEXT_PLAIN)
        plan.artefacts["text"] = StagedFile(key=pointer.key, size=len(joined), content_type=TEXT_PLAIN)
    plan.timings["assemble_s"] = round(time.monotonic() - started, 3)
    pointer = staging.put_json("extract.json", plan.model_dump(mode="json"))
    return StepResult(object=obj, pipeline_version=planned.pipeline_version, step="extract", manifest=pointer)


def _staged_text(staging: Staging, key: str) -> str:
    """A segment's text, staged under `key` (a full key inside this object's staging prefix)."""
    return staging.get_bytes(key.removeprefix(staging.prefix + "/")).decode("utf-8")


def _staged_part(staging: Staging, name: str) -> ExtractManifest | None:
    try:
        return ExtractManifest.model_validate(staging.get_json(name))
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def _missing(segment: Segment) -> ExtractManifest:
    raise StagingUnavailableError(f"segment {segment.number} has no staged output")
