"""The two DAGs' shape, built by one function so that they cannot drift apart."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional

from airflow import DAG
from airflow.decorators import task
from airflow.models.param import Param

from functions.common.constants import MODALITIES, UNSUPPORTED
from multimodal_reprocess import tasks

DEFAULT_ARGS = {
    "owner": "data-platform",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
}
_NULLABLE_TIME = {"type": ["null", "string"], "format": "date-time"}


def params(*, dry_run: bool, max_objects: Optional[int]) -> dict[str, Param]:
    """The run's parameters, with the deployment's settings as defaults."""
    return {
        "bucket": Param(tasks.setting("ingest_bucket"), type="string", description="S3 bucket to reconcile"),
        "prefix": Param("", type="string", description="only keys under this prefix"),
        "modified_since": Param(None, **_NULLABLE_TIME, description="only objects last modified at or after (ISO 8601)"),
        "modified_until": Param(None, **_NULLABLE_TIME, description="only objects last modified before (ISO 8601)"),
        "modalities": Param(list(MODALITIES), type="array",
                            items={"type": "string", "enum": [*MODALITIES, UNSUPPORTED]},
                            description="modalities to send; 'unsupported' re-sends files we cannot process"),
        "pipeline_version": Param(tasks.setting("pipeline_version"), type="string",
                                  description="results older than this version are stale"),
        "dry_run": Param(dry_run, type="boolean", description="report what would be sent and its cost; send nothing"),
        "max_objects": Param(max_objects, type=["null", "integer"], minimum=1,
                             description="send at most this many objects (empty: no limit)"),
    }


def build(dag_id: str, *, schedule: Optional[str], doc_md: str, dry_run: bool, max_objects: Optional[int],
          tags: list[str]) -> DAG:
    """A DAG of two tasks: find_and_send (XCom: the run's counts) -> report (logs, links, outcome)."""
    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        params=params(dry_run=dry_run, max_objects=max_objects),
        render_template_as_native_obj=True,
        doc_md=doc_md,
        tags=tags,
    ) as dag:

        @task(execution_timeout=timedelta(hours=6))
        def find_and_send(**context: Any) -> dict[str, Any]:
            return tasks.reprocess(dict(context["params"]))

        @task
        def report(result: dict[str, Any]) -> dict[str, Any]:
            return tasks.report(result)

        report(find_and_send())
    return dag
