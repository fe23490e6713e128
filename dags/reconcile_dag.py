"""Nightly reconciliation: every object in the ingest bucket without a succeeded result for
the deployed pipeline version (never processed, processed by an older version, a newer upload,
or failed with an error a retry can fix) goes through the pipeline again. Failures a retry
cannot fix (a corrupt file, an input the model refused) are counted by error name, not sent;
`pipeline_backfill` with `include_failed` sends them. Up-to-date objects are skipped;
re-sending is idempotent.
Unbounded, so it runs on the backfill state machine (a Distributed Map lists the bucket), not
inside the Airflow worker."""
from airflow import DAG
from multimodal_reprocess.dags import build
from multimodal_reprocess.tasks import setting

from functions.reprocess.names import SETTING_RECONCILE_SCHEDULE

dag: DAG = build(
    "pipeline_reconcile",
    schedule=setting(SETTING_RECONCILE_SCHEDULE, "0 3 * * *"),
    doc_md=__doc__,
    dry_run=False,
    max_objects=None,
    tags=["pipeline", "reconcile"],
)
