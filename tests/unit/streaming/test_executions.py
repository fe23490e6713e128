"""Execution planning: dedupe, deterministic names, size-bounded chunks."""
from __future__ import annotations

import re

from functions.common.constants import MAX_EXECUTION_NAME
from functions.common.events import ObjectRef
from functions.streaming.executions import MAX_EXECUTION_INPUT_BYTES, dedupe, execution_name, plan_executions
from functions.streaming.msk_batch import Coordinates, DecodedRecord, decode_batch

NAME_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")


def _record(offset, key="k.jpg", version="v1", seq="01", partition=0, modality="image"):
    ref = ObjectRef(bucket="bkt", key=key, version_id=version, size=1, sequencer=seq, modality=modality)
    return DecodedRecord(Coordinates("t", partition, offset), ref)


def test_same_batch_gives_same_names_in_any_order(load_event):
    records = decode_batch(load_event("msk_batch.json")).records
    a = plan_executions(records, "v1.2.0")
    b = plan_executions(list(reversed(records)), "v1.2.0")
    assert [p.name for p in a] == [p.name for p in b]
    assert a[0].input_json() == b[0].input_json()


def test_names_change_with_pipeline_version_and_offsets():
    coords = [Coordinates("t", 0, 1), Coordinates("t", 0, 2)]
    assert execution_name(coords, "v1") != execution_name(coords, "v2")
    assert execution_name(coords, "v1") != execution_name(coords[:1], "v1")


def test_names_are_short_and_use_allowed_characters_only():
    for version in ("", "v1.2.3", "release/2026 11:26#hot fix" * 5):
        name = execution_name([Coordinates("topic.with.dots", 7, 123456789)], version)
        assert len(name) <= MAX_EXECUTION_NAME
        assert NAME_CHARS.match(name), name


def test_identical_refs_in_a_batch_are_processed_once(load_event):
    batch = decode_batch(load_event("msk_batch.json"))
    [planned] = plan_executions(batch.records, "v1")
    assert len(planned.input.image) == 1 and len(planned.input.video) == 1 and len(planned.input.text) == 1
    # the duplicate's offset is still covered by the name
    assert sorted(c.offset for c in planned.coordinates) == [7, 8, 15, 16]


def test_unversioned_duplicates_keep_the_latest_write():
    kept = dedupe([_record(1, version=None, seq="00A1"), _record(2, version=None, seq="00B0"), _record(3, version=None, seq="009F")])
    [(ref, coords)] = kept
    assert ref.sequencer == "00B0" and len(coords) == 3


def test_big_batches_are_cut_below_the_payload_limit():
    long_key = "deep/" + "x" * 1000 + ".jpg"
    records = [_record(i, key=f"{long_key}{i}", version=f"v{i}") for i in range(500)]
    planned = plan_executions(records, "v1")
    assert len(planned) > 1
    assert sum(len(p.input.image) for p in planned) == 500
    for p in planned:
        assert len(p.input_json().encode("utf-8")) <= MAX_EXECUTION_INPUT_BYTES
        assert p.input.batch_id == p.name
    assert len({p.name for p in planned}) == len(planned)


def test_object_count_per_execution_is_capped():
    records = [_record(i, key=f"k{i}.txt", modality="text") for i in range(250)]
    planned = plan_executions(records, "v1", max_objects=100)
    assert [len(p.input.text) for p in planned] == [100, 100, 50]


def test_names_stay_the_same_across_releases():
    """Redelivered batches rely on StartExecution's name idempotency, also across a deploy:
    the same coordinates and pipeline version must keep giving these exact names."""
    coords = [Coordinates("pipeline-objects", 3, 41), Coordinates("pipeline-objects", 0, 7)]
    records = [_record(i, key=f"k{i}.txt", partition=i % 2, modality="text") for i in range(5)]

    assert execution_name(coords, "2026.11.1") == "2026_11_1-2e5cf95837c5d40a78e20a8bc3951cc998b02bc61dc33a6ac92be9dec526908c"
    assert execution_name(coords, "") == "batch-b387304b59967d929b9a7f958253e6fa44e6206d4f081917af62298d21ee1ec9"
    assert execution_name(coords, "release/2026 11:26#hot fix") == (
        "release_2026_11-67a787e84e435474ef2397176c3c56b4b97b024a7b4760899b2a6ded41bbdec9")
    assert [p.name for p in plan_executions(records, "v1", max_objects=2)] == [
        "v1-27b8d95613eeef6761dd87105303cd0adec842cf0e56d28766b2b9bc9efbc0ae",
        "v1-1d5d2bcc1dd5f7376968e3724e3bca23e7ac2983d8f9618ee6aca1aa692c712d",
        "v1-66462a1d75042940ca7812ce28ec4c2d0fcb27a2718fb912d9270e648b4d1a39",
    ]


def test_objects_per_execution_are_bounded_by_the_history_budget():
    """MAX_OBJECTS_PER_EXECUTION follows from the worst-case history of one execution
    (pinned to the definition in tests/infra/test_history_budget.py)."""
    from functions.streaming.executions import (
        EXECUTION_EVENTS_PER_OBJECT,
        EXECUTION_FIXED_EVENTS,
        HISTORY_EVENTS_BUDGET,
        MAX_OBJECTS_PER_EXECUTION,
    )

    records = [_record(i, key=f"k{i}.pdf", modality="document") for i in range(2 * MAX_OBJECTS_PER_EXECUTION + 1)]
    planned = plan_executions(records, "v1")

    assert [len(p.input.document) for p in planned] == [MAX_OBJECTS_PER_EXECUTION, MAX_OBJECTS_PER_EXECUTION, 1]
    assert EXECUTION_FIXED_EVENTS + MAX_OBJECTS_PER_EXECUTION * EXECUTION_EVENTS_PER_OBJECT <= HISTORY_EVENTS_BUDGET
