"""The plain reprocessing logic (functions/reprocess/) shared by the DAGs and the batch Lambda."""
from __future__ import annotations

from types import SimpleNamespace

import pytest


@pytest.fixture(scope="module")
def core():
    from functions.reprocess.cost import estimate_cost_usd
    from functions.reprocess.distributed import run_execution_name
    from functions.reprocess.listing import select
    from functions.reprocess.params import RunParams
    from functions.reprocess.plan import execution_name, plan
    from functions.reprocess.tally import Tally

    return SimpleNamespace(estimate_cost_usd=estimate_cost_usd, run_execution_name=run_execution_name, select=select,
                           RunParams=RunParams, execution_name=execution_name, plan=plan, Tally=Tally)


def _ref(core, key: str, version: str | None = "v1", size: int = 10):
    from functions.common.events import ObjectRef
    from functions.streaming.classify import classify

    return ObjectRef(bucket="bucket-a", key=key, version_id=version, size=size, modality=classify(key))


def test_execution_name_depends_only_on_the_objects_and_version(core):
    a, b = _ref(core, "a.jpg"), _ref(core, "b.txt")

    name = core.execution_name([a, b], "2026.11.1")

    assert name == core.execution_name([b, a], "2026.11.1")
    assert name != core.execution_name([a, b], "2026.12.0")
    assert len(name) <= 80 and name.replace("-", "").replace("_", "").isalnum()


def test_plan_cuts_large_sets_into_executions_within_the_history_budget(core):
    from functions.streaming.executions import MAX_OBJECTS_PER_EXECUTION

    refs = [_ref(core, f"k/{i:04d}.txt") for i in range(250)]

    planned = core.plan(refs, "v")

    # 55 objects: the most whose worst-case history (402 events each with the scan step) stays
    # within the 25,000-event quota (issue 23)
    assert MAX_OBJECTS_PER_EXECUTION == 55
    assert [len(execution_input.text) for _, execution_input in planned] == [55, 55, 55, 55, 30]
    assert [name for name, _ in planned] == [name for name, _ in core.plan(list(reversed(refs)), "v")]


def test_listing_entries_that_are_not_current_or_are_folders_are_skipped(core):
    params = core.RunParams(bucket="bucket-a", pipeline_version="v")
    tally = core.Tally()
    entries = [
        {"Key": "a.jpg", "VersionId": "2", "IsLatest": True, "Size": 1, "ETag": '"e"'},
        {"Key": "a.jpg", "VersionId": "1", "IsLatest": False, "Size": 1},
        {"Key": "folder/", "VersionId": "null", "IsLatest": True, "Size": 0},
        {"Key": "plain.txt", "VersionId": "null", "IsLatest": True, "Size": 3},
    ]

    kept = core.select("bucket-a", entries, params, tally)

    assert [(r.key, r.version_id, r.etag) for r in kept] == [("a.jpg", "2", "e"), ("plain.txt", None, None)]


@pytest.mark.parametrize("values, field", [
    ({"bucket": "", "pipeline_version": "v"}, "bucket"),
    ({"bucket": "b-1", "pipeline_version": ""}, "pipeline_version"),
    ({"bucket": "b-1", "pipeline_version": "v", "modalities": ["hologram"]}, "modalities"),
    ({"bucket": "b-1", "pipeline_version": "v", "max_objects": 0}, "max_objects"),
    ({"bucket": "b-1", "pipeline_version": "v", "modified_since": "yesterday"}, "modified_since"),
])
def test_bad_params_name_the_field(core, values, field):
    with pytest.raises(ValueError, match=field):
        core.RunParams.from_mapping(values)


def test_cost_estimate_grows_with_count_and_media_size(core):
    small = core.estimate_cost_usd({"video": 10}, {"video": 10 * 1024 ** 2})
    large = core.estimate_cost_usd({"video": 10}, {"video": 10 * 1024 ** 3})

    assert 0 < small["total"] < large["total"]


def test_execution_names_stay_the_same_across_releases(core):
    """A re-sent batch (and a retried DAG start task) relies on StartExecution's name
    idempotency, also across a deploy: the same inputs must keep giving these exact names."""
    a = _ref(core, "a.jpg")
    b = _ref(core, "docs/b.txt", version=None)
    refs = [_ref(core, f"k{i}.txt") for i in range(5)]

    assert core.execution_name([a, b], "2026.11.1") == "rp-2026_11_1-3eeb347bd8dd2561c8967e7fa1f71ad1cc25a88c3b51fed6"
    assert core.execution_name([a, b], "2026.11.1", {("bucket-a", "docs/b.txt", ""): "1767225600000000"}) == (
        "rp-2026_11_1-a1bf7a3d394cdcf26cd8a64b2cf4ec12d48e8d7cb6a0794f")
    assert core.execution_name([a], "release/2026 11:26#hot fix" * 2) == (
        "rp-release_2026_11_26_hot_fixre-36992fe1def94a46555879095da73494bb02371eebc2493c")
    assert [name for name, _ in core.plan(refs, "v1", max_objects=2)] == [
        "rp-v1-cda377d221d8963d0ed40b6fa06f522d4d7438242ee032e9",
        "rp-v1-a3a8eb0c0150d795be1e825eef630bdd08b020aa2259bfc5",
        "rp-v1-82d2059ce9a211f6f2a95ee959785b68d6267d500cc27578",
    ]
    assert core.run_execution_name("multimodal_reprocess", "manual__2026-01-01T00:00:00+00:00") == (
        "af-multimodal_reprocess-ded40fe801865d088efdd98802a48cbfbfc8d8918aa77efa")
    assert core.run_execution_name("a very long dag id with spaces and.dots" * 2, "scheduled__x") == (
        "af-a_very_long_dag_id_with_spac-d083f0b17bf668768b12f6149977e08262b81750d96cca12")
