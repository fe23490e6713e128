"""Airflow side of a reprocessing run: provider hooks around the plain logic in `core`.

One task walks the bucket's listing one page at a time (S3Hook's client, ListObjectVersions,
1,000 versions per page), asks PostgreSQL which versions of the page are stale
(PostgresHook), and starts pipeline executions for them (StepFunctionHook) with deterministic
names. Memory stays bounded by one page; `max_objects` bounds the work of one run.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from airflow.configuration import conf
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.step_function import StepFunctionHook
from airflow.providers.postgres.hooks.postgres import PostgresHook
from botocore.exceptions import ClientError

from functions.common.constants import MODALITIES, UNSUPPORTED

from multimodal_reprocess.core import (
    AWS_CONN_ID,
    CONF_SECTION,
    DB_CONN_ID,
    PAGE_SIZE,
    RunParams,
    Tally,
    console_link,
    estimate_cost_usd,
    plan,
    select,
    stale,
)

log = logging.getLogger(__name__)
# How many execution ARNs / errors / sample keys a run keeps for its XCom and log.
KEEP = 25


def setting(name: str, default: str = "") -> str:
    """A deployment setting: airflow_configuration_options "pipeline.<name>" on MWAA."""
    return conf.get(CONF_SECTION, name, fallback=default) or default


def reprocess(values: dict[str, Any], state_machine_arn: Optional[str] = None) -> dict[str, Any]:
    """Find stale objects and send them through the pipeline (or only count them: dry run).

    Takes the DAG's params; returns the Tally as a dict (the task's XCom). Raises
    AirflowFailException for bad params (no retry can fix them).
    """
    try:
        params = RunParams.from_mapping(values)
    except ValueError as exc:
        raise AirflowFailException(f"bad params: {exc}") from exc
    arn = state_machine_arn or setting("state_machine_arn")
    if not params.dry_run and not arn:
        raise AirflowFailException("no state machine: set [pipeline] state_machine_arn")
    log.info("reprocess %s", params)

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
        found = stale(refs, params.pipeline_version, db.get_records)
        tally.up_to_date += len(refs) - len(found)
        if remaining is not None and len(found) >= remaining:
            tally.truncated = len(found) > remaining or bool(page.get("IsTruncated"))
            found = found[:remaining]
        tally.count_stale(found)
        tally.sample_keys.extend(ref.key for ref in found[: max(0, KEEP - len(tally.sample_keys))])
        batches = plan(found, params.pipeline_version)
        tally.executions_planned += len(batches)
        if not params.dry_run:
            for name, execution_input in batches:
                _start(sfn, arn, name, execution_input, tally)
        log.info("page %d: listed %d, selected %d, stale %d so far, sent %d, already sent %d, failed %d",
                 number, tally.listed, tally.selected, tally.stale, tally.sent, tally.already_sent, tally.failed)
        if remaining is not None:
            remaining -= len(found)
            if remaining <= 0:
                break
    result = tally.as_dict()
    result["dry_run"] = params.dry_run
    result["pipeline_version"] = params.pipeline_version
    result["estimated_cost_usd"] = estimate_cost_usd(tally.stale_by_modality, tally.stale_bytes_by_modality)
    return result


def _start(sfn: StepFunctionHook, arn: str, name: str, execution_input: Any, tally: Tally) -> None:
    count = sum(len(getattr(execution_input, m)) for m in (*MODALITIES, UNSUPPORTED))
    try:
        execution_arn = sfn.start_execution(state_machine_arn=arn, name=name, state_machine_input=execution_input.model_dump_json())
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ExecutionAlreadyExists":
            # Same name = same objects and pipeline version: sent before (running or done).
            tally.already_sent += count
            return
        tally.failed += count
        if len(tally.errors) < KEEP:
            tally.errors.append(f"{name}: {code}: {exc}")
        log.warning("could not start %s (%d objects): %s", name, count, exc)
        return
    tally.sent += count
    tally.executions_started += 1
    if len(tally.execution_arns) < KEEP:
        tally.execution_arns.append(execution_arn)


def report(result: dict[str, Any]) -> dict[str, Any]:
    """Log the outcome of a run (links to its executions) and fail the task if sends failed."""
    verb = "would send" if result["dry_run"] else "sent"
    log.info(
        "pipeline version %s: listed %d, selected %d, up to date %d, stale %d; %s %d in %d executions; "
        "already sent %d; failed %d%s",
        result["pipeline_version"], result["listed"], result["selected"], result["up_to_date"], result["stale"],
        verb, result["stale"] if result["dry_run"] else result["sent"], result["executions_planned"],
        result["already_sent"], result["failed"], " (max_objects reached)" if result["truncated"] else "",
    )
    log.info("stale by modality: %s; estimated cost (USD): %s", result["stale_by_modality"], result["estimated_cost_usd"])
    for key in result["sample_keys"]:
        log.info("stale: %s", key)
    for arn in result["execution_arns"]:
        log.info("execution: %s", console_link(arn))
    if result["failed"]:
        raise AirflowException(f"{result['failed']} objects not sent: " + "; ".join(result["errors"][:5]))
    return {k: result[k] for k in ("listed", "selected", "up_to_date", "stale", "sent", "already_sent", "failed")}
