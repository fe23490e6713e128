"""What the scan step stages (`compliance.json`) for store: every finding of one object version,
where it is, which model found it, and the counts and flags the object row carries."""
from __future__ import annotations

import hashlib
import hmac
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

PII: Literal["pii"] = "pii"
MODERATION: Literal["moderation"] = "moderation"
Kind = Literal["pii", "moderation"]
STAGED_NAME = "compliance.json"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Producer(_Doc):
    id: str
    version: str


class Finding(_Doc):
    """One value of personal data in a chunk's text, one profane sentence in it (moderation
    PROFANITY: offsets, no value hash), or one unsafe label on a chunk's image.

    Offsets are characters of the chunk's stored text (end exclusive); page and time range are
    the chunk's. The value itself is never kept: `value_hash` is an HMAC-SHA256 of it (the
    deployment's salt; of its digits for an SSN, card or phone number, however written or said),
    enough to count distinct values or to look one up."""

    kind: Kind
    type: str
    chunk_ordinal: int
    score: float
    recognizer: str = ""
    start: Optional[int] = None
    end: Optional[int] = None
    page: Optional[int] = None
    time_start: Optional[float] = None
    time_end: Optional[float] = None
    value_hash: Optional[str] = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    model: Producer


class Redaction(_Doc):
    """With compliance.redact: which extraction the findings were made from (the sha-256 of the
    raw `extract.json`) and how many spans were replaced. Written before the scan step rewrites
    anything, so that a retry after a partial rewrite keeps these findings (the values are gone
    from the rewritten text) and finishes the rewrite; a new extraction has another digest."""

    source_sha256: str
    spans: int = 0


class ComplianceManifest(_Doc):
    findings: list[Finding] = Field(default_factory=list)
    models: dict[str, Producer] = Field(default_factory=dict)
    unavailable: list[str] = Field(default_factory=list)  # roles not deployed: nothing was looked for
    timings: dict[str, float] = Field(default_factory=dict)
    # Chunk texts not sent to the pii model because the step's time budget was spent (first in
    # ordinal order are scanned); 0: every text was scanned.
    not_scanned: int = 0
    first_not_scanned: Optional[int] = None
    redaction: Optional[Redaction] = None

    def counts(self) -> dict[str, dict[str, int]]:
        """{"pii": {type: findings}, "moderation": {label: findings}}."""
        out: dict[str, dict[str, int]] = {PII: {}, MODERATION: {}}
        for f in self.findings:
            out[f.kind][f.type] = out[f.kind].get(f.type, 0) + 1
        return out

    def flags(self) -> list[str]:
        """"pii:<TYPE>" and "moderation:<LABEL>" for every type and label found, sorted."""
        return sorted({f"{f.kind}:{f.type}" for f in self.findings})

    def summary(self) -> dict[str, Any]:
        """What objects.compliance holds (NULL there: the object was never scanned)."""
        distinct: dict[str, int] = {}
        seen: set[tuple[str, str]] = set()
        for f in self.findings:
            if f.kind == PII and f.value_hash and (f.type, f.value_hash) not in seen:
                seen.add((f.type, f.value_hash))
                distinct[f.type] = distinct.get(f.type, 0) + 1
        out: dict[str, Any] = {"counts": self.counts(), "distinct_values": distinct, "flags": self.flags(),
                               "models": {role: m.model_dump() for role, m in self.models.items()},
                               "unavailable": sorted(self.unavailable)}
        if self.not_scanned:  # the object is not reported as clean past this chunk
            out["not_scanned"] = {"chunks": self.not_scanned, "from_ordinal": self.first_not_scanned}
        if self.redaction is not None:
            out["redacted"] = {"spans": self.redaction.spans}
        return out


def value_hash(salt: str, finding_type: str, value: str) -> str:
    """HMAC-SHA256 (hex, 32 digits) of a found value, keyed by the deployment's salt, the type
    included so that one string found as two types hashes apart."""
    return hmac.new(salt.encode(), f"{finding_type}\x00{value}".encode(), hashlib.sha256).hexdigest()[:32]
