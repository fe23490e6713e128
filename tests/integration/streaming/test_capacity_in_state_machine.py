"""A burst after a quiet night (issue 18): the model endpoints are scaled to zero, the first
requests find no copy and start one; the steps wait, the state machine retries minutes apart
(ModelNoCapacityError's own Retrier), and every file completes with its vectors. The real ASL in
moto, the real handlers, the toolkit's model servers behind the SageMaker Runtime stand-in
answering "no capacity" until the copy it started is up."""
from __future__ import annotations

import json

from functions.common.constants import (
    ENV_MODEL_CAPACITY_WAIT_SECONDS,
    ENV_STAGING_BUCKET,
    MODEL_GENERATION,
    MODEL_TEXT_EMBEDDING,
)
from functions.common.events import ExecutionInput, ObjectRef
from local.model_servers import endpoint_name

PIPELINE_VERSION = "v-test"
STAGING_BUCKET = "test-staging-bucket"
TEXTS = {f"notes/after-the-night-{n}.txt": f"Shift report {n}: the conveyor in hall {n} was serviced." for n in range(3)}


def test_files_arriving_while_the_models_are_at_zero_all_complete(aws, db, monkeypatch, wait_for_executions,
                                                                   model_env, model_profile):
    from local import setup_pipeline
    from local.faults import fast_state_retries

    s3 = aws.client("s3")
    s3.create_bucket(Bucket=STAGING_BUCKET)
    monkeypatch.setenv(ENV_STAGING_BUCKET, STAGING_BUCKET)
    monkeypatch.setenv(ENV_MODEL_CAPACITY_WAIT_SECONDS, "1")  # the steps give up polling fast: the Retrier waits
    refs = []
    for key, text in TEXTS.items():
        put = s3.put_object(Bucket="test-ingest-bucket", Key=key, Body=text.encode())
        refs.append(ObjectRef(bucket="test-ingest-bucket", key=key, version_id=put.get("VersionId"),
                              size=len(text), modality="text", content_type="text/plain"))
    runtime = model_profile.runtime
    sleeping = [endpoint_name(MODEL_GENERATION), endpoint_name(MODEL_TEXT_EMBEDDING)]
    arn = setup_pipeline(aws)
    sfn = aws.client("stepfunctions")
    try:
        for name in sleeping:
            runtime.scale_to_zero(name, wake_seconds=4)
        with fast_state_retries(0.05) as asked:
            sfn.start_execution(stateMachineArn=arn, name="after-the-night",
                                input=ExecutionInput(batch_id="after-the-night", pipeline_version=PIPELINE_VERSION,
                                                     text=refs).model_dump_json())
            [execution] = wait_for_executions(sfn, arn, timeout_s=300)
        failures = {name: runtime.no_capacity_failures(name) for name in sleeping}
    finally:
        for name in sleeping:
            runtime.keep_warm(name)

    assert execution["status"] == "SUCCEEDED", execution.get("error")
    assert [r["status"] for r in json.loads(execution["output"])["text"]] == ["succeeded"] * len(TEXTS)
    assert all(n >= 1 for n in failures.values()), failures  # each model was found at zero, and woke
    events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    waited = [e for e in events if e["type"] == "TaskFailed" and e["taskFailedEventDetails"]["error"] == "ModelNoCapacityError"]
    assert waited and 60 in asked  # the capacity Retrier (60 s, 90 s ...), not the seconds-apart one
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT o.key, count(e.*) FROM pipeline.objects o JOIN pipeline.embeddings e ON e.object_id = o.id"
            " WHERE o.key LIKE 'notes/after-the-night-%%' AND o.status = 'succeeded' GROUP BY o.key ORDER BY o.key").fetchall()
    assert [key for key, vectors in rows if vectors >= 1] == sorted(TEXTS)
