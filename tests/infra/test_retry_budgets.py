"""Every state machine, and every Distributed Map's child executions, can use all the retries
they are configured with inside the duration limit of their type (step_functions/budget.py)."""
from __future__ import annotations

import json

import pytest

from step_functions import backfill, definition
from step_functions.budget import LIMITS, child_processors, retry_waits, task_seconds, worst_case_seconds


def _machines(template_json: dict) -> list[tuple[str, str, dict]]:
    """(logical id, type, definition) of each deployed state machine (substitutions left as text)."""
    found = []
    for name, resource in template_json["Resources"].items():
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        props = resource["Properties"]
        text = props["DefinitionString"]
        if not isinstance(text, str):  # Fn::Join with tokens: the committed file is the same text
            text = definition.render() if not name.startswith("Backfill") else backfill.load()
        found.append((name, props.get("StateMachineType", "STANDARD"), json.loads(text)))
    return found


def test_every_state_machine_fits_its_retries_in_its_type_limit(template_json):
    machines = _machines(template_json)
    assert len(machines) >= 2
    for name, kind, asl in machines:
        assert worst_case_seconds(asl) <= LIMITS[kind], name


def test_every_distributed_map_child_fits_its_retries_in_its_execution_type_limit(template_json):
    children = [child for _, _, asl in _machines(template_json) for child in child_processors(asl)]
    assert children, "the backfill runs batches as child executions"
    for kind, processor in children:
        assert worst_case_seconds(processor) <= LIMITS[kind], (kind, worst_case_seconds(processor))


def test_the_budget_counts_every_attempt_and_capped_backoff():
    state = {"Type": "Task", "TimeoutSeconds": 10, "Retry": [
        {"ErrorEquals": ["A"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0},
        {"ErrorEquals": ["B"], "IntervalSeconds": 5, "MaxAttempts": 4, "BackoffRate": 2.0, "MaxDelaySeconds": 12},
    ]}
    assert retry_waits(state["Retry"][0]) == 1 + 2 + 4
    assert retry_waits(state["Retry"][1]) == 5 + 10 + 12 + 12
    assert task_seconds(state) == (1 + 3 + 4) * 10 + 7 + 39


def test_an_express_child_with_the_batch_retries_would_not_fit():
    """What the backfill had before: Express children with the same batch Task."""
    [(_, processor)] = child_processors(backfill.build())
    assert worst_case_seconds(processor) > LIMITS["EXPRESS"]


def test_a_task_without_a_timeout_has_no_budget():
    from step_functions.budget import UnboundedTask

    with pytest.raises(UnboundedTask):
        worst_case_seconds({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "x", "End": True}}})
