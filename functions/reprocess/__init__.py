"""Reprocessing: find object versions without a succeeded result for a pipeline version and
send them through the pipeline again, except failures a retry cannot fix (counted, not sent,
unless a run includes them: `core.stale`).

`core` is the plain logic (select, stale, plan, send, estimate cost) used by both the DAGs'
paged path and the backfill state machine's batch Lambda; `batch` is one Distributed Map
batch; `results` sums the batches' results the Distributed Map wrote to S3; `names` holds the
names the DAGs, the Lambda and cdk_app/backfill.py share.
"""
