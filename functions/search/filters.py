"""What a search may return: the caller's filters and its scope, as SQL conditions every leg adds."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions.common.constants import DB_SCHEMA, MODALITIES, TABLE_FINDINGS

# Finding types and labels are upper-case identifiers (Presidio's entity names, NudeNet's classes).
_FLAG_NAME = r"^[A-Z][A-Z0-9_]{0,63}$"
# Taxonomy label ids (functions/taxonomy/taxonomy.py Label.id).
_LABEL_ID = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class Filters(BaseModel):
    """What the caller narrows the search to (all optional; combined with AND).

    modalities: any of MODALITIES; key_prefix: object keys starting with it; time_from /
    time_to (seconds): chunks of audio and video whose time range overlaps [time_from,
    time_to] (chunks without a time range are left out when either is set); uploaded_since /
    uploaded_until: when the pipeline stored the object version (objects.created_at, minutes
    after its upload: the S3 upload time itself is not stored); pipeline_version: results of
    that pipeline version only; pii_types: objects with personal data of any of these types
    (EMAIL_ADDRESS, CREDIT_CARD, ... : pipeline.findings); moderation_labels: objects flagged
    with any of these moderation labels; labels: objects whose best taxonomy label (rank 1 in
    pipeline.object_labels, any taxonomy) is one of these or under one of them (a parent
    label finds its children's objects).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    modalities: Optional[tuple[str, ...]] = None
    key_prefix: Optional[str] = Field(default=None, min_length=1, max_length=1024)
    time_from: Optional[float] = Field(default=None, ge=0)
    time_to: Optional[float] = Field(default=None, ge=0)
    uploaded_since: Optional[datetime] = None
    uploaded_until: Optional[datetime] = None
    pipeline_version: Optional[str] = Field(default=None, min_length=1, max_length=32)
    pii_types: Optional[tuple[Annotated[str, Field(pattern=_FLAG_NAME)], ...]] = Field(default=None, min_length=1,
                                                                                       max_length=20)
    moderation_labels: Optional[tuple[Annotated[str, Field(pattern=_FLAG_NAME)], ...]] = Field(
        default=None, min_length=1, max_length=20)
    labels: Optional[tuple[Annotated[str, Field(pattern=_LABEL_ID)], ...]] = Field(default=None, min_length=1,
                                                                                  max_length=20)

    @model_validator(mode="after")
    def _consistent(self) -> Filters:
        if self.modalities is not None:
            unknown = set(self.modalities) - set(MODALITIES)
            if unknown or not self.modalities:
                raise ValueError(f"modalities must be a non-empty subset of {list(MODALITIES)}")
        if self.time_from is not None and self.time_to is not None and self.time_to < self.time_from:
            raise ValueError("time_to must not be before time_from")
        if self.uploaded_since and self.uploaded_until and self.uploaded_until < self.uploaded_since:
            raise ValueError("uploaded_until must not be before uploaded_since")
        return self


@dataclass(frozen=True)
class Scope:
    """What the caller may read: object keys in these buckets (None: every bucket; the local
    CLI) and, when given, under one of these key prefixes."""

    buckets: Optional[tuple[str, ...]] = None
    key_prefixes: Optional[tuple[str, ...]] = None


# Each optional filter and the condition it adds (its value is the parameter of the same name).
_FILTER_CONDITIONS = (
    ("modalities", "o.modality = ANY(%(modalities)s)"),
    ("key_prefix", "starts_with(o.key, %(key_prefix)s)"),  # starts_with: no LIKE escaping of '%' and '_'
    ("time_from", "ch.time_end >= %(time_from)s"),  # chunks overlapping the range
    ("time_to", "ch.time_start <= %(time_to)s"),
    ("uploaded_since", "o.created_at >= %(uploaded_since)s"),
    ("uploaded_until", "o.created_at <= %(uploaded_until)s"),
    ("pipeline_version", "o.pipeline_version = %(pipeline_version)s"),
    # pipeline.findings (migrations/V007): its (kind, type, object_id) index answers these.
    ("pii_types", f"EXISTS (SELECT 1 FROM {DB_SCHEMA}.{TABLE_FINDINGS} f WHERE f.object_id = o.id AND f.kind = 'pii'"
                  " AND f.type = ANY(%(pii_types)s))"),
    ("moderation_labels", f"EXISTS (SELECT 1 FROM {DB_SCHEMA}.{TABLE_FINDINGS} f WHERE f.object_id = o.id"
                          " AND f.kind = 'moderation' AND f.type = ANY(%(moderation_labels)s))"),
    # pipeline.object_labels (migrations/V008)
    ("labels", f"EXISTS (SELECT 1 FROM {DB_SCHEMA}.object_labels l WHERE l.object_id = o.id"
               " AND l.rank = 1 AND l.path && %(labels)s::text[])"),
)


def filter_sql(filters: Filters, scope: Scope) -> tuple[str, dict[str, Any]]:
    """The WHERE conditions on `o` (objects) and `ch` (chunks) for the filters and the scope."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    if scope.buckets is not None:
        parts.append("o.bucket = ANY(%(scope_buckets)s)")
        params["scope_buckets"] = list(scope.buckets)
    if scope.key_prefixes is not None:
        ors = [f"starts_with(o.key, %(scope_prefix_{i})s)" for i in range(len(scope.key_prefixes))] or ["false"]
        parts.append("(" + " OR ".join(ors) + ")")
        params.update({f"scope_prefix_{i}": p for i, p in enumerate(scope.key_prefixes)})
    for name, condition in _FILTER_CONDITIONS:
        value = getattr(filters, name)
        if value is not None:
            parts.append(condition)
            params[name] = list(value) if isinstance(value, (tuple, list, set, frozenset)) else value
    parts.append("o.status = 'succeeded'")
    return " AND ".join(parts), params
