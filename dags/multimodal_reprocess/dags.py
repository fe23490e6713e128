"""The two DAGs' shape, built by one function so that they cannot drift apart."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional

from airflow import DAG
from airflow.decorators import task
from airflow.models.param import Param
from airflow.providers.amazon.aws.operators.step_function import StepFunctionStartExecutionOperator
from airflow.providers.amazon.aws.sensors.step_function import StepFunctionExecutionSensor

from functions.common.constants import MODALITIES, UNSUPPORTED
from functions.reprocess import names
from functions.reprocess.names import AWS_CONN_ID
from multimodal_reprocess import tasks

# A backfill over millions of objects runs for hours: the sensor gives its worker slot back
# between pokes (mode "reschedule") and gives up after a week, the state machine's own timeout.
BACKFILL_TIMEOUT = timedelta(days=7)
_BACKFILL = "ti.xcom_pull(task_ids='choose_path', key='%s')" % tasks.XCOM_BACKFILL

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
        "bucket": Param(tasks.setting(names.SETTING_INGEST_BUCKET), type="string", description="S3 bucket to reconcile"),
        "prefix": Param("", type="string", description="only keys under this prefix"),
        "modified_since": Param(None, **_NULLABLE_TIME, description="only objects last modified at or after (ISO 8601)"),
        "modified_until": Param(None, **_NULLABLE_TIME, description="only objects last modified before (ISO 8601)"),
        "modalities": Param(list(MODALITIES), type="array",
                            items={"type": "string", "enum": [*MODALITIES, UNSUPPORTED]},
                            description="modalities to send; 'unsupported' re-sends files we cannot process"),
        "pipeline_version": Param(tasks.setting(names.SETTING_PIPELINE_VERSION), type="string",
                                  description="results older than this version are stale"),
        "dry_run": Param(dry_run, type="boolean", description="report what would be sent and its cost; send nothing"),
        "max_objects": Param(max_objects, type=["null", "integer"], minimum=1,
                             description="send at most this many objects (empty: no limit). Empty or above the "
                                         "deployment's distributed_threshold: the backfill state machine lists "
                                         "the bucket (Distributed Map) and this bounds the objects it lists"),
        "include_failed": Param(False, type="boolean",
                                description="also send objects whose last failure a retry cannot fix (corrupt or "
                                            "unsupported files, inputs the model refused, unexpected errors); "
                                            "otherwise they are only counted, by error name"),
    }


def build(dag_id: str, *, schedule: Optional[str], doc_md: str, dry_run: bool, max_objects: Optional[int],
          tags: list[str]) -> DAG:
    """choose_path -> either find_and_send (paged, in the worker) or start_backfill ->
    wait_for_backfill -> collect_backfill (Distributed Map) -> report (logs, links, outcome).

    The XCom of find_and_send / collect_backfill is the run's counts, with `path` naming the path.
    """
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

        @task.branch
        def choose_path(**context: Any) -> str:
            return tasks.choose_path(dict(context["params"]), context["dag"].dag_id, context["run_id"], context["ti"])

        @task(task_id=tasks.TASK_PAGED, execution_timeout=timedelta(hours=6))
        def find_and_send(**context: Any) -> dict[str, Any]:
            return tasks.reprocess(dict(context["params"]))

        start_backfill = StepFunctionStartExecutionOperator(
            task_id=tasks.TASK_START_BACKFILL,
            aws_conn_id=AWS_CONN_ID,
            state_machine_arn="{{ %s['arn'] }}" % _BACKFILL,
            name="{{ %s['name'] }}" % _BACKFILL,
            state_machine_input="{{ %s['input'] }}" % _BACKFILL,
        )
        wait_for_backfill = StepFunctionExecutionSensor(
            task_id="wait_for_backfill",
            aws_conn_id=AWS_CONN_ID,
            execution_arn="{{ ti.xcom_pull(task_ids='%s') }}" % tasks.TASK_START_BACKFILL,
            mode="reschedule",
            poke_interval=int(tasks.setting(names.SETTING_POKE_SECONDS, "60")),
            timeout=BACKFILL_TIMEOUT.total_seconds(),
        )

        @task
        def collect_backfill(**context: Any) -> dict[str, Any]:
            ti = context["ti"]
            return tasks.collect(dict(context["params"]), ti.xcom_pull(task_ids="wait_for_backfill", key="output"),
                                 ti.xcom_pull(task_ids=tasks.TASK_START_BACKFILL))

        @task(trigger_rule="none_failed_min_one_success")
        def report(paged: Optional[dict[str, Any]], distributed: Optional[dict[str, Any]]) -> dict[str, Any]:
            return tasks.report(paged or distributed)

        branch = choose_path()
        paged = find_and_send()
        distributed = collect_backfill()
        branch >> [paged, start_backfill]
        start_backfill >> wait_for_backfill >> distributed
        report(paged, distributed)
    return dag
