"""Which object versions a reconciliation sends again (functions/reprocess/core.py `stale`),
against PostgreSQL with the schema of migrations/ and rows written by the pipeline's own
store / record_failure code.

Given an object's recorded result (none, succeeded, failed with some error), when a run
checks it, then it is up to date, stale (sent again) or held back (counted by error name).
"""
from __future__ import annotations

import pytest

BUCKET = "bucket-a"
VERSION = "2026.11.1"
# Error names as the Catch records them (pipeline.failures.error).
PERMANENT = ["InvalidObjectError", "UnsupportedTypeError", "ModelInputError", "ModelRequestError",
             "KeyError", "Runtime.ExitError"]
RETRYABLE = ["ModelThrottledError", "ModelUnavailableError", "DatabaseUnavailableError", "StagingUnavailableError",
             "States.Timeout", "Sandbox.Timedout", "Lambda.ServiceException", "Lambda.Unknown", "States.TaskFailed"]


def _ref(key: str, version: str | None = "v1", etag: str | None = "e1", size: int = 10):
    from functions.common.events import ObjectRef
    from functions.streaming.classify import classify

    return ObjectRef(bucket=BUCKET, key=key, version_id=version, etag=etag, size=size, modality=classify(key))


def _fail(db, ref, error: str, pipeline_version: str = VERSION, cause: str = "why") -> None:
    """What the Map iteration's Catch does: record_failure with the error Step Functions caught."""
    from functions.common.events import FailureInput
    from functions.processing.results.failures import record_failure

    record_failure(db, FailureInput.model_validate({
        "object": ref.model_dump(), "pipeline_version": pipeline_version, "failed_step": "extract",
        "error": {"Error": error, "Cause": cause},
    }))


def _succeed(db, ref, pipeline_version: str = VERSION) -> None:
    """A succeeded row as store writes it (the chunks and vectors do not matter here)."""
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO pipeline.objects (bucket, key, version_id, etag, size, modality, pipeline_version, status)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, 'succeeded')",
            (ref.bucket, ref.key, ref.version_id, ref.etag, ref.size, ref.modality, pipeline_version))


def _check(db, refs, pipeline_version: str = VERSION, include_failed: bool = False):
    from functions.reprocess.core import stale

    def query(sql, params):
        with db.transaction() as conn:
            return conn.execute(sql, params).fetchall()

    return stale(refs, pipeline_version, query, include_failed=include_failed)


def test_corrupt_file_is_held_back_and_counted_by_its_error(db):
    from functions.reprocess.tally import Tally

    corrupt = _ref("photos/corrupt.jpg")
    _fail(db, corrupt, "InvalidObjectError", cause='{"errorMessage": "truncated JPEG"}')

    checked = _check(db, [corrupt])
    tally = Tally()
    tally.count_checked(checked)

    assert checked.stale == []
    assert (tally.held_back, tally.held_back_by_error, tally.stale, tally.up_to_date) == (
        1, {"InvalidObjectError": 1}, 0, 0)


@pytest.mark.parametrize("error", PERMANENT)
def test_failure_a_retry_cannot_fix_is_not_sent_again(db, error):
    ref = _ref("docs/report.pdf")
    _fail(db, ref, error)

    checked = _check(db, [ref])

    assert (checked.stale, checked.held_back) == ([], [(ref, error)])


@pytest.mark.parametrize("error", RETRYABLE)
def test_failure_a_retry_can_fix_is_sent_again(db, error):
    ref = _ref("audio/talk.wav")
    _fail(db, ref, error)

    checked = _check(db, [ref])

    assert (checked.stale, checked.held_back) == ([ref], [])


def test_succeeded_object_under_an_older_pipeline_version_is_sent_again(db):
    old = _ref("notes/old.txt")
    _succeed(db, old, pipeline_version="2026.10.0")

    checked = _check(db, [old])

    assert (checked.stale, checked.up_to_date) == ([old], 0)


def test_new_version_of_a_corrupt_object_is_sent(db):
    _fail(db, _ref("photos/cat.jpg", version="v1"), "InvalidObjectError")
    replaced = _ref("photos/cat.jpg", version="v2", etag="e2")

    checked = _check(db, [replaced])

    assert (checked.stale, checked.held_back) == ([replaced], [])


def test_permanent_failure_under_an_older_pipeline_version_does_not_hold_back_the_new_one(db):
    ref = _ref("photos/cat.jpg")
    _fail(db, ref, "ModelInputError", pipeline_version="2026.10.0")

    checked = _check(db, [ref])

    assert (checked.stale, checked.held_back) == ([ref], [])


def test_object_overwritten_in_an_unversioned_bucket_is_sent_despite_its_recorded_failure(db):
    _fail(db, _ref("notes/a.txt", version=None, etag="old"), "InvalidObjectError")
    overwritten = _ref("notes/a.txt", version=None, etag='"new"')  # listings quote the ETag

    checked = _check(db, [overwritten])

    assert (checked.stale, checked.held_back) == ([overwritten], [])


def test_succeeded_object_overwritten_in_an_unversioned_bucket_is_sent_again(db):
    _succeed(db, _ref("notes/b.txt", version=None, etag="old"))
    same, overwritten = _ref("notes/b.txt", version=None, etag='"old"'), _ref("notes/b.txt", version=None, etag="new")

    assert _check(db, [same]).up_to_date == 1
    assert _check(db, [overwritten]).stale == [overwritten]


def test_include_failed_sends_failures_a_retry_cannot_fix(db):
    ref = _ref("photos/corrupt.jpg")
    _fail(db, ref, "UnsupportedTypeError")

    checked = _check(db, [ref], include_failed=True)

    assert (checked.stale, checked.held_back) == ([ref], [])


def test_one_query_sorts_a_mixed_page_in_input_order(db):
    from functions.reprocess.core import stale

    fresh, never, corrupt, throttled = (_ref("a/fresh.jpg"), _ref("b/never.pdf"), _ref("c/corrupt.png"),
                                        _ref("d/throttled.wav"))
    _succeed(db, fresh)
    _fail(db, corrupt, "InvalidObjectError")
    _fail(db, throttled, "ModelThrottledError")
    calls = []

    def query(sql, params):
        calls.append(params)
        with db.transaction() as conn:
            return conn.execute(sql, params).fetchall()

    checked = stale([throttled, corrupt, never, fresh], VERSION, query)

    assert len(calls) == 1
    assert checked.stale == [throttled, never]
    assert (checked.held_back, checked.up_to_date) == ([(corrupt, "InvalidObjectError")], 1)


def test_a_newer_failure_gets_a_new_execution_name_and_a_rerun_the_same(db):
    ref = _ref("audio/talk.wav")
    _fail(db, ref, "ModelUnavailableError")
    first, rerun = _names(db, [ref]), _names(db, [ref])

    _fail(db, ref, "ModelThrottledError")  # the resend failed again, after its retries

    assert first == rerun
    assert _names(db, [ref]) != first


def _names(db, refs) -> list[str]:
    from functions.reprocess.plan import plan

    checked = _check(db, refs)
    return [name for name, _ in plan(checked.stale, VERSION, attempts=checked.attempts)]


def test_never_processed_objects_keep_the_names_they_had(db):
    from functions.reprocess.plan import execution_name

    refs = [_ref("b/never.pdf"), _ref("e/new.txt")]

    assert _names(db, refs) == [execution_name(refs, VERSION)]
