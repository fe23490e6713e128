"""Per-stage progress of a local run: one bar per stage a file passes through.

uploaded -> in Kafka (the forwarder published it) -> dispatched (an execution was started
with it) -> extract / scan / generate / embed finished (TaskStateExited in the execution history) ->
stored or failed (the object's row in PostgreSQL, so a line never says fewer stored than the
database holds). Counts come from what the stand-ins report, never from a timer.

Chunks, for long objects: extracted (the staged extract manifests and segments), embedded (the
staged embedding pages), stored (rows in PostgreSQL), with the embedding rate and an estimate
of the time left for what is extracted so far (`set_chunks`).
"""
from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Optional

STAGES = ("uploaded", "in Kafka", "dispatched", "extract", "scan", "generate", "embed", "store", "failed")
_LABELS = {
    "uploaded": "uploaded to S3",
    "in Kafka": "in Kafka",
    "dispatched": "dispatched (execution)",
    "extract": "extract finished",
    "scan": "scan finished",
    "generate": "generate finished",
    "embed": "embed finished",
    "store": "stored (PostgreSQL)",
    "failed": "failure recorded",
}
# Stages read from the database: a line is written as soon as they move (the run polls the
# database twice a second), so the last line of a killed run says what the database holds.
DB_STAGES = ("store", "failed")
DB_LINE_EVERY_S = 0.0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Rate:
    """Items per second over the last `window_s` seconds of samples (count, time)."""

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, count: int, now: float) -> None:
        self._samples.append((now, count))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()

    def per_second(self) -> Optional[float]:
        """None until two samples at least a second apart; 0.0 when nothing moved."""
        if len(self._samples) < 2:
            return None
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        return None if t1 - t0 < 1.0 else max(0, n1 - n0) / (t1 - t0)


def chunk_line(extracted: int, embedded: int, stored: int, rate: Optional[float]) -> str:
    """`chunks extracted E, embedded M, stored S; embedding R/s, about T left for the E extracted`."""
    line = f"chunks extracted {extracted}, embedded {embedded}, stored {stored}"
    left = extracted - embedded
    if rate is None:
        return line
    line += f"; embedding {rate:.1f}/s"
    if left > 0 and rate > 0:
        line += f", about {_duration(left / rate)} left to embed the {extracted} extracted"
    elif left > 0:
        line += f", {left} waiting"
    return line


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
        self._chunks: Optional[tuple[int, int, int]] = None  # extracted, embedded, stored
        self._model_calls = ""
        self._lock = threading.RLock()  # the database's counts come from a thread of their own
        self._chunk_rate = Rate()
        self._last_db_line = 0.0
        self._bars = {
            stage: tqdm(total=total, desc=_LABELS[stage].ljust(width), unit="file", position=i, leave=True,
                        file=self.stream, disable=not enabled or self.plain, dynamic_ncols=True,
                        bar_format="{desc} {bar} {n_fmt:>3}/{total_fmt} [{elapsed}]")
            for i, stage in enumerate(stages)
        }

        self._chunk_bar = tqdm(total=0, desc="chunks embedded".ljust(width), unit="chunk", position=len(stages),
                               leave=True, file=self.stream, disable=not enabled or self.plain, dynamic_ncols=True,
                               bar_format="{desc} {bar} {n_fmt:>3}/{total_fmt} {postfix}")

    def set(self, stage: str, count: int) -> None:
        """Move a stage's bar to `count` files (counts only grow). Thread-safe."""
        with self._lock:
            self._set(stage, count)

    def _set(self, stage: str, count: int) -> None:
        count = min(count, self.total)
        if count > self._counts[stage]:
            self._bars[stage].update(count - self._counts[stage])
            self._counts[stage] = count
            now = time.monotonic()
            if not self.plain:
                return
            if stage in DB_STAGES and now - self._last_db_line >= DB_LINE_EVERY_S:
                self._last_db_line = now
                self._write_line()
            elif now - self._last_line >= self.line_every_s:
                self._write_line()

    def set_chunks(self, extracted: int, embedded: int, stored: int, now: Optional[float] = None,
                   model_calls: str = "") -> None:
        """The chunk counts of this pass's objects (they may go down when a step is redone);
        `model_calls`: what the model calls of unfinished objects have answered so far (the
        progress of an object whose extraction is model calls: speech windows, OCR pages)."""
        with self._lock:
            self._set_chunks(extracted, embedded, stored, now, model_calls)

    def _set_chunks(self, extracted: int, embedded: int, stored: int, now: Optional[float], model_calls: str) -> None:
        now = time.monotonic() if now is None else now
        self._chunk_rate.add(embedded, now)
        changed = self._chunks != (extracted, embedded, stored) or model_calls != self._model_calls
        self._chunks = (extracted, embedded, stored)
        self._model_calls = model_calls
        if self._chunk_bar.disable or not changed:
            return
        self._chunk_bar.total = extracted
        self._chunk_bar.n = min(embedded, extracted)
        self._chunk_bar.set_postfix_str(self.chunk_summary() or "", refresh=True)

    def chunk_summary(self) -> Optional[str]:
        """The chunk line as it stands (None before any chunk count)."""
        if self._chunks is None:
            return None
        line = chunk_line(*self._chunks, self._chunk_rate.per_second())
        return f"{line}; {self._model_calls}" if self._model_calls else line

    def _write_line(self) -> None:
        self._last_line = time.monotonic()
        counts = ", ".join(f"{_LABELS[stage]} {n}/{self.total}" for stage, n in self._counts.items())
        chunks = self.chunk_summary()
        print(f"progress: {counts}" + (f"; {chunks}" if chunks else ""), file=self.stream, flush=True)

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self.plain:
            self._write_line()
        for bar in (*self._bars.values(), self._chunk_bar):
            bar.refresh()
        for bar in (*self._bars.values(), self._chunk_bar):
            bar.close()

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc: Optional[BaseException]) -> None:
        self.close()
