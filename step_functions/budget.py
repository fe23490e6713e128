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

from collections.abc import Mapping
from typing import Any

from functions.common import constants

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


# --- History events ------------------------------------------------------------------------
# A Standard execution's history holds at most 25,000 events; the one that would pass it fails
# the execution (States.Runtime, "The execution reached the maximum number of history events
# (25000)."), whatever its Catchers say.
# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-state-machine-executions
# An Inline Map's iterations are written into the history of the execution that runs the Map; a
# Distributed Map's iterations are child executions, each with a history (and quota) of its own,
# and the parent records only the Map Run's start and end.
# https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html
# https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html
# Event types, one per line of the counts below:
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html
MAX_HISTORY_EVENTS = constants.MAX_HISTORY_EVENTS

EXECUTION_EVENTS = 2  # ExecutionStarted, ExecutionSucceeded | ExecutionFailed | ExecutionTimedOut
# TaskStateEntered, TaskStateExited around the attempts (a caught failure leaves without Exited,
# counted anyway: this is an upper bound).
TASK_STATE_EVENTS = 2
# One attempt of a Task: TaskScheduled, TaskStarted, TaskSucceeded | TaskFailed | TaskTimedOut.
# A service integration (arn:aws:states:::lambda:invoke) writes the Task* events; a Task whose
# Resource is a Lambda ARN writes LambdaFunctionScheduled/Started/Succeeded|Failed|TimedOut,
# as many.
TASK_ATTEMPT_EVENTS = 3
# MapStateEntered, MapStateStarted, MapStateSucceeded | MapStateFailed, MapStateExited.
MAP_STATE_EVENTS = 4
MAP_ITERATION_EVENTS = 2  # MapIterationStarted, MapIterationSucceeded | MapIterationFailed
MAP_RUN_EVENTS = 2  # MapRunStarted, MapRunSucceeded | MapRunFailed (a Distributed Map's run)
# ParallelStateEntered, ParallelStateStarted, ParallelStateSucceeded | ParallelStateFailed,
# ParallelStateExited.
PARALLEL_STATE_EVENTS = 4
# ChoiceStateEntered/Exited, PassStateEntered/Exited, WaitStateEntered/Exited,
# SucceedStateEntered/Exited; FailStateEntered alone.
PLAIN_STATE_EVENTS = {"Choice": 2, "Pass": 2, "Wait": 2, "Succeed": 2, "Fail": 1}


def attempts(state: dict[str, Any]) -> int:
    """How many times a state with `Retry` can run: the first try plus every Retrier's MaxAttempts
    (each Retrier counts its own attempts, so errors that alternate use them all)."""
    return 1 + sum(int(r.get("MaxAttempts", 3)) for r in state.get("Retry", []))


def is_distributed(state: dict[str, Any]) -> bool:
    processor = state.get("ItemProcessor") or state.get("Iterator") or {}
    return processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"


def worst_case_events(definition: dict[str, Any], items_per_map: Mapping[str, int]) -> int:
    """Most history events one execution of `definition` (a state machine, or a Distributed Map's
    ItemProcessor: one child execution) can write: every Task uses all its retries, the longest
    path is taken at every Choice and Catch, every Map iteration does the same.

    `items_per_map` gives, by Map state name, how many items that Map iterates (an Inline Map's
    iterations count here, a Distributed Map's do not: budget its ItemProcessor apart, per child).
    Raises KeyError naming an Inline Map missing from it, ValueError on a loop.
    """
    return EXECUTION_EVENTS + _path_events(definition, items_per_map)


def _path_events(definition: dict[str, Any], items: Mapping[str, int]) -> int:
    states = definition["States"]

    def own(name: str, state: dict[str, Any]) -> int:
        kind = state["Type"]
        if kind == "Task":
            return TASK_STATE_EVENTS + TASK_ATTEMPT_EVENTS * attempts(state)
        # A retried Parallel or Map runs all of it again (counted whole per attempt: an upper bound).
        if kind == "Parallel":
            body = sum(_path_events(branch, items) for branch in state["Branches"])
            return attempts(state) * (PARALLEL_STATE_EVENTS + body)
        if kind == "Map":
            if is_distributed(state):
                return attempts(state) * (MAP_STATE_EVENTS + MAP_RUN_EVENTS)
            if name not in items:
                raise KeyError(f"no item count for the Inline Map {name!r}")
            processor = state.get("ItemProcessor") or state["Iterator"]
            per_item = MAP_ITERATION_EVENTS + _path_events(processor, items)
            return attempts(state) * (MAP_STATE_EVENTS + int(items[name]) * per_item)
        return PLAIN_STATE_EVENTS[kind]

    def from_state(name: str, seen: frozenset[str]) -> int:
        if name in seen:  # a loop: only the history quota bounds it
            raise ValueError(f"state {name!r} loops; its history has no bound but the quota")
        state, seen = states[name], seen | {name}
        following = [state["Next"]] if "Next" in state else []
        if state["Type"] == "Choice":
            following = [c["Next"] for c in state.get("Choices", [])] + ([state["Default"]] if "Default" in state else [])
        following += [catcher["Next"] for catcher in state.get("Catch", [])]
        return own(name, state) + max((from_state(n, seen) for n in following), default=0)

    return from_state(definition["StartAt"], frozenset())


def distributed_maps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{state name: state} of every Distributed Map in `definition`, nested ones included."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        for branch in state.get("Branches", []):
            found.update(distributed_maps(branch))
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            if is_distributed(state):
                found[name] = state
            found.update(distributed_maps(processor))
    return found
