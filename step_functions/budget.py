"""The longest an execution can run when every Task times out and every Retry is used up.

A state machine type bounds an execution's duration (Express: 5 minutes; Standard: one year;
https://docs.aws.amazon.com/step-functions/latest/dg/choosing-workflow-type.html), and a
Distributed Map's child executions are bounded by their own ExecutionType. Retry settings that
cannot fit are silently cut short by that limit: a retry the design counts on never happens.
`worst_case_seconds` adds up, along the longest path, each Task's attempts (its TimeoutSeconds,
the first try plus every Retrier's MaxAttempts) and the waits between them (IntervalSeconds x
BackoffRate^n, capped by MaxDelaySeconds; jitter only shortens them). Map and Parallel states
count one iteration / the longest branch (the limit applies per execution; a Map's items run
side by side up to its MaxConcurrency).
"""
from __future__ import annotations

from typing import Any

EXPRESS_LIMIT_SECONDS = 5 * 60
STANDARD_LIMIT_SECONDS = 365 * 24 * 3600
LIMITS = {"EXPRESS": EXPRESS_LIMIT_SECONDS, "STANDARD": STANDARD_LIMIT_SECONDS}


class UnboundedTask(ValueError):
    """A Task without TimeoutSeconds can run as long as the execution: no budget to compute."""


def retry_waits(retrier: dict[str, Any]) -> float:
    """Seconds one Retrier waits in total when all its attempts are used."""
    interval = float(retrier.get("IntervalSeconds", 1))
    backoff = float(retrier.get("BackoffRate", 2.0))
    cap = retrier.get("MaxDelaySeconds")
    total = 0.0
    for attempt in range(int(retrier.get("MaxAttempts", 3))):
        wait = interval * backoff**attempt
        total += min(wait, float(cap)) if cap is not None else wait
    return total


def task_seconds(state: dict[str, Any]) -> float:
    """Worst case of one Task state: every attempt times out, every Retrier is exhausted."""
    if "TimeoutSeconds" not in state:
        raise UnboundedTask(f"Task without TimeoutSeconds: {state.get('Comment', state.get('Resource'))}")
    retriers = state.get("Retry", [])
    attempts = 1 + sum(int(r.get("MaxAttempts", 3)) for r in retriers)
    return attempts * float(state["TimeoutSeconds"]) + sum(retry_waits(r) for r in retriers)


def worst_case_seconds(definition: dict[str, Any]) -> float:
    """Longest path through `definition` (a state machine or a Map's ItemProcessor)."""
    states = definition["States"]

    def from_state(name: str, seen: frozenset[str]) -> float:
        if name in seen:  # a loop: the limit, not this function, bounds it
            raise ValueError(f"state {name!r} loops; its budget is the execution limit")
        state, seen = states[name], seen | {name}
        kind = state["Type"]
        if kind == "Task":
            own = task_seconds(state)
        elif kind == "Wait":
            own = float(state.get("Seconds", 0))
        elif kind == "Parallel":
            own = max(worst_case_seconds(branch) for branch in state["Branches"])
        elif kind == "Map":
            processor = state.get("ItemProcessor") or state["Iterator"]
            distributed = processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
            # A distributed child runs in its own execution, under its own limit (checked apart).
            own = 0.0 if distributed else worst_case_seconds(processor)
        else:
            own = 0.0
        following = [state["Next"]] if "Next" in state else []
        if kind == "Choice":
            following = [c["Next"] for c in state.get("Choices", [])] + ([state["Default"]] if "Default" in state else [])
        for catcher in state.get("Catch", []):
            following.append(catcher["Next"])
        return own + max((from_state(n, seen) for n in following), default=0.0)

    return from_state(definition["StartAt"], frozenset())


def child_processors(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(execution type, ItemProcessor) of every Distributed Map in `definition`, nested included."""
    found = []
    for state in definition["States"].values():
        for branch in state.get("Branches", []):
            found.extend(child_processors(branch))
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            config = processor.get("ProcessorConfig", {})
            if config.get("Mode") == "DISTRIBUTED":
                found.append((config.get("ExecutionType", "STANDARD"), processor))
            found.extend(child_processors(processor))
    return found
