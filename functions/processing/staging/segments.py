"""Long objects in segments: media longer than SEGMENT_SECONDS and PDFs of more than
SEGMENT_PAGES pages are extracted a segment per invocation, then assembled into one result.

Why: one Lambda invocation has 15 minutes
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html). An hour of video
(keyframes, 16 kHz audio, speech for every chunk) or 2,000 pages (text, tables, OCR of scanned
pages) in one invocation could not finish, and a retry would start again from zero. The state
machine runs the segments of one object side by side (a Distributed Map: each segment a child
execution of its own, `segment_max_concurrency` at a time), each retried alone; a segment's output is staged under a deterministic key
(`segments/<n>.json`) and an attempt that finds it already staged for the same bounds skips
the work (a checkpoint), so a rerun after a crash redoes only what is missing.

Segment bounds follow the chunking: a time segment is a whole number of video chunks (or speech
windows, for audio), so the chunks of a segmented object are the ones it would have had whole.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TypeGuard

from functions.common.errors import StagingUnavailableError
from functions.common.events import Segment
from functions.processing.staging.chunks import ChunkWriter
from functions.processing.staging.manifest import ExtractManifest

# Segments of one object at most: the segment list travels in the execution's state (256 KiB);
# each segment's events go to its own child execution (step_functions/budget.py counts them).
MAX_SEGMENTS = 200


def plan_time(duration: float, unit: float, segment_seconds: float) -> list[Segment] | None:
    """Windows of whole `unit`s (chunk or speech-window length) of at most `segment_seconds`,
    covering `duration`; None when the object fits in one invocation."""
    if duration <= segment_seconds:
        return None
    length = max(1, math.floor(segment_seconds / unit + 1e-9)) * unit
    count = math.ceil(duration / length - 1e-9)
    if count > MAX_SEGMENTS:
        length = math.ceil(duration / MAX_SEGMENTS / unit) * unit
        count = math.ceil(duration / length - 1e-9)
    return [Segment(number=i, time_start=round(i * length, 6), time_end=round(min((i + 1) * length, duration), 6))
            for i in range(count)]


def plan_pages(pages: int, per_segment: int) -> list[Segment] | None:
    """Ranges of `per_segment` pages covering `pages`; None when they fit in one invocation."""
    if pages <= per_segment:
        return None
    per_segment = max(per_segment, math.ceil(pages / MAX_SEGMENTS))
    return [Segment(number=i, first_page=first, last_page=min(first + per_segment - 1, pages))
            for i, first in enumerate(range(1, pages + 1, per_segment))]


def part_name(segment: Segment) -> str:
    return f"segments/{segment.number:04d}.json"


def is_done(part: ExtractManifest | None, segment: Segment) -> TypeGuard[ExtractManifest]:
    """Whether a staged part is this segment's output (same bounds): the checkpoint."""
    return part is not None and part.segment == segment


def assemble(plan: ExtractManifest, parts: Iterable[ExtractManifest], writer: ChunkWriter) -> list[str]:
    """Merge the segments' outputs into `plan` (the manifest extract wrote when it planned),
    renumbering chunks in segment order; returns the staging keys of the segments' texts, in
    order, for the object's text artefact. Raises StagingUnavailableError when a segment's output is missing
    (the Map ended without it: a retry of the state can fix it)."""
    texts: list[str] = []
    expected = {s.number: s for s in plan.segments or []}
    seen: set[int] = set()
    for part in parts:
        if part.segment is None or expected.get(part.segment.number) != part.segment:
            raise StagingUnavailableError(f"staged segment {part.segment} is not one the plan names")
        seen.add(part.segment.number)
        for chunk in part.chunks:
            writer.add(**chunk.model_dump(exclude={"ordinal"}))
        if "text" in part.artefacts:
            texts.append(part.artefacts["text"].key)
        for role, model in part.models.items():
            plan.models.setdefault(role, model)
        plan.unavailable.extend(r for r in part.unavailable if r not in plan.unavailable)
        for name, seconds in part.timings.items():
            plan.timings[name] = round(plan.timings.get(name, 0.0) + seconds, 3)
        _merge_metadata(plan, part)
    missing = sorted(set(expected) - seen)
    if missing:
        raise StagingUnavailableError(f"segments {missing} have no staged output")
    return texts


# Per-segment metadata that adds up, or lists that concatenate, across segments.
_SUMMED = ("decoded_seconds", "transcript_words", "tables")
_CONCATENATED = ("scanned_pages", "ocr_pages")


def _merge_metadata(plan: ExtractManifest, part: ExtractManifest) -> None:
    for key, value in part.metadata.items():
        if key in _SUMMED and isinstance(value, (int, float)):
            plan.metadata[key] = round(plan.metadata.get(key, 0) + value, 3)
        elif key in _CONCATENATED and isinstance(value, list):
            plan.metadata[key] = [*plan.metadata.get(key, []), *value]
        else:
            plan.metadata.setdefault(key, value)


