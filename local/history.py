"""What happened to each file, read from Step Functions execution histories.

Every Map iteration of the pipeline runs `<modality>: extract -> generate -> embed -> store`
(or `<modality>: record_failure_<step>` after a Catch). A Task state's time is
TaskStateEntered -> TaskStateExited; the events in between (TaskScheduled, TaskFailed, ...)
are linked by `previousEventId`, so each exit is walked back to its own entry even when the
iterations of a Map interleave.
https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from functions.common.constants import PIPELINE_STEPS, STEP_RECORD_FAILURE


@dataclass
class StepRun:
    """One Task state of one Map iteration."""

    step: str  # extract | generate | embed | store | record_failure
    entered: datetime
    exited: Optional[datetime] = None
    attempts: int = 0
    error: Optional[str] = None  # the error name of the last TaskFailed, when one was caught
    cause: Optional[str] = None
    failed_step: Optional[str] = None  # record_failure only: which step it records

    @property
    def seconds(self) -> Optional[float]:
        return None if self.exited is None else (self.exited - self.entered).total_seconds()

    @property
    def outcome(self) -> str:
        """succeeded | caught (the step failed, the Catch took over) | running."""
        if self.exited is None:
            return "running"
        return "caught" if self.error else "succeeded"


@dataclass
class Iteration:
    """One file's pass through its Map iteration in one execution."""

    execution: str
    bucket: str
    key: str
    version_id: Optional[str]
    modality: str
    steps: list[StepRun] = field(default_factory=list)

    def step(self, name: str) -> Optional[StepRun]:
        for run in self.steps:
            if run.step == name:
                return run
        return None

    @property
    def started(self) -> datetime:
        return min(s.entered for s in self.steps)

    @property
    def outcome(self) -> str:
        """succeeded | failed | running."""
        last = self.steps[-1]
        if last.exited is None:
            return "running"
        if last.step == STEP_RECORD_FAILURE:
            return "failed"
        return "succeeded" if last.step == PIPELINE_STEPS[-1] else "running"

    @property
    def failure(self) -> Optional[StepRun]:
        return next((s for s in self.steps if s.outcome == "caught"), None)


def _error_message(cause: Optional[str]) -> Optional[str]:
    """A Lambda error's Cause is JSON with errorMessage; anything else is returned as-is."""
    if not cause:
        return cause
    try:
        return str(json.loads(cause).get("errorMessage") or cause)
    except (ValueError, AttributeError):
        return cause


def _split_state(name: str) -> tuple[str, str, Optional[str]]:
    """'document: record_failure_extract' -> ('document', 'record_failure', 'extract')."""
    modality, _, step = name.partition(": ")
    if step.startswith(STEP_RECORD_FAILURE):
        return modality, STEP_RECORD_FAILURE, step[len(STEP_RECORD_FAILURE) + 1:] or None
    return modality, step, None


def iterations(execution: str, events: Iterable[dict[str, Any]]) -> list[Iteration]:
    """Group one execution's history into one Iteration per object, steps in order entered."""
    by_id: dict[int, dict[str, Any]] = {}
    runs: dict[int, tuple[Iteration, StepRun]] = {}  # TaskStateEntered id -> its run
    found: dict[tuple[str, str, Optional[str]], Iteration] = {}
    for event in sorted(events, key=lambda e: e["id"]):
        by_id[event["id"]] = event
        kind = event["type"]
        if kind == "TaskStateEntered":
            details = event["stateEnteredEventDetails"]
            modality, step, failed_step = _split_state(details["name"])
            if step not in PIPELINE_STEPS and step != STEP_RECORD_FAILURE:
                continue
            try:
                obj = json.loads(details.get("input") or "{}").get("object") or {}
            except ValueError:  # truncated input (over 256 KiB) never happens: only pointers cross states
                continue
            ident = (obj.get("bucket", ""), obj.get("key", ""), obj.get("version_id"))
            iteration = found.setdefault(ident, Iteration(execution, *ident, modality=modality))
            run = StepRun(step=step, entered=event["timestamp"], failed_step=failed_step)
            iteration.steps.append(run)
            runs[event["id"]] = (iteration, run)
        elif kind == "TaskStateExited":
            name = event["stateExitedEventDetails"]["name"]
            attempts, error, cause = 0, None, None
            previous = event.get("previousEventId")
            first_link = True
            while previous in by_id:
                prior = by_id[previous]
                if prior["type"] == "TaskScheduled":
                    attempts += 1
                elif prior["type"] in ("TaskFailed", "TaskTimedOut") and first_link:
                    details = prior.get("taskFailedEventDetails") or prior.get("taskTimedOutEventDetails") or {}
                    error, cause = details.get("error"), _error_message(details.get("cause"))
                if prior["type"] == "TaskStateEntered" and prior["stateEnteredEventDetails"]["name"] == name:
                    if previous in runs:
                        _, run = runs[previous]
                        run.exited, run.attempts, run.error, run.cause = event["timestamp"], attempts, error, cause
                    break
                first_link = False
                previous = prior.get("previousEventId")
    return list(found.values())


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of one execution (all pages)."""
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


def dispatched_objects(events: Iterable[dict[str, Any]]) -> list[tuple[str, str, Optional[str]]]:
    """The objects an execution was started with (its ExecutionStarted input)."""
    for event in events:
        if event["type"] == "ExecutionStarted":
            payload = json.loads(event["executionStartedEventDetails"].get("input") or "{}")
            return [(o["bucket"], o["key"], o.get("version_id"))
                    for value in payload.values() if isinstance(value, list) for o in value]
    return []
