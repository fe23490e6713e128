"""Per-stage progress of a local run: one bar per stage a file passes through.

uploaded -> in Kafka (the forwarder published it) -> dispatched (an execution was started
with it) -> extract / generate / embed / store finished (TaskStateExited in the execution
history) and, for files that failed, record_failure finished. Counts come from what the
stand-ins report, never from a timer.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Optional

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
    """tqdm bars, one per stage, all with the same total (files in this pass).

    On a terminal the bars redraw in place. Elsewhere (CI logs, a pipe) stacked bars would print
    cursor escapes, so one plain line with every stage's count is written at most every
    `line_every_s` seconds, and once at the end.
    """

    def __init__(self, total: int, stages: Iterable[str] = STAGES, enabled: bool = True,
                 stream=None, line_every_s: float = 10.0):
        from tqdm import tqdm

        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.plain = enabled and not (hasattr(self.stream, "isatty") and self.stream.isatty())
        self.line_every_s = line_every_s
        self._last_line = time.monotonic()
        width = max(len(label) for label in _LABELS.values())
        self.total = total
        stages = tuple(stages)
        self._counts = dict.fromkeys(stages, 0)  # a disabled tqdm bar does not count
        self._bars = {
            stage: tqdm(total=total, desc=_LABELS[stage].ljust(width), unit="file", position=i, leave=True,
                        file=self.stream, disable=not enabled or self.plain, dynamic_ncols=True,
                        bar_format="{desc} {bar} {n_fmt:>3}/{total_fmt} [{elapsed}]")
            for i, stage in enumerate(stages)
        }

    def set(self, stage: str, count: int) -> None:
        """Move a stage's bar to `count` files (counts only grow)."""
        count = min(count, self.total)
        if count > self._counts[stage]:
            self._bars[stage].update(count - self._counts[stage])
            self._counts[stage] = count
            if self.plain and time.monotonic() - self._last_line >= self.line_every_s:
                self._write_line()

    def _write_line(self) -> None:
        self._last_line = time.monotonic()
        counts = ", ".join(f"{_LABELS[stage]} {n}/{self.total}" for stage, n in self._counts.items())
        print(f"progress: {counts}", file=self.stream, flush=True)

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def close(self) -> None:
        if self.plain:
            self._write_line()
        for bar in self._bars.values():
            bar.refresh()
        for bar in self._bars.values():
            bar.close()

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc: Optional[BaseException]) -> None:
        self.close()
