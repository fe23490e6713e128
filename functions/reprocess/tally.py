"""A reprocessing run's counts (Tally): kept by each page or batch, summed for the report."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from functions.common.events import ObjectRef

if TYPE_CHECKING:
    from functions.reprocess.core import Checked

# How many execution ARNs / errors / sample keys one Tally keeps.
KEEP = 25


@dataclass
class Tally:
    """Counts of one run, pushed to XCom and logged. `sent` counts objects, not executions."""

    listed: int = 0
    selected: int = 0
    up_to_date: int = 0
    stale: int = 0
    sent: int = 0
    already_sent: int = 0
    failed: int = 0
    executions_planned: int = 0
    executions_started: int = 0
    sample_keys: list[str] = field(default_factory=list)  # the first few stale keys, for the dry run's report
    stale_by_modality: dict[str, int] = field(default_factory=dict)
    stale_bytes_by_modality: dict[str, int] = field(default_factory=dict)
    execution_arns: list[str] = field(default_factory=list)  # the first few, for links
    errors: list[str] = field(default_factory=list)  # the first few
    truncated: bool = False  # max_objects reached before the listing ended
    gone: int = 0  # listed, then deleted before its current version could be read (batch path)
    held_back: int = 0  # failed with an error a retry cannot fix: not sent (see `core.retry_can_fix`)
    held_back_by_error: dict[str, int] = field(default_factory=dict)
    include_failed: bool = False  # the run sent failed objects whatever their error (echoed by each batch)

    def count_stale(self, refs: Iterable[ObjectRef]) -> None:
        for ref in refs:
            self.stale += 1
            self.stale_by_modality[ref.modality] = self.stale_by_modality.get(ref.modality, 0) + 1
            self.stale_bytes_by_modality[ref.modality] = self.stale_bytes_by_modality.get(ref.modality, 0) + ref.size

    def count_checked(self, checked: Checked) -> None:
        """Count one `stale` answer: the up-to-date refs, the stale ones and the held-back ones."""
        self.up_to_date += checked.up_to_date
        self.count_stale(checked.stale)
        for _, error in checked.held_back:
            self.held_back += 1
            self.held_back_by_error[error] = self.held_back_by_error.get(error, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v) for k, v in self.__dict__.items()}

    def merge(self, other: dict[str, Any], keep: int = KEEP) -> None:
        """Add another tally's counts (a batch's result, as from `as_dict`) to this one.

        Counters add up, per-modality maps add up per key, lists keep their first `keep` entries.
        """
        for name, value in other.items():
            if not hasattr(self, name):
                continue  # a field this version does not know: ignore, never fail the report
            mine = getattr(self, name)
            if isinstance(mine, bool):
                setattr(self, name, mine or bool(value))
            elif isinstance(mine, int):
                setattr(self, name, mine + int(value or 0))
            elif isinstance(mine, dict):
                for key, count in (value or {}).items():
                    mine[key] = mine.get(key, 0) + int(count)
            elif isinstance(mine, list):
                mine.extend(list(value or [])[: max(0, keep - len(mine))])
