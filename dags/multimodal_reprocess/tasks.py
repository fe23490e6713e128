"""Airflow side of a reprocessing run: provider hooks around the plain logic in
`functions.reprocess` (shipped beside the DAGs; the backfill batch Lambda runs the same code).

Two paths, chosen per run by `choose_path` and named in the task log and XCom (`path`):

* "distributed" (no max_objects, or more than the `distributed_threshold` setting): the
  backfill state machine lists the bucket itself with a Distributed Map and sends batches to
  the reprocess_batch Lambda; the DAG only starts it, waits, and sums the batches' results
  (`collect`). Nothing is listed object by object in the Airflow worker.
* "paged" (small bounded runs): one task walks the listing one page at a time (S3Hook's
  client, ListObjectVersions, 1,000 versions per page), asks PostgreSQL which versions of the
  page are stale (PostgresHook) and starts pipeline executions (StepFunctionHook) with
  deterministic names. Memory stays bounded by one page; `max_objects` bounds the run.

Either way, failed objects whose error a retry cannot fix are held back (not sent) and counted
by error name in `held_back_by_error`, unless the run's `include_failed` asks for them
(the rule: `functions.reprocess.core.stale`).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Optional

from airflow.configuration import conf
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.step_function import StepFunctionHook
from airflow.providers.postgres.hooks.postgres import PostgresHook

from functions.reprocess import names
from functions.reprocess.core import stale
from functions.reprocess.cost import estimate_cost_usd
from functions.reprocess.distributed import (
    DEFAULT_DISTRIBUTED_THRESHOLD,
    backfill_input,
    run_execution_name,
    use_distributed,
)
from functions.reprocess.links import console_link
from functions.reprocess.listing import PAGE_SIZE, select
from functions.reprocess.names import AWS_CONN_ID, CONF_SECTION, DB_CONN_ID
from functions.reprocess.params import RunParams
from functions.reprocess.plan import plan
from functions.reprocess.results import summarize
from functions.reprocess.send import send
from functions.reprocess.tally import KEEP, Tally

log = logging.getLogger(__name__)
PAGED, DISTRIBUTED = "paged", "distributed"
# Task ids the branch chooses between (dags.py builds tasks with these ids).
TASK_PAGED = "find_and_send"
TASK_START_BACKFILL = "start_backfill"
# XCom key under which choose_path hands the backfill execution's ARN, name and input on.
XCOM_BACKFILL = "backfill"


def setting(name: str, default: str = "") -> str:
    """A deployment setting: airflow_configuration_options "pipeline.<name>" on MWAA."""
    return conf.get(CONF_SECTION, name, fallback=default) or default


def _params(values: dict[str, Any]) -> RunParams:
    try:
        return RunParams.from_mapping(values)
    except ValueError as exc:
        raise AirflowFailException(f"bad params: {exc}") from exc


def choose_path(values: dict[str, Any], dag_id: str, run_id: str, ti: Any) -> str:
    """Validate the params and pick the run's path; returns the task id to follow.

    For the distributed path, pushes {"arn", "name", "input"} of the backfill execution to
    XCom key "backfill". Raises AirflowFailException for bad params.
    """
    params = _params(values)
    threshold = int(setting(names.SETTING_DISTRIBUTED_THRESHOLD, str(DEFAULT_DISTRIBUTED_THRESHOLD)))
    arn = setting(names.SETTING_BACKFILL_STATE_MACHINE_ARN)
    if not use_distributed(params, threshold):
        log.info("path: %s (max_objects %s <= distributed_threshold %d)", PAGED, params.max_objects, threshold)
        return TASK_PAGED
    if not arn:
        log.warning("path: %s (run is large, but [%s] %s is not set)", PAGED, CONF_SECTION,
                    names.SETTING_BACKFILL_STATE_MACHINE_ARN)
        return TASK_PAGED
    if not params.dry_run and not setting(names.SETTING_STATE_MACHINE_ARN):
        raise AirflowFailException(f"no state machine: set [{CONF_SECTION}] {names.SETTING_STATE_MACHINE_ARN}")
    name = run_execution_name(dag_id, run_id)
    log.info("path: %s (max_objects %s, distributed_threshold %d): backfill execution %s",
             DISTRIBUTED, params.max_objects, threshold, name)
    ti.xcom_push(key=XCOM_BACKFILL, value={"arn": arn, "name": name, "input": backfill_input(params)})
    return TASK_START_BACKFILL


def collect(values: dict[str, Any], execution_output: Optional[dict[str, Any]], execution_arn: str) -> dict[str, Any]:
    """Sum the backfill execution's batch results (from its ResultWriter manifest) for the report."""
    params = _params(values)
    s3 = S3Hook(aws_conn_id=AWS_CONN_ID).get_conn()
    try:
        result = summarize(s3, execution_output or {})
    except ValueError as exc:
        raise AirflowException(str(exc)) from exc
    if params.include_failed and result["batches_succeeded"] and not result["include_failed"]:
        # Each batch echoes the include_failed it was given; none did, so the state machine's
        # ItemBatcher does not pass it on and failed objects were held back, not sent.
        raise AirflowFailException("include_failed was asked for, but the backfill state machine did not pass it "
                                   "to its batches (ItemBatcher BatchInput): failed objects were not sent")
    result.update({
        "path": DISTRIBUTED,
        "dry_run": params.dry_run,
        "pipeline_version": params.pipeline_version,
        "backfill_execution_arn": execution_arn,
        "estimated_cost_usd": estimate_cost_usd(result["stale_by_modality"], result["stale_bytes_by_modality"]),
    })
    log.info("backfill %s: %d batches succeeded, %d failed; results in %s", console_link(execution_arn),
             result["batches_succeeded"], result["batches_failed"], result["results"])
    return result


