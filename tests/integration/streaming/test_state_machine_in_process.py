"""The ASL running in moto, its Lambda tasks dispatched in-process to our real handlers."""
from __future__ import annotations

import json

import pytest

from functions.common.constants import ENV_STAGING_BUCKET
from functions.common.errors import InvalidObjectError, ModelNoCapacityError, ModelThrottledError
from functions.common.events import ExecutionInput, ObjectRef

PIPELINE_VERSION = "v-test"
STAGING_BUCKET = "test-staging-bucket"


@pytest.fixture
def steps_env(aws, db, monkeypatch):
    """Real extract and record_failure handlers, pointed at moto S3 and the test database."""
    import functions.extract.handler as extract
    import functions.record_failure.handler as record_failure

    aws.client("s3").create_bucket(Bucket=STAGING_BUCKET)
    monkeypatch.setenv(ENV_STAGING_BUCKET, STAGING_BUCKET)
    monkeypatch.delenv("MODEL_ENDPOINTS", raising=False)
    # Handlers cache their clients per container; this test's container starts clean.
    extract.resources.clear()
    record_failure.database.clear()
    return db


def _run(aws, arn, execution_input: ExecutionInput, wait_for_executions) -> dict:
    sfn = aws.client("stepfunctions")
    sfn.start_execution(stateMachineArn=arn, name=execution_input.batch_id, input=execution_input.model_dump_json())
    [execution] = wait_for_executions(sfn, arn)
    return execution


def _failure_rows(db):
    with db.transaction() as conn:
        return conn.execute("SELECT key, failed_step, error, reason FROM pipeline.failures ORDER BY key").fetchall()


def test_unsupported_object_ends_as_a_failure_row_through_the_real_handlers(aws, steps_env, wait_for_executions):
    from local import setup_pipeline

    arn = setup_pipeline(aws)  # production handlers: functions.<step>.handler.lambda_handler
    s3 = aws.client("s3")
    s3.put_object(Bucket="test-ingest-bucket", Key="misc/archive.xyz", Body=b"PK\x03\x04" + b"\x00" * 64)
    ref = ObjectRef(bucket="test-ingest-bucket", key="misc/archive.xyz", size=68, modality="unsupported")
    execution = _run(aws, arn, ExecutionInput(batch_id="unsupported-1", pipeline_version=PIPELINE_VERSION, unsupported=[ref]), wait_for_executions)

    assert execution["status"] == "SUCCEEDED", execution.get("error")
    [result] = json.loads(execution["output"])["unsupported"]
    assert result["status"] == "failed" and result["key"] == "misc/archive.xyz"
    [(key, step, error, reason)] = _failure_rows(steps_env)
    assert (key, step, error) == ("misc/archive.xyz", "extract", "UnsupportedTypeError")
    assert reason


def test_handler_exception_names_reach_the_catch_as_error_names(aws, steps_env, wait_for_executions):
    from local import setup_pipeline

    def corrupt(event, context):
        raise InvalidObjectError("truncated JPEG")

    arn = setup_pipeline(aws, handlers={"extract": corrupt})
    ref = ObjectRef(bucket="test-ingest-bucket", key="photos/broken.jpg", version_id="v1", size=10, modality="image")
    execution = _run(aws, arn, ExecutionInput(batch_id="invalid-1", pipeline_version=PIPELINE_VERSION, image=[ref]), wait_for_executions)

    assert execution["status"] == "SUCCEEDED"
    [(key, step, error, reason)] = _failure_rows(steps_env)
    assert (key, step, error) == ("photos/broken.jpg", "extract", "InvalidObjectError")
    assert "truncated JPEG" in reason


def test_retryable_errors_are_retried_by_name(aws, steps_env, wait_for_executions):
    from local import setup_pipeline

    calls = []

    def throttled_once(event, context):
        calls.append(1)
        if len(calls) == 1:
            raise ModelThrottledError("429 from the model")
        raise InvalidObjectError("stop here")

    arn = setup_pipeline(aws, handlers={"extract": throttled_once})
    ref = ObjectRef(bucket="test-ingest-bucket", key="notes/a.txt", version_id="v1", size=10, modality="text")
    execution = _run(aws, arn, ExecutionInput(batch_id="retry-1", pipeline_version=PIPELINE_VERSION, text=[ref]), wait_for_executions)

    assert execution["status"] == "SUCCEEDED"
    assert len(calls) == 2  # retried once by the ModelThrottledError Retry, then caught
    [(_, _, error, _)] = _failure_rows(steps_env)
    assert error == "InvalidObjectError"


def test_an_endpoint_without_capacity_is_waited_for_minutes_apart_by_the_state_machine(aws, steps_env, wait_for_executions):
    """ModelNoCapacityError (an endpoint scaled to zero, starting an instance) has its own Retrier:
    attempts 60 s, then 90 s apart (no jitter), where the generic one waits seconds."""
    from local import setup_pipeline
    from local.faults import fast_state_retries

    calls = []

    def starting_endpoint(event, context):
        calls.append(1)
        if len(calls) <= 2:
            raise ModelNoCapacityError("speech has no instance yet after 60 s")
        raise InvalidObjectError("stop here")

    arn = setup_pipeline(aws, handlers={"extract": starting_endpoint})
    ref = ObjectRef(bucket="test-ingest-bucket", key="talks/a.wav", version_id="v1", size=10, modality="audio")
    with fast_state_retries(0.01) as asked:
        execution = _run(aws, arn, ExecutionInput(batch_id="capacity-1", pipeline_version=PIPELINE_VERSION, audio=[ref]),
                         wait_for_executions)

    assert execution["status"] == "SUCCEEDED"
    assert len(calls) == 3 and asked == [60, 90]
    [(_, _, error, _)] = _failure_rows(steps_env)
    assert error == "InvalidObjectError"
