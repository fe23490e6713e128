"""A long object through the real ASL in moto: extract plans segments, the segments Map runs
extract once per segment (each in a child execution), extract assembles them, and the object
gets its rows."""
from __future__ import annotations

import json

from functions.common.constants import ENV_SEGMENT_PAGES, ENV_STAGING_BUCKET
from functions.common.events import ExecutionInput, ObjectRef

PIPELINE_VERSION = "v-test"
STAGING_BUCKET = "test-staging-bucket"


def test_a_long_pdf_runs_one_extract_per_page_range_then_one_result(aws, db, monkeypatch, wait_for_executions):
    import functions.embed.handler as embed
    import functions.extract.handler as extract
    import functions.generate.handler as generate
    import functions.store.handler as store
    from local import setup_pipeline
    from samples.generate import _pdf

    s3 = aws.client("s3")
    s3.create_bucket(Bucket=STAGING_BUCKET)
    monkeypatch.setenv(ENV_STAGING_BUCKET, STAGING_BUCKET)
    monkeypatch.setenv(ENV_SEGMENT_PAGES, "2")
    monkeypatch.delenv("MODEL_ENDPOINTS", raising=False)  # no model: chunks and rows, no vectors
    for module in (extract, generate, embed, store):  # each container starts clean
        module.resources.clear()
    data = _pdf("Pump manual", [f"Maintenance of pump number {n}." for n in range(1, 6)])
    put = s3.put_object(Bucket="test-ingest-bucket", Key="manuals/pumps.pdf", Body=data)
    ref = ObjectRef(bucket="test-ingest-bucket", key="manuals/pumps.pdf", version_id=put.get("VersionId"),
                    size=len(data), modality="document", content_type="application/pdf")
    arn = setup_pipeline(aws)
    sfn = aws.client("stepfunctions")

    sfn.start_execution(stateMachineArn=arn, name="segments-1",
                        input=ExecutionInput(batch_id="segments-1", pipeline_version=PIPELINE_VERSION,
                                             document=[ref]).model_dump_json())
    [execution] = wait_for_executions(sfn, arn, timeout_s=120)

    assert execution["status"] == "SUCCEEDED", execution.get("error")
    [result] = json.loads(execution["output"])["document"]
    assert result["status"] == "succeeded" and result["chunks"] == 5
    events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"] == "TaskStateEntered"]
    # The segments ran as child executions (a Distributed Map): the batch's history holds their
    # Map Run, not their tasks.
    assert "document: extract segment" not in entered
    assert [e["type"] for e in events].count("MapRunSucceeded") == 1
    [map_run] = sfn.list_map_runs(executionArn=execution["executionArn"])["mapRuns"]
    counts = sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["itemCounts"]
    assert counts["total"] == counts["succeeded"] == 3  # pages 1-2, 3-4, 5
    assert entered.count("document: assemble segments") == 1
    assert entered.count("document: extract") == 1
    with db.transaction() as conn:
        pages = [r[0] for r in conn.execute(
            "SELECT ch.page FROM pipeline.chunks ch JOIN pipeline.objects o ON o.id = ch.object_id"
            " WHERE o.key = 'manuals/pumps.pdf' ORDER BY ch.ordinal")]
    assert pages == [1, 2, 3, 4, 5]