def reprocess(values: dict[str, Any], state_machine_arn: Optional[str] = None) -> dict[str, Any]:
    """Find stale objects and send them through the pipeline (or only count them: dry run).

    Takes the DAG's params; returns the Tally as a dict (the task's XCom). Raises
    AirflowFailException for bad params (no retry can fix them).
    """
    params = _params(values)
    arn = state_machine_arn or setting(names.SETTING_STATE_MACHINE_ARN)
    if not params.dry_run and not arn:
        raise AirflowFailException(f"no state machine: set [{CONF_SECTION}] {names.SETTING_STATE_MACHINE_ARN}")
    log.info("reprocess (path: %s) %s", PAGED, params)

    s3 = S3Hook(aws_conn_id=AWS_CONN_ID).get_conn()
    db = PostgresHook(postgres_conn_id=DB_CONN_ID)
    sfn = StepFunctionHook(aws_conn_id=AWS_CONN_ID)
    tally = Tally()
    remaining = params.max_objects
    listing = s3.get_paginator("list_object_versions").paginate(
        Bucket=params.bucket, Prefix=params.prefix, PaginationConfig={"PageSize": PAGE_SIZE}
    )
    for number, page in enumerate(listing, start=1):
        refs = select(params.bucket, page.get("Versions", []), params, tally)
        checked = stale(refs, params.pipeline_version, db.get_records, include_failed=params.include_failed)
        found = checked.stale
        if remaining is not None and len(found) >= remaining:
            tally.truncated = len(found) > remaining or bool(page.get("IsTruncated"))
            checked = replace(checked, stale=found[:remaining])
            found = checked.stale
        tally.count_checked(checked)
        tally.sample_keys.extend(ref.key for ref in found[: max(0, KEEP - len(tally.sample_keys))])
        batches = plan(found, params.pipeline_version, attempts=checked.attempts)
        tally.executions_planned += len(batches)
        if not params.dry_run:
            send(lambda name, body: sfn.start_execution(state_machine_arn=arn, name=name, state_machine_input=body),
                 batches, tally)
        log.info("page %d: listed %d, selected %d, stale %d so far, held back %d, sent %d, already sent %d, failed %d",
                 number, tally.listed, tally.selected, tally.stale, tally.held_back, tally.sent, tally.already_sent,
                 tally.failed)
        if remaining is not None:
            remaining -= len(found)
            if remaining <= 0:
                break
    tally.include_failed = params.include_failed
    result = tally.as_dict()
    result["path"] = PAGED
    result["dry_run"] = params.dry_run
    result["pipeline_version"] = params.pipeline_version
    result["estimated_cost_usd"] = estimate_cost_usd(tally.stale_by_modality, tally.stale_bytes_by_modality)
    return result


def report(result: dict[str, Any]) -> dict[str, Any]:
    """Log the outcome of a run (links to its executions) and fail the task if sends failed."""
    verb = "would send" if result["dry_run"] else "sent"
    log.info(
        "path %s; pipeline version %s: listed %d, selected %d, up to date %d, stale %d; %s %d in %d executions; "
        "already sent %d; failed %d%s",
        result.get("path", PAGED), result["pipeline_version"], result["listed"], result["selected"], result["up_to_date"], result["stale"],
        verb, result["stale"] if result["dry_run"] else result["sent"], result["executions_planned"],
        result["already_sent"], result["failed"], " (max_objects reached)" if result["truncated"] else "",
    )
    log.info("stale by modality: %s; estimated cost (USD): %s", result["stale_by_modality"], result["estimated_cost_usd"])
    if result.get("held_back"):
        log.warning("held back %d failed objects a retry cannot fix (a backfill with include_failed sends them): %s",
                    result["held_back"], result["held_back_by_error"])
    for key in result["sample_keys"]:
        log.info("stale: %s", key)
    for arn in result["execution_arns"]:
        log.info("execution: %s", console_link(arn))
    if result.get("batches_failed"):
        log.warning("%d backfill batches failed after their retries: %s", result["batches_failed"],
                    "; ".join(result["failed_batch_errors"][:5]))
    if result["failed"]:
        errors = [*result["errors"], *result.get("failed_batch_errors", [])]
        raise AirflowException(f"{result['failed']} objects not sent: " + "; ".join(errors[:5]))
    return {k: result[k] for k in ("path", "listed", "selected", "up_to_date", "stale", "held_back", "held_back_by_error",
                                   "sent", "already_sent", "failed") if k in result}
