"""The committed ASL file is what step_functions.definition builds, and is well-formed."""
from __future__ import annotations

import json

from functions.common.constants import MODALITIES, UNSUPPORTED
from functions.common.errors import RETRYABLE_ERROR_NAMES
from step_functions import definition as asl


def test_committed_asl_matches_the_generator():
    assert json.loads(asl.ASL_PATH.read_text()) == asl.build()


def test_every_task_retries_named_errors_and_every_iteration_catches():
    definition = json.loads(asl.render())
    for branch in definition["States"]["Process batch"]["Branches"]:
        (map_state,) = branch["States"].values()
        for name, state in map_state["ItemProcessor"]["States"].items():
            if state["Type"] == "Choice":
                continue
            if state["Type"] == "Map":  # a long object's segments: the Map catches, each segment retries
                [(_, segment)] = state["ItemProcessor"]["States"].items()
                tasks = [(name, segment)]
            else:
                tasks = [(name, state)]
            for task_name, task in tasks:
                retried = {e for r in task["Retry"] for e in r["ErrorEquals"]}
                assert set(RETRYABLE_ERROR_NAMES) <= retried, task_name
                assert all(r["MaxAttempts"] >= 1 and r["BackoffRate"] >= 1 for r in task["Retry"])
            if "record_failure" not in name:
                assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"], name


def test_long_objects_of_media_and_documents_go_through_a_segments_map():
    definition = json.loads(asl.render(segment_concurrency=7))
    for branch, modality in zip(definition["States"]["Process batch"]["Branches"], (*MODALITIES, UNSUPPORTED)):
        states = branch["States"][asl.map_state_name(modality)]["ItemProcessor"]["States"]
        segments = states.get(asl.segment_map_name(modality))
        if modality not in ("video", "audio", "document"):
            assert segments is None, modality
            continue
        assert states[f"{modality}: extract"]["Next"] == f"{modality}: segmented?"
        assert states[f"{modality}: segmented?"]["Default"] == f"{modality}: scan"
        assert segments["MaxConcurrency"] == 7 and segments["ItemsPath"] == "$.segments"
        # each segment a child execution with a history of its own (25,000 events per execution)
        assert segments["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
        assert segments["ItemSelector"]["segment.$"] == "$$.Map.Item.Value"
        assert segments["Catch"][0]["ErrorEquals"] == ["States.ALL"]
        assert segments["ResultPath"] is None and segments["Next"] == f"{modality}: assemble segments"
        assert states[f"{modality}: assemble segments"]["Next"] == f"{modality}: scan"


def test_substitute_fills_every_placeholder_and_refuses_missing_ones():
    rendered = asl.render({"image": 3})
    values = {key: f"arn:aws:lambda:us-east-1:123456789012:function:{key}" for key in asl.FUNCTION_ARN_KEYS.values()}
    done = json.loads(asl.substitute(rendered, values))
    assert "${" not in json.dumps(done)
    assert done["States"]["Process batch"]["Branches"][0]["States"][asl.map_state_name("image")]["MaxConcurrency"] == 3
    try:
        asl.substitute(rendered, {})
    except KeyError as exc:
        assert "ExtractFunctionArn" in str(exc)
    else:
        raise AssertionError("missing substitutions must fail")


def test_a_map_per_modality_and_one_for_unsupported_objects():
    definition = asl.build()
    paths = [b["States"][asl.map_state_name(m)]["ItemsPath"]
             for b, m in zip(definition["States"]["Process batch"]["Branches"], (*MODALITIES, UNSUPPORTED))]
    assert paths == [f"$.{m}" for m in (*MODALITIES, UNSUPPORTED)]
