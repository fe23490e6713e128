"""Reprocessing: find object versions without a succeeded result for a pipeline version and
send them through the pipeline again, except failures a retry cannot fix (counted, not sent,
unless a run includes them: `core.stale`).

The plain logic, used by both the DAGs' paged path and the backfill state machine's batch
Lambda, one concern a module: `params` (what a run covers), `listing` (listed entries to
candidate refs), `core` (the rule of which are stale, held back or up to date), `plan`
(executions with deterministic names, cut by functions/streaming/executions.py), `send`
(StartExecution and what it answered), `cost` (the dry run's estimate), `tally` (a run's
counts), `distributed` (when and how a run goes to the backfill state machine), `links`
(console links). `batch` is one Distributed Map batch; `results` sums the batches' results
the Distributed Map wrote to S3; `names` holds the names the DAGs, the Lambda and
cdk_app/backfill.py share.
"""
