"""Speech transcripts into chunks: the speech model's timed phrases placed on the object's
timeline and grouped.

A phrase is one timed piece of a transcript: what the speech model's reply (and a chunk's stored
metadata) calls "segments". It is not a segment of a long object (staging/segments.py)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

WINDOW_SECONDS = 30.0  # audio sent to the speech model per item
GROUP_MAX_SECONDS = 30.0


def place_phrases(output: dict[str, Any], offset: float, window_end: float) -> list[dict[str, Any]]:
    """The segments of one speech output, moved from item time to object time.

    A reply without segments but with text becomes one segment covering the window.
    """
    segments = output.get("segments") or []
    if not segments and (output.get("text") or "").strip():
        segments = [{"start": 0.0, "end": window_end - offset, "text": output["text"]}]
    placed = []
    for segment in segments:
        text = " ".join(str(segment.get("text", "")).split())
        if not text:
            continue
        start = offset + max(0.0, float(segment.get("start", 0.0)))
        end = min(window_end, offset + max(float(segment.get("end", 0.0)), float(segment.get("start", 0.0))))
        placed.append({"start": round(start, 3), "end": round(max(end, start), 3), "text": text})
    return placed


def group_phrases(
    segments: Iterable[dict[str, Any]],
    max_tokens: int,
    count_tokens: Callable[[str], int],
    max_seconds: float = GROUP_MAX_SECONDS,
) -> list[dict[str, Any]]:
    """Consecutive segments merged until a group reaches max_tokens tokens or max_seconds.

    Speech models often return word- or phrase-level segments; embedding each alone would
    give vectors of single words. `count_tokens` counts a text's tokens as the embedding model
    does (functions.processing.chunking.text.count_tokens): segments are joined with spaces, which the
    model's tokenizer splits on, so a group's tokens are the sum of its segments'. A single
    segment longer than max_tokens stays one group (a segment lies within one WINDOW_SECONDS
    window: fitting 254 tokens into 30 s takes about 380 words a minute).
    Returns [{"start", "end", "text", "segments"}].
    """
    groups: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for segment in segments:
        tokens = count_tokens(segment["text"])
        if current is not None and (
            current["tokens"] + tokens > max_tokens or segment["end"] - current["start"] > max_seconds
        ):
            groups.append(current)
            current = None
        if current is None:
            current = {"start": segment["start"], "end": segment["end"], "texts": [], "tokens": 0, "segments": 0}
        current["texts"].append(segment["text"])
        current["end"] = max(current["end"], segment["end"])
        current["tokens"] += tokens
        current["segments"] += 1
    if current is not None:
        groups.append(current)
    return [
        {"start": g["start"], "end": g["end"], "text": " ".join(g["texts"]), "segments": g["segments"]} for g in groups
    ]
