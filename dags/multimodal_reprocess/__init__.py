"""Reconciliation and backfill of the multimodal pipeline, shared by the DAGs in dags/.

`core` is plain Python (no Airflow): which listed object versions to send, which of those
are stale against pipeline.objects, how to cut them into pipeline executions with
deterministic names, and what a run would cost. `tasks` wires it to the Airflow Amazon and
Postgres provider hooks. The DAG files only declare schedules and parameters.
"""
