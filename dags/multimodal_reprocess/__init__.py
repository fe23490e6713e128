"""Reconciliation and backfill of the multimodal pipeline, shared by the DAGs in dags/.

The plain logic (which listed object versions to send, which of those are stale against
pipeline.objects, how to cut them into pipeline executions with deterministic names, what a
run would cost) is the `functions.reprocess` package, shared with the backfill state machine's batch
Lambda and shipped beside the DAGs by cdk_app/backfill.py. `tasks` wires it to the Airflow
Amazon and Postgres providers and chooses a run's path (paged in the worker, or the
Distributed Map); `dags` builds both DAGs. The DAG files only declare schedules and parameters.
"""
