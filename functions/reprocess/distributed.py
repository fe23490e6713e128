"""The distributed path of a run: when it goes to the backfill state machine (a Distributed
Map that lists the bucket itself) instead of being listed page by page in an Airflow worker,
and the input and name of that execution."""
from __future__ import annotations

from typing import Any

from functions.reprocess.params import RunParams
from functions.streaming.executions import hashed_name

# The most items a Distributed Map's ItemReader passes on (ReaderConfig MaxItems).
# https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html
MAX_READER_ITEMS = 100_000_000
# A run whose max_objects is empty or above this goes to the backfill state machine's
# Distributed Map instead of being listed page by page inside the Airflow worker.
DEFAULT_DISTRIBUTED_THRESHOLD = 50_000
# Backfill execution names: "af-<dag id>-<digest>" (started from Airflow).
_NAME_TAG = "af"


def use_distributed(params: RunParams, threshold: int = DEFAULT_DISTRIBUTED_THRESHOLD) -> bool:
    """True when the run is too large (or unbounded) to list inside an Airflow worker."""
    return params.max_objects is None or params.max_objects > threshold


def backfill_input(params: RunParams) -> dict[str, Any]:
    """The backfill state machine's input for a run (step_functions/backfill.py reads these fields).

    Every field is present (JSONPath fails on a missing one); `max_items` bounds how many
    listed objects the Distributed Map reads, not how many are sent.
    """
    return {
        "bucket": params.bucket,
        "prefix": params.prefix,
        "modified_since": params.modified_since.isoformat() if params.modified_since else None,
        "modified_until": params.modified_until.isoformat() if params.modified_until else None,
        "modalities": list(params.modalities),
        "pipeline_version": params.pipeline_version,
        "dry_run": params.dry_run,
        "max_items": min(params.max_objects or MAX_READER_ITEMS, MAX_READER_ITEMS),
        "include_failed": params.include_failed,
    }


def run_execution_name(dag_id: str, run_id: str) -> str:
    """The backfill execution's name for one DAG run: the same on a retry of the start task.

    StartExecution of a Standard workflow with a running execution's name and input returns
    that execution instead of starting another
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
    """
    return hashed_name(dag_id, [run_id], tag=_NAME_TAG)
