"""What a reprocessing run covers: its parameters, validated (RunParams)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Optional

from functions.common.constants import MODALITIES, UNSUPPORTED


@dataclass(frozen=True)
class RunParams:
    """What to reprocess. Validated by the DAG's Params; `from_mapping` re-checks the types."""

    bucket: str
    pipeline_version: str
    prefix: str = ""
    modified_since: Optional[datetime] = None
    modified_until: Optional[datetime] = None
    modalities: tuple[str, ...] = MODALITIES
    dry_run: bool = False
    max_objects: Optional[int] = None
    # Also send objects whose latest failure a retry cannot fix (see `core.retry_can_fix`).
    include_failed: bool = False

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> RunParams:
        """Build from DAG params. Raises ValueError naming the bad field."""
        bucket = (values.get("bucket") or "").strip()
        version = (values.get("pipeline_version") or "").strip()
        if not bucket:
            raise ValueError("bucket: required")
        if not version:
            raise ValueError("pipeline_version: required")
        modalities = tuple(values.get("modalities") or MODALITIES)
        unknown = set(modalities) - set(MODALITIES) - {UNSUPPORTED}
        if unknown:
            raise ValueError(f"modalities: unknown {sorted(unknown)}")
        max_objects = values.get("max_objects")
        if max_objects is not None and int(max_objects) < 1:
            raise ValueError("max_objects: must be at least 1 (or empty for no limit)")
        since, until = parse_datetime(values.get("modified_since"), "modified_since"), parse_datetime(values.get("modified_until"), "modified_until")
        if since and until and since >= until:
            raise ValueError("modified_since: must be before modified_until")
        return cls(
            bucket=bucket, pipeline_version=version, prefix=values.get("prefix") or "",
            modified_since=since, modified_until=until, modalities=modalities,
            dry_run=bool(values.get("dry_run")), max_objects=int(max_objects) if max_objects is not None else None,
            include_failed=bool(values.get("include_failed")),
        )


def parse_datetime(value: Any, name: str) -> Optional[datetime]:
    """An aware datetime from a datetime or an ISO 8601 string (UTC when it names no zone);
    None for None or "". Raises ValueError naming `name` for anything else."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"{name}: not an ISO 8601 date-time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
