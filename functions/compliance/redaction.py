"""Redaction (the deployment setting `compliance.redact`): what a chunk's text and the other text
staged for an object become once the personal data found in them is replaced by `<TYPE>`.

Two operations, both pure:
* `redact_spans`: a chunk's text with each finding's span replaced by its type in angle
  brackets, as Presidio's anonymizer writes it (`<EMAIL_ADDRESS>`), and the findings moved to
  the offsets of their replacement in the new text (the offsets they had in the extracted text
  are kept in their metadata: `extracted_start`, `extracted_end`);
* `Sweeper`: every occurrence of a value found anywhere in the object replaced in any other
  text (chunk metadata, the object's metadata, the staged text artefact), where no offsets
  exist: a transcript's timed phrases, a table's cells, an e-mail header.

The values themselves live only in memory while the scan step runs; nothing here writes them.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from functions.common.errors import InvalidObjectError
from functions.compliance.findings import PII, Finding

EXTRACTED_START = "extracted_start"
EXTRACTED_END = "extracted_end"


def token(finding_type: str) -> str:
    """What a value of `finding_type` is replaced by: `<EMAIL_ADDRESS>`."""
    return f"<{finding_type}>"


@dataclass(frozen=True)
class Redacted:
    text: str
    findings: list[Finding]  # offsets into `text`
    spans: int  # replacements made (overlapping findings share one)


def redact_spans(text: str, findings: Sequence[Finding]) -> Redacted:
    """`text` with the span of every finding that has offsets (into `text`) replaced by `<TYPE>`.

    Overlapping spans become one replacement over their union, named after the finding with the
    highest score (then the longest span, then the type name): `<CREDIT_CARD>`, not
    `<CREDIT_CARD><PHONE_NUMBER>`, for a card number also read as a phone number. Spans that only
    touch stay apart (`<PERSON><EMAIL_ADDRESS>`). Each finding comes back with the start and end
    of its replacement in the new text and, in its metadata, its offsets in `text`. Moderation
    findings are not replaced: one with offsets (a profane sentence) comes back at the same text's
    offsets in the new text (a replacement inside it counted whole), one without (an image
    label) as it is, after the others.

    Raises ValueError for a span outside `text` or empty."""
    placed = sorted((f for f in findings if f.kind == PII and f.start is not None and f.end is not None),
                    key=lambda f: (f.start, -(f.end or 0)))
    groups: list[tuple[int, int, list[Finding]]] = []
    for f in placed:
        start, end = int(f.start or 0), int(f.end or 0)
        if not 0 <= start < end <= len(text):
            raise ValueError(f"finding {f.type} at {start}-{end} is outside the chunk's {len(text)} characters")
        if groups and start < groups[-1][1]:
            first, last, members = groups[-1]
            groups[-1] = (first, max(last, end), [*members, f])
        else:
            groups.append((start, end, [f]))
    parts: list[str] = []
    length = pos = 0
    moved: list[Finding] = []
    replaced: list[tuple[int, int, str]] = []  # (start, end) in `text`, replacement
    for start, end, members in groups:
        parts.append(text[pos:start])
        length += start - pos
        winner = max(members, key=lambda f: (f.score, (f.end or 0) - (f.start or 0), f.type))
        replacement = token(winner.type)
        replaced.append((start, end, replacement))
        parts.append(replacement)
        for f in members:
            moved.append(f.model_copy(update={
                "start": length, "end": length + len(replacement),
                "metadata": {**f.metadata, EXTRACTED_START: f.start, EXTRACTED_END: f.end}}))
        length += len(replacement)
        pos = end
    parts.append(text[pos:])
    for f in findings:
        if f.kind != PII and f.start is not None and f.end is not None:
            moved.append(f.model_copy(update={
                "start": _moved(f.start, replaced, start=True), "end": _moved(f.end, replaced, start=False),
                "metadata": {**f.metadata, EXTRACTED_START: f.start, EXTRACTED_END: f.end}}))
    unplaced = [f for f in findings if f.start is None or f.end is None]
    return Redacted(text="".join(parts), findings=moved + unplaced, spans=len(groups))


def _moved(offset: int, replaced: Sequence[tuple[int, int, str]], *, start: bool) -> int:
    """Where `offset` of the original text is in the redacted one; inside a replaced span, at the
    replacement's start (for a start) or end (for an end), so that a span covers it whole."""
    shift = 0
    for first, last, replacement in replaced:
        if offset <= first:
            break
        if offset < last:
            return first + shift + (0 if start else len(replacement))
        shift += len(replacement) - (last - first)
    return offset + shift


def as_extracted(findings: Iterable[Finding]) -> list[Finding]:
    """Findings that `redact_spans` moved, back at their offsets in the extracted text (to redact
    the same text again, on a retry that finds it not yet rewritten); others as they are."""
    out = []
    for f in findings:
        if EXTRACTED_START in f.metadata and EXTRACTED_END in f.metadata:
            f = f.model_copy(update={"start": f.metadata[EXTRACTED_START], "end": f.metadata[EXTRACTED_END]})
        out.append(f)
    return out


class Sweeper:
    """Replaces every occurrence of the values found, as a whole (not inside a longer word:
    a PERSON "Al" does not touch "Also"), by `<TYPE>` in any text or JSON-like value.

    `values` maps each value to its type; the longest value wins where two overlap (a whole
    card number before a phone number inside it). Values that are blank are ignored."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.types = {v: t for v, t in values.items() if v.strip()}
        alternatives = [self._pattern(v) for v in sorted(self.types, key=len, reverse=True)]
        self._regex = re.compile("|".join(alternatives)) if alternatives else None

    @staticmethod
    def _pattern(value: str) -> str:
        # A word boundary only where the value itself starts or ends with a word character.
        before = r"(?<!\w)" if re.match(r"\w", value[0]) else ""
        after = r"(?!\w)" if re.match(r"\w", value[-1]) else ""
        return before + re.escape(value) + after

    def __bool__(self) -> bool:
        return self._regex is not None

    def text(self, text: str) -> str:
        """`text` with every value replaced."""
        if self._regex is None or not text:
            return text
        return self._regex.sub(lambda m: token(self.types[m.group(0)]), text)

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string in it swept (dictionary keys are ours: kept)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


class RedactionIncompleteError(InvalidObjectError):
    """Redaction is on and part of the object's text was not scanned within the scan step's time
    budget: its text cannot be stored unredacted, so the object fails with this reason (not
    retried: a retry would run out of time at the same place)."""
