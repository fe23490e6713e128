"""Relabel: after the taxonomy changes (a new file deployed, or another one named here), label
every stored object with it from the stored object vectors; nothing is extracted or embedded
again except the label texts. A dry run (the default) reports how many objects would be
labelled, how many carry labels now and how many already carry this version; the counts land in
XCom and the task log. Runs the `relabel` function (functions/relabel)."""
from datetime import datetime, timedelta

from airflow import DAG
from airflow.models.param import Param
from airflow.providers.amazon.aws.operators.lambda_function import LambdaInvokeFunctionOperator
from multimodal_reprocess.tasks import setting

from functions.reprocess.names import AWS_CONN_ID, FN_RELABEL, SETTING_RELABEL_FUNCTION

with DAG(
    dag_id="pipeline_relabel",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "dry_run": Param(True, type="boolean", description="count what would be relabelled; write nothing"),
        "taxonomy": Param(None, type=["null", "string"], pattern=r"^s3://[a-z0-9.-]{3,63}/.+$",
                          description="s3:// URI of another taxonomy file (default: the deployment's)"),
    },
    doc_md=__doc__,
    tags=["pipeline", "taxonomy"],
) as dag:
    LambdaInvokeFunctionOperator(
        task_id="relabel",
        function_name=setting(SETTING_RELABEL_FUNCTION, FN_RELABEL),
        payload='{"dry_run": {{ params.dry_run | tojson }}, "taxonomy": {{ params.taxonomy | tojson }}}',
        aws_conn_id=AWS_CONN_ID,
        invocation_type="RequestResponse",
        execution_timeout=timedelta(minutes=16),
    )
