"""The reconciliation and backfill DAGs, run by real Airflow against moto and PostgreSQL.

Given objects in a versioned bucket and result rows in pipeline.objects, when a DAG runs,
then only objects without a succeeded result for the pipeline version are sent, except
failures a retry cannot fix, which are counted unless the run includes them.
"""
from __future__ import annotations

import pytest

RECONCILE = "pipeline_reconcile"
BACKFILL = "pipeline_backfill"
RELABEL = "pipeline_relabel"
STALE_KEYS = ["audio/replaced.wav", "docs/new.pdf", "notes/old.txt", "photos/failed.png"]


@pytest.fixture
def mixed(world):
    """One up-to-date object and four stale ones (one per reason), plus a file we cannot process."""
    world.record("photos/fresh.jpg", world.put("photos/fresh.jpg"), "succeeded")
    world.record("photos/failed.png", world.put("photos/failed.png"), "failed")
    world.record("notes/old.txt", world.put("notes/old.txt"), "succeeded", pipeline_version="2026.10.0", modality="text")
    world.put("docs/new.pdf")  # never processed
    world.record("audio/replaced.wav", world.put("audio/replaced.wav", b"v1"), "succeeded", modality="audio")
    world.put("audio/replaced.wav", b"v2")  # a new version of a processed object
    world.put("misc/README")  # no extension: "unsupported", not sent unless asked for
    return world


def test_dagbag_imports_every_dag_without_errors_or_warnings(dagbag):
    result = dagbag

    assert result["import_errors"] == {}
    assert result["warnings"] == []
    assert result["dags"] == [BACKFILL, RECONCILE, RELABEL]


def test_reconcile_sends_only_stale_objects(mixed):
    result = mixed.run(RECONCILE)

    assert result["state"] == "success", result
    assert mixed.sent_keys() == STALE_KEYS
    counts = result["xcom"]
    assert (counts["listed"], counts["selected"], counts["up_to_date"], counts["sent"]) == (6, 5, 1, 4)
    assert counts["execution_arns"] and all(":execution:" in arn for arn in counts["execution_arns"])


def test_reconcile_sends_the_current_version_of_a_replaced_object(mixed):
    mixed.run(RECONCILE)

    current = mixed.s3.head_object(Bucket=mixed.bucket, Key="audio/replaced.wav")["VersionId"]
    sent = {ref["key"]: ref for ref, _ in mixed.sent_objects()}
    assert sent["audio/replaced.wav"]["version_id"] == current


def test_reconcile_holds_back_a_corrupt_file_and_counts_it_by_error(mixed):
    mixed.fail("photos/failed.png", "InvalidObjectError")

    result = mixed.run(RECONCILE)

    assert result["state"] == "success", result
    assert mixed.sent_keys() == [k for k in STALE_KEYS if k != "photos/failed.png"]
    counts = result["xcom"]
    assert (counts["stale"], counts["held_back"], counts["held_back_by_error"]) == (3, 1, {"InvalidObjectError": 1})


def test_backfill_with_include_failed_sends_a_corrupt_file(mixed):
    mixed.fail("photos/failed.png", "InvalidObjectError")

    result = mixed.run(BACKFILL, dry_run=False, include_failed=True)

    assert result["state"] == "success", result
    assert mixed.sent_keys() == STALE_KEYS
    assert (result["xcom"]["held_back"], result["xcom"]["include_failed"]) == (0, True)


def test_dry_run_reports_and_sends_nothing(mixed):
    result = mixed.run(BACKFILL, dry_run=True)

    assert result["state"] == "success", result
    assert mixed.executions() == []
    counts = result["xcom"]
    assert (counts["stale"], counts["sent"], counts["executions_planned"]) == (4, 0, 1)
    assert sorted(counts["sample_keys"]) == STALE_KEYS
    assert counts["estimated_cost_usd"]["total"] > 0


def test_second_run_right_after_the_first_sends_nothing(mixed):
    mixed.run(RECONCILE)
    executions = len(mixed.executions())

    result = mixed.run(RECONCILE)  # the pipeline has not finished yet: same names, nothing new

    assert result["state"] == "success", result
    assert len(mixed.executions()) == executions
    assert (result["xcom"]["sent"], result["xcom"]["already_sent"]) == (0, 4)


