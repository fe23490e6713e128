"""Names shared by the DAGs, the backfill state machine, its batch Lambda and cdk_app/backfill.py.

Change one here and every user follows; never repeat these as literals.
"""
from __future__ import annotations

# Airflow connection ids the DAGs use (MWAA reads them from Secrets Manager, see cdk_app/backfill.py).
AWS_CONN_ID = "aws_default"
DB_CONN_ID = "pipeline_db"
# Airflow configuration section holding the deployment's settings (airflow_configuration_options
# "pipeline.*" in cdk_app/backfill.py; AIRFLOW__PIPELINE__* environment variables locally).
CONF_SECTION = "pipeline"
# Settings in that section (pipeline.<name>).
SETTING_STATE_MACHINE_ARN = "state_machine_arn"
SETTING_BACKFILL_STATE_MACHINE_ARN = "backfill_state_machine_arn"
SETTING_INGEST_BUCKET = "ingest_bucket"
SETTING_PIPELINE_VERSION = "pipeline_version"
SETTING_RECONCILE_SCHEDULE = "reconcile_schedule"
SETTING_DISTRIBUTED_THRESHOLD = "distributed_threshold"
SETTING_POKE_SECONDS = "backfill_poke_seconds"
SETTING_RELABEL_FUNCTION = "relabel_function"

# The batch Lambda's folder under functions/ and its environment.
FN_REPROCESS_BATCH = "reprocess_batch"
# The function that relabels stored objects with the taxonomy (functions/relabel, cdk_app/taxonomy.py).
FN_RELABEL = "relabel"
# Where the backfill's Distributed Map writes its child results (ResultWriter), in the
# staging bucket, whose lifecycle rule expires them.
RESULTS_PREFIX = "backfill-results"
