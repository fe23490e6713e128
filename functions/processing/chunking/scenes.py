"""Video chunks at scene changes: FFmpeg's scene detector through PyAV, and the chunk plan.

Detection runs FFmpeg's `scdet` filter (https://ffmpeg.org/ffmpeg-filters.html#scdet-1) in a
PyAV filter graph: the extract Lambda has no ffmpeg binary, but the PyAV wheel in the media layer
carries FFmpeg's libavfilter, and this needs neither numpy nor another package in a layer that
is close to Lambda's 250 MB limit. Frames are scaled down before scoring (the score is a mean
absolute difference of pixels: a small picture gives nearly the same number for a fraction of
the work); memory stays one decoded frame.

The plan (`plan`) is a pure function of the cut times:
- a chunk starts at every scene change;
- a scene shorter than `min_seconds` (a quarter window) joins the scene before it (the first one
  the scene after it), so flashes and fast cutting do not make one-second chunks;
- a scene longer than `max_seconds` (two windows) is cut on the fixed-window grid of the object
  (multiples of `chunk_seconds` from 0), so a long scene, and a video without scene changes,
  gets the fixed windows it would get in `fixed` mode; a grid point that would leave a piece
  shorter than `min_seconds` at either end of the scene is skipped.

Segments (functions/processing/staging/segments.py): a long video is extracted a time segment at a time,
and segment bounds are multiples of `chunk_seconds`. Each segment detects the changes in its own
window (decoding from a second before it, so the detector sees the same previous frames as it
does whole) and no chunk crosses a segment bound: a piece of a scene cut off by a segment bound
is planned like a long scene (on the grid), since its length is not known. So a segmented video
has the chunks it has whole except at segment bounds (every SEGMENT_SECONDS, 10 minutes): a
scene of at most two windows across a bound, or a change within a quarter window of it, is cut
there too. Stitching scenes across segments would need the neighbour's cuts before planning,
that is, one segment waiting for another.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from functions.common.errors import InvalidObjectError
from functions.processing.formats.media import TimeRange

# scdet's own default (percent of the largest possible change); FFmpeg's documentation calls
# 8-14 good values. A cut between two shots scores 15-100, motion within a shot a few points.
THRESHOLD = 10.0
# Width the frames are scored at (height follows the aspect ratio).
SCORE_WIDTH = 160
# Frames decoded before a segment's window: the detector's score of a frame depends on the
# frame before it and on that frame's own score.
LOOKBACK_SECONDS = 1.0
# Chunk lengths, in fixed windows (VIDEO_CHUNK_SECONDS).
MIN_WINDOWS = 0.25
MAX_WINDOWS = 2.0
# Keyframes of one chunk: one per window it spans, at most this many.
MAX_KEYFRAMES = 4
_EPS = 1e-6


@dataclass(frozen=True)
class SceneChunk:
    """A planned chunk: its time range and whether it starts at a detected scene change."""

    range: TimeRange
    at_change: bool


def detect(path: Path, start: float, end: float, threshold: float = THRESHOLD) -> list[float]:
    """Times (seconds, object time) of the frames in (start, end) that begin a new scene.

    Raises InvalidObjectError when the video cannot be decoded or filtered; the caller decides
    whether that is fatal (extract falls back to the fixed windows and says so in the metadata).
    """
    try:
        return _detect(path, start, end, threshold)
    except (av.FFmpegError, OSError) as exc:
        raise InvalidObjectError(f"scene detection failed: {exc}") from exc


def _detect(path: Path, start: float, end: float, threshold: float) -> list[float]:
    cuts: list[float] = []
    with av.open(str(path), metadata_errors="ignore") as container:
        if not container.streams.video:
            return cuts
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        graph = av.filter.Graph()
        source = graph.add_buffer(template=stream)
        scale = graph.add("scale", f"{SCORE_WIDTH}:-2")
        scdet = graph.add("scdet", f"threshold={threshold}")
        sink = graph.add("buffersink")
        source.link_to(scale)
        scale.link_to(scdet)
        scdet.link_to(sink)
        graph.configure()
        if start > 0:
            base = stream.time_base or Fraction(1, 1000)
            container.seek(int(max(0.0, start - LOOKBACK_SECONDS) / base), stream=stream, backward=True)
        for frame in container.decode(stream):
            graph.push(frame)
            for scored in _pull(graph):
                t = scored.time
                if t is None or t <= start + _EPS:
                    continue
                if t >= end - _EPS:
                    return cuts
                if "lavfi.scd.time" in scored.metadata:  # set by scdet when the score passes the threshold
                    cuts.append(round(float(t), 6))
    return cuts


def _pull(graph: av.filter.Graph) -> list[av.VideoFrame | av.AudioFrame]:
    out: list[av.VideoFrame | av.AudioFrame] = []
    while True:
        try:
            out.append(graph.pull())
        except (av.BlockingIOError, av.EOFError):
            return out


def plan(start: float, end: float, cuts: list[float], chunk_seconds: float, *, open_start: bool = False,
         open_end: bool = False) -> list[SceneChunk]:
    """Chunks covering [start, end) (a video, or a segment of one) given its scene changes.

    `open_start` / `open_end` say that the window is cut off there by a segment bound rather than
    ending with the video: a scene touching such a bound is planned on the fixed-window grid.
    Returns the chunks in time order, never longer than MAX_WINDOWS windows and, unless the
    window itself is shorter, never shorter than MIN_WINDOWS of one.
    """
    if end - start <= _EPS:
        return []
    min_seconds, max_seconds = chunk_seconds * MIN_WINDOWS, chunk_seconds * MAX_WINDOWS
    inner = sorted({round(c, 6) for c in cuts if start + _EPS < c < end - _EPS})
    bounds = [start, *inner, end]
    # (start, end, starts at a change, open at start, open at end)
    scenes = [[a, b, i > 0, i == 0 and open_start, i == len(bounds) - 2 and open_end]
              for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    merged: list[list] = []
    for scene in scenes:
        if merged and (scene[1] - scene[0] < min_seconds or merged[-1][1] - merged[-1][0] < min_seconds):
            previous = merged[-1]
            previous[1], previous[4] = scene[1], scene[4]
        else:
            merged.append(scene)
    chunks: list[SceneChunk] = []
    for a, b, at_change, open_a, open_b in merged:
        if open_a or open_b or b - a > max_seconds + _EPS:
            edges = [a, *_grid(a, b, chunk_seconds, min_seconds), b]
        else:
            edges = [a, b]
        for i, (x, y) in enumerate(zip(edges, edges[1:])):
            chunks.append(SceneChunk(TimeRange(round(float(x), 6), round(float(y), 6)), at_change and i == 0))
    return chunks


def _grid(a: float, b: float, chunk_seconds: float, min_seconds: float) -> list[float]:
    """Multiples of chunk_seconds inside (a, b) at least min_seconds from both ends."""
    first = math.ceil((a + min_seconds) / chunk_seconds - 1e-9)
    last = math.floor((b - min_seconds) / chunk_seconds + 1e-9)
    return [round(k * chunk_seconds, 6) for k in range(first, last + 1) if a + _EPS < k * chunk_seconds < b - _EPS]


def keyframe_times(chunk: TimeRange, chunk_seconds: float) -> list[float]:
    """One time per window the chunk spans (at most MAX_KEYFRAMES), each in the middle of an
    equal share of the chunk: a one-window chunk gets its middle, as in fixed mode."""
    count = min(MAX_KEYFRAMES, max(1, math.ceil(chunk.duration / chunk_seconds - 1e-6)))
    share = (chunk.end - chunk.start) / count
    return [round(chunk.start + (j + 0.5) * share, 3) for j in range(count)]
