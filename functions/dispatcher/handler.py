"""dispatcher Lambda: MSK event source mapping batch -> Step Functions executions.

Env: STATE_MACHINE_ARN, PIPELINE_VERSION, FAILED_BUCKET. Layers: core only.
Poison records are parked under s3://FAILED_BUCKET/failed/kafka/ and do not fail the batch.
Records that a retry can fix (StartExecution throttled, 5xx) come back as a partial batch
response, {"batchItemFailures": [{"itemIdentifier": {"partition": "<topic>-<partition>",
"offset": <offset>}}]}, so the mapping (FunctionResponseTypes ReportBatchItemFailures)
retries only them; execution names stay the same on that retry (functions.streaming.dispatch).
A misconfiguration raises, and the mapping retries the whole batch, then sends it to its
on-failure destination. https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html
"""
from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.common.constants import (
    ENV_FAILED_BUCKET,
    ENV_PIPELINE_VERSION,
    ENV_STATE_MACHINE_ARN,
)
from functions.common.lazy import PerContainer, aws_client
from functions.common.observability import logger, tracer
from functions.streaming.dispatch import dispatch

# Standard-mode retries (aws_client) absorb short throttling before we hand records back to the ESM.
step_functions = PerContainer(lambda: aws_client("stepfunctions"))
s3 = PerContainer(lambda: aws_client("s3"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An MSK event source mapping batch in; {"batchItemFailures": [...]} out (empty when every
    record was dispatched or parked). Raises DispatchConfigError when a retry cannot help."""
    result = dispatch(
        event,
        sfn=step_functions.get(),
        s3=s3.get(),
        state_machine_arn=os.environ[ENV_STATE_MACHINE_ARN],
        failed_bucket=os.environ[ENV_FAILED_BUCKET],
        pipeline_version=os.environ[ENV_PIPELINE_VERSION],
    )
    for uri in result.poison:
        logger.error("poison record parked", extra={"failed_item": uri})
    if result.retry:
        logger.warning("records handed back to the event source mapping for a retry", extra=result.as_dict())
    else:
        logger.info("batch dispatched", extra=result.as_dict())
    # Only the documented partial batch response: an empty list means the whole batch succeeded.
    return {"batchItemFailures": result.batch_item_failures()}