def test_run_after_processing_finds_nothing_stale(mixed):
    mixed.run(RECONCILE)
    mixed.record_sent_as_processed()

    result = mixed.run(RECONCILE)

    assert (result["xcom"]["stale"], result["xcom"]["sent"], result["xcom"]["up_to_date"]) == (0, 0, 5)


def test_pipeline_version_bump_makes_everything_stale_again(mixed):
    mixed.run(RECONCILE)
    mixed.record_sent_as_processed()

    result = mixed.run(BACKFILL, dry_run=False, pipeline_version="2026.12.0")

    assert result["xcom"]["sent"] == 5
    bumped = sorted(ref["key"] for ref, version in mixed.sent_objects() if version == "2026.12.0")
    assert bumped == sorted([*STALE_KEYS, "photos/fresh.jpg"])


def test_backfill_params_narrow_what_is_sent(mixed):
    result = mixed.run(BACKFILL, dry_run=False, prefix="photos/", modalities=["image"], max_objects=1)

    assert result["state"] == "success", result
    assert mixed.sent_keys() == ["photos/failed.png"]
    assert result["xcom"]["sent"] == 1


def test_bad_params_fail_the_run_without_sending(mixed):
    result = mixed.run(BACKFILL, dry_run=False, modified_since="2026-02-01T00:00:00Z",
                       modified_until="2026-01-01T00:00:00Z")

    assert result["state"] == "failed"
    assert result["task_states"]["choose_path"] == "failed"  # params are checked before either path
    assert mixed.executions() == []


# --- large runs: the backfill state machine (Distributed Map) instead of the worker --------

def _batch_input(world, **overrides):
    from functions.common.constants import MODALITIES

    return {"bucket": world.bucket, "prefix": "", "modified_since": None, "modified_until": None,
            "modalities": list(MODALITIES), "pipeline_version": world.pipeline_version, "dry_run": False,
            "max_items": 100_000_000, "include_failed": False, **overrides}


def test_unbounded_reconcile_hands_the_listing_to_the_backfill_state_machine(mixed):
    expected = mixed.play_backfill(**_batch_input(mixed))

    result = mixed.run(RECONCILE)

    assert result["state"] == "success", result
    assert result["task_states"]["find_and_send"] == "skipped"
    assert mixed.backfill_inputs() == [_batch_input(mixed)]
    counts = result["xcom"]
    assert counts["path"] == "distributed"
    assert (counts["listed"], counts["selected"], counts["up_to_date"], counts["sent"]) == (6, 5, 1, 4)
    assert counts["sent"] == expected["sent"] and counts["batches_succeeded"] == 1
    assert counts["backfill_execution_arn"].split(":")[-2] == "backfill-stub"


def test_distributed_reconcile_counts_held_back_failures_by_error(mixed):
    mixed.fail("photos/failed.png", "ModelInputError")
    mixed.play_backfill(**_batch_input(mixed))

    result = mixed.run(RECONCILE)

    assert result["state"] == "success", result
    counts = result["xcom"]
    assert (counts["path"], counts["sent"], counts["held_back_by_error"]) == ("distributed", 3, {"ModelInputError": 1})


def test_include_failed_fails_the_run_when_the_batches_did_not_get_it(mixed):
    mixed.fail("photos/failed.png", "InvalidObjectError")
    mixed.play_backfill(**_batch_input(mixed))  # batches run without include_failed

    result = mixed.run(RECONCILE, include_failed=True)

    assert result["state"] == "failed"
    assert result["task_states"]["collect_backfill"] == "failed"
    assert mixed.backfill_inputs() == [_batch_input(mixed, include_failed=True)]


def test_small_bounded_backfill_stays_on_the_paged_path(mixed):
    mixed.play_backfill(**_batch_input(mixed))

    result = mixed.run(BACKFILL, dry_run=True, max_objects=100)

    assert result["state"] == "success", result
    assert result["task_states"]["start_backfill"] == "skipped"
    assert result["xcom"]["path"] == "paged"
    assert mixed.backfill_inputs() == []
