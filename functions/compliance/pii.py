"""Personal data in chunk texts, through the pii model role (Presidio over spaCy).

A chunk's text goes to the endpoint in windows of at most MAX_ITEM_CHARS (the endpoint refuses
longer items: its time per item is bounded so that a request never reaches SageMaker's 60-second
limit), overlapping by WINDOW_OVERLAP characters so that a value cut by a window's end is whole
in the next one; findings come back with offsets into the whole chunk text, each once.

A value that two chunks share (the chunk overlap of token windows) is a finding in each chunk it is
whole in; a value cut by a chunk boundary and whole in neither is not found (chunk texts are
scanned, not the object's text: token windows overlap by text_chunk_overlap tokens, which holds
any value shorter than that).

The same endpoint scores each sentence for profanity (its PROFANITY findings name their own
model): those become moderation findings (a flag on the text, not personal data: no value hash,
never redacted), kept from the policy's profanity threshold on.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from functions.compliance.findings import MODERATION, PII, Finding, Producer, value_hash

# The pii endpoint's own limit (model_artifacts/pii/code/inference.py, MAX_ITEM_CHARS).
MAX_ITEM_CHARS = 10_000
WINDOW_OVERLAP = 200
# The endpoint's sentence-level profanity findings (model_artifacts/pii/code/inference.py PROFANITY).
PROFANITY = "PROFANITY"


@dataclass(frozen=True)
class ChunkText:
    """What the scan needs of a chunk: its text and where it is in the object."""

    ordinal: int
    text: str
    page: Optional[int] = None
    time_start: Optional[float] = None
    time_end: Optional[float] = None


@dataclass(frozen=True)
class _Piece:
    chunk: ChunkText
    offset: int
    text: str


def windows(text: str, size: int = MAX_ITEM_CHARS, overlap: int = WINDOW_OVERLAP) -> list[tuple[int, str]]:
    """(offset, window) pairs covering `text`, each at most `size` characters, consecutive
    windows sharing `overlap` characters. Empty or blank text: no window."""
    if not text.strip():
        return []
    if len(text) <= size:
        return [(0, text)]
    out = []
    start = 0
    while True:
        out.append((start, text[start:start + size]))
        if start + size >= len(text):
            return out
        start += size - overlap


# invoke(items) -> (outputs, {"id", "version"}): the model client call, one output per item.
Invoke = Callable[[list[dict[str, Any]]], tuple[Sequence[Any], dict[str, str]]]


def scan_texts(chunks: Iterable[ChunkText], invoke: Invoke, salt: str,
               profanity_threshold: Optional[float] = None) -> tuple[list[Finding], Producer | None]:
    """The personal data in `chunks`' texts, each finding once, and the model that found them
    (None when there was no text); sentences scored as profane from `profanity_threshold` on
    (None: none kept) as moderation findings. Raises ValueError for an output that is no list of
    findings."""
    pieces = [_Piece(chunk, offset, window) for chunk in chunks for offset, window in windows(chunk.text or "")]
    if not pieces:
        return [], None
    outputs, model = invoke([{"text": p.text} for p in pieces])
    producer = Producer(**model)
    found: dict[tuple[int, str, int, int], Finding] = {}
    for piece, output in zip(pieces, outputs, strict=True):
        if not isinstance(output, list):
            raise ValueError(f"the pii model returned {type(output).__name__}, not a list of findings")
        for item in output:
            start, end = piece.offset + int(item["start"]), piece.offset + int(item["end"])
            kind = str(item["type"])
            key = (piece.chunk.ordinal, kind, start, end)
            if key in found:  # seen whole in the overlap of two windows
                continue
            chunk = piece.chunk
            profane = kind == PROFANITY
            if profane and (profanity_threshold is None or float(item["score"]) < profanity_threshold):
                continue
            found[key] = Finding(
                kind=MODERATION if profane else PII, type=kind, chunk_ordinal=chunk.ordinal, score=float(item["score"]),
                recognizer=str(item.get("recognizer") or ""), start=start, end=end, page=chunk.page,
                time_start=chunk.time_start, time_end=chunk.time_end,
                # A profane sentence is no value to count (no hash). Otherwise the endpoint's canonical
                # form where it gives one (digits of an SSN, card or phone number, written or spoken):
                # one value, one hash.
                value_hash=None if profane else value_hash(salt, kind, str(item.get("canonical") or chunk.text[start:end])),
                model=Producer(**item["model"]) if item.get("model") else producer)
    return sorted(_one_per_sentence(found.values()), key=lambda f: (f.chunk_ordinal, f.start or 0, f.type)), producer


def _one_per_sentence(findings: Iterable[Finding]) -> list[Finding]:
    """Findings with overlapping PROFANITY spans of one chunk reduced to the best scored: a
    sentence that crosses two windows is scored whole in one and cut in the other."""
    kept: dict[int, list[Finding]] = {}
    for f in sorted((f for f in findings if f.type == PROFANITY), key=lambda f: (-f.score, f.start or 0)):
        chunk = kept.setdefault(f.chunk_ordinal, [])
        if not any((k.start or 0) < (f.end or 0) and (f.start or 0) < (k.end or 0) for k in chunk):
            chunk.append(f)
    return [f for f in findings if f.type != PROFANITY] + [f for chunk in kept.values() for f in chunk]
