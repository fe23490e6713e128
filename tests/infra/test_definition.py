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
            retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
            assert set(RETRYABLE_ERROR_NAMES) <= retried, name
            assert all(r["MaxAttempts"] >= 1 and r["BackoffRate"] >= 1 for r in state["Retry"])
            if "record_failure" not in name:
                assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"], name


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
