"""Step Functions quotas in the local stand-in (local/sfn_quotas.py): moto's interpreter fails an
execution where AWS would: past 25,000 history events (States.Runtime), over 256 KiB of task
input (States.DataLimitExceeded, which States.ALL does not catch), a Distributed Map Run with
more failed children than it tolerates (States.ExceedToleratedFailureThreshold)."""
from __future__ import annotations

import json

import pytest

from functions.common.constants import MAX_HISTORY_EVENTS
from local import sfn_quotas
from step_functions.budget import worst_case_events

ROLE_ARN = "arn:aws:iam::123456789012:role/local-pipeline-states"


@pytest.fixture
def quotas(aws):
    """The quota patches, installed for this test unless the stand-in already installs them."""
    ours = not sfn_quotas.installed()
    sfn_quotas.install()
    yield aws
    if ours:
        sfn_quotas.uninstall()


def _each_item_passes(items_path: str = "$.items") -> dict:
    return {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": items_path, "ResultPath": None, "End": True,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Touch",
                          "States": {"Touch": {"Type": "Pass", "End": True}}}}}}


def _run(aws, wait_for_executions, definition: dict, execution_input: dict, name: str = "m") -> dict:
    sfn = aws.client("stepfunctions")
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE_ARN)["stateMachineArn"]
    sfn.start_execution(stateMachineArn=arn, name=f"{name}-1", input=json.dumps(execution_input))
    [execution] = wait_for_executions(sfn, arn, timeout_s=60)
    execution["events"] = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    return execution


def _lambda(aws, name: str, handler) -> str:
    from local import lambda_dispatch

    return lambda_dispatch.create_functions(aws.client("lambda"), aws.client("iam"), {name: handler})[name]


def test_the_real_history_quota_is_25000_events():
    assert MAX_HISTORY_EVENTS == 25_000
    assert sfn_quotas.history_cause(MAX_HISTORY_EVENTS) == "The execution reached the maximum number of history events (25000)."


def test_the_budget_counts_the_events_the_interpreter_writes(quotas, wait_for_executions):
    """The budget's count per state (step_functions/budget.py) against a real history."""
    definition = _each_item_passes()
    execution = _run(quotas, wait_for_executions, definition, {"items": [1, 2, 3, 4, 5]})

    assert execution["status"] == "SUCCEEDED"
    assert len(execution["events"]) == worst_case_events(definition, {"Each": 5}) == 26


def test_an_execution_past_the_history_quota_fails_with_states_runtime(quotas, wait_for_executions):
    definition = _each_item_passes()
    with sfn_quotas.history_limit(50):
        execution = _run(quotas, wait_for_executions, definition, {"items": list(range(20))})  # 86 events

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.Runtime"
    assert execution["cause"] == "The execution reached the maximum number of history events (50)."
    events = execution["events"]
    assert len(events) == 50 and events[-1]["type"] == "ExecutionFailed" and events[-1]["id"] == 50
    assert events[-1]["executionFailedEventDetails"]["error"] == "States.Runtime"


def test_an_execution_within_the_history_quota_is_untouched(quotas, wait_for_executions):
    with sfn_quotas.history_limit(26):  # exactly its 26 events: the last one closes it
        execution = _run(quotas, wait_for_executions, _each_item_passes(), {"items": [1, 2, 3, 4, 5]})

    assert execution["status"] == "SUCCEEDED" and len(execution["events"]) == 26


def test_each_distributed_child_has_a_history_quota_of_its_own(quotas, wait_for_executions):
    definition = _each_item_passes()
    definition["States"]["Each"]["ItemProcessor"]["ProcessorConfig"] = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    with sfn_quotas.history_limit(30):  # 40 children of 4 events each: 160 events inline
        execution = _run(quotas, wait_for_executions, definition, {"items": list(range(40))})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert [e["type"] for e in execution["events"]].count("MapRunSucceeded") == 1
    assert len(execution["events"]) == worst_case_events(definition, {}) == 8


def test_task_input_over_256_kib_fails_the_execution_and_states_all_does_not_catch_it(quotas, wait_for_executions):
    arn = _lambda(quotas, "quota-echo", lambda event, context: {"ok": True})
    definition = {"StartAt": "Call", "States": {
        "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": arn, "Payload": {"a.$": "$.big", "b.$": "$.big"}},
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Pass", "End": True}}}
    execution = _run(quotas, wait_for_executions, definition, {"big": "x" * 150_000})  # 300 kB after Parameters

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.DataLimitExceeded"
    assert "Caught" not in json.dumps(execution["events"], default=str)


def test_a_distributed_map_with_a_failed_child_fails_its_map_run_into_the_catch(quotas, wait_for_executions):
    def segment(event, context):
        if event["n"] == 1:
            raise ValueError("this segment is broken")
        return {"n": event["n"]}

    arn = _lambda(quotas, "quota-segment", segment)
    definition = {"StartAt": "Segments", "States": {
        "Segments": {"Type": "Map", "ItemsPath": "$.segments", "ItemSelector": {"n.$": "$$.Map.Item.Value"},
                     "ResultPath": None, "MaxConcurrency": 2,
                     "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                                       "StartAt": "Extract", "States": {"Extract": {
                                           "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                           "Parameters": {"FunctionName": arn, "Payload.$": "$"},
                                           "OutputPath": "$.Payload", "End": True}}},
                     "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Record"}],
                     "End": True},
        "Record": {"Type": "Pass", "End": True}}}
    execution = _run(quotas, wait_for_executions, definition, {"segments": [0, 1, 2]})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["output"])["error"]["Error"] == "States.ExceedToleratedFailureThreshold"
    assert [e["type"] for e in execution["events"]].count("MapRunFailed") == 1
