"""Manual backfill / reprocessing: choose bucket, prefix, time window, modalities and pipeline
version; a dry run (the default) reports what would be sent and its estimated cost and sends
nothing. Counts land in XCom and the task logs, with links to the executions started."""
from airflow import DAG
from multimodal_reprocess.dags import build

dag: DAG = build(
    "pipeline_backfill",
    schedule=None,
    doc_md=__doc__,
    dry_run=True,
    max_objects=10_000,
    tags=["pipeline", "backfill"],
)
