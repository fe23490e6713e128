"""The plain reprocessing logic (functions/reprocess/core.py) shared by the DAGs and the batch Lambda."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def core():
    from functions.reprocess import core

    return core


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


def test_plan_cuts_large_sets_into_executions_of_at_most_100_objects(core):
    refs = [_ref(core, f"k/{i:04d}.txt") for i in range(250)]

    planned = core.plan(refs, "v")

    assert [len(execution_input.text) for _, execution_input in planned] == [100, 100, 50]
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
