"""reprocess_batch Lambda: one batch of the backfill state machine's Distributed Map.

Env: STATE_MACHINE_ARN (the pipeline's), DB_* (RDS Proxy, IAM auth). Layers: core only.
Input: {"Items": [...listObjectsV2 items...], "BatchInput": {...run parameters...}} (see
functions/reprocess/batch.py). Returns the batch's counts. Raises RetryableSendError when
StartExecution stays throttled and DatabaseUnavailableError when the database cannot be
reached: the state machine retries the batch by those names, which is safe because
execution names are deterministic. Bad run parameters raise ValueError (no retry).
"""
from __future__ import annotations

import os
from typing import Any, Optional

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.common.aws_errors import is_not_found
from functions.common.constants import ENV_STATE_MACHINE_ARN
from functions.common.db import Database
from functions.common.lazy import PerContainer, aws_client
from functions.common.observability import logger, tracer
from functions.reprocess.batch import HEAD_CONCURRENCY, BatchEvent, process_batch

_db = Database()
# Standard-mode retries (aws_client) absorb short throttling before the batch is handed back
# to the state machine's Retry; the pool matches the HeadObject threads.
s3 = PerContainer(lambda: aws_client("s3", max_pool_connections=HEAD_CONCURRENCY))
step_functions = PerContainer(lambda: aws_client("stepfunctions", max_pool_connections=HEAD_CONCURRENCY))


def _head(bucket: str, key: str) -> Optional[dict[str, Any]]:
    from botocore.exceptions import ClientError

    try:
        return s3.get().head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def _query(sql: str, params: dict) -> list[tuple]:
    with _db.transaction() as conn:
        return conn.execute(sql, params).fetchall()


def _start(name: str, input_json: str) -> str:
    return step_functions.get().start_execution(
        stateMachineArn=os.environ[ENV_STATE_MACHINE_ARN], name=name, input=input_json)["executionArn"]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = parse(event=event, model=BatchEvent)
    result = process_batch(batch, head=_head, query=_query, start=_start)
    logger.info("batch reprocessed", extra={k: v for k, v in result.items() if not isinstance(v, list)})
    return result
