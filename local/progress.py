"""Per-stage progress of a local run: one bar per stage a file passes through.

uploaded -> in Kafka (the forwarder published it) -> dispatched (an execution was started
with it) -> extract / generate / embed / store finished (TaskStateExited in the execution
history) and, for files that failed, record_failure finished. Counts come from what the
stand-ins report, never from a timer.
"""
from __future__ import annotations

import sys
from typing import Iterable, Optional

STAGES = ("uploaded", "in Kafka", "dispatched", "extract", "generate", "embed", "store", "failed")
_LABELS = {
    "uploaded": "uploaded to S3",
    "in Kafka": "in Kafka",
    "dispatched": "dispatched (execution)",
    "extract": "extract finished",
    "generate": "generate finished",
    "embed": "embed finished",
    "store": "store finished",
    "failed": "failure recorded",
}


class StageProgress:
    """tqdm bars, one per stage, all with the same total (files in this pass)."""

    def __init__(self, total: int, stages: Iterable[str] = STAGES, enabled: bool = True):
        from tqdm import tqdm

        width = max(len(label) for label in _LABELS.values())
        self.total = total
        self._bars = {
            stage: tqdm(total=total, desc=_LABELS[stage].ljust(width), unit="file", position=i, leave=True,
                        file=sys.stderr, disable=not enabled, dynamic_ncols=True,
                        bar_format="{desc} {bar} {n_fmt:>3}/{total_fmt} [{elapsed}]")
            for i, stage in enumerate(stages)
        }

    def set(self, stage: str, count: int) -> None:
        """Move a stage's bar to `count` files (counts only grow)."""
        bar = self._bars[stage]
        count = min(count, self.total)
        if count > bar.n:
            bar.update(count - bar.n)

    def counts(self) -> dict[str, int]:
        return {stage: bar.n for stage, bar in self._bars.items()}

    def close(self) -> None:
        for bar in self._bars.values():
            bar.refresh()
        for bar in self._bars.values():
            bar.close()

    def __enter__(self) -> "StageProgress":
        return self

    def __exit__(self, *exc: Optional[BaseException]) -> None:
        self.close()
