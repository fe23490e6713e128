"""One batch execution, and one segment's child execution, stay within the 25,000-event history
quota in the worst case (step_functions/budget.py worst_case_events), and the planner's objects
per execution follows from the definition. Run with -s to see the figures."""
from __future__ import annotations

import copy

import pytest

from functions.common.constants import MAX_HISTORY_EVENTS
from functions.processing.staging.segments import MAX_SEGMENTS
from functions.streaming import executions
from step_functions import definition as asl
from step_functions.budget import (
    TASK_ATTEMPT_EVENTS,
    TASK_STATE_EVENTS,
    distributed_maps,
    worst_case_events,
)

BEFORE_OBJECTS = 100  # MAX_OBJECTS_PER_EXECUTION before the history budget sized it


def _inline_segments(definition: dict) -> dict:
    """The definition as it was: each long object's segments in an Inline Map."""
    before = copy.deepcopy(definition)
    for branch in before["States"]["Process batch"]["Branches"]:
        for objects in branch["States"].values():
            for name, state in objects["ItemProcessor"]["States"].items():
                if name.endswith("extract segments"):
                    state["ItemProcessor"]["ProcessorConfig"] = {"Mode": "INLINE"}
    return before


def test_a_batch_execution_and_a_segment_child_fit_the_history_quota_at_the_planned_sizes():
    definition = asl.build()
    before = asl.history_events(_inline_segments(definition), BEFORE_OBJECTS, MAX_SEGMENTS)
    after = asl.history_events(definition, executions.MAX_OBJECTS_PER_EXECUTION, MAX_SEGMENTS)
    print(f"\nworst-case history events (quota {MAX_HISTORY_EVENTS:,}), {MAX_SEGMENTS} segments per object:"
          f"\n  before: {BEFORE_OBJECTS} objects, inline segments: {before['execution']:,} per execution"
          f"\n  after:  {executions.MAX_OBJECTS_PER_EXECUTION} objects, distributed segments: "
          f"{after['execution']:,} per execution, {after['segment_child']:,} per segment child execution")

    assert before["execution"] > MAX_HISTORY_EVENTS  # the defect (issue 23, item 3)
    assert after["execution"] <= executions.HISTORY_EVENTS_BUDGET <= MAX_HISTORY_EVENTS
    assert 0 < after["segment_child"] <= MAX_HISTORY_EVENTS


def test_the_planner_cost_constants_are_the_definitions():
    """executions.py ships without step_functions/: its constants are pinned to the definition."""
    fixed, per_object = asl.history_cost(asl.build())
    assert (executions.EXECUTION_FIXED_EVENTS, executions.EXECUTION_EVENTS_PER_OBJECT) == (fixed, per_object)
    assert fixed + (executions.MAX_OBJECTS_PER_EXECUTION + 1) * per_object > executions.HISTORY_EVENTS_BUDGET \
        or executions.MAX_OBJECTS_PER_EXECUTION == 100


def test_every_segments_map_is_distributed_with_standard_children():
    maps = distributed_maps(asl.build())
    assert sorted(maps) == sorted(asl.segment_map_name(m) for m in asl.SEGMENTED_MODALITIES)
    for state in maps.values():
        assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}


def _task(retries: int, **more) -> dict:
    return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 1,
            "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": retries}] if retries else [], **more}


def test_a_task_counts_three_events_per_attempt_between_entered_and_exited():
    machine = {"StartAt": "T", "States": {"T": _task(4, End=True)}}
    assert worst_case_events(machine, {}) == 2 + TASK_STATE_EVENTS + TASK_ATTEMPT_EVENTS * 5 == 19


def test_an_inline_map_counts_every_iteration_and_a_distributed_one_its_map_run_only():
    body = {"StartAt": "T", "States": {"T": _task(0, End=True)}}
    inline = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": body, "End": True}}}
    distributed = copy.deepcopy(inline)
    distributed["States"]["M"]["ItemProcessor"]["ProcessorConfig"] = {"Mode": "DISTRIBUTED"}

    assert worst_case_events(inline, {"M": 10}) == 2 + 4 + 10 * (2 + 5)
    assert worst_case_events(distributed, {}) == 2 + 4 + 2
    assert worst_case_events(distributed["States"]["M"]["ItemProcessor"], {}) == 2 + 5  # one child


def test_the_longest_of_choice_and_catch_paths_counts():
    machine = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "A"}], "Default": "P"},
        "A": _task(1, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "R"}], Next="P"),
        "R": _task(2, Next="P"),
        "P": {"Type": "Parallel", "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}] * 2,
              "End": True}}}
    # Choice 2, A 2+3*2, R 2+3*3, Parallel 4 + 2 Pass branches of 2
    assert worst_case_events(machine, {}) == 2 + 2 + 8 + 11 + 8


def test_an_inline_map_without_an_item_count_is_refused():
    inline = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {
        "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "End": True}}}
    with pytest.raises(KeyError, match="M"):
        worst_case_events(inline, {})
