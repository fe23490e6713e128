"""record_failure Lambda: FailureInput (built by each task's Catch) -> StoreResult(status="failed").

Env: DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_AUTH (+ DB_SECRET_ARN). Layers: core only.
"""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.common.constants import METRIC_FILES_FAILED
from functions.common.db import Database
from functions.common.events import FailureInput
from functions.common.lazy import PerContainer
from functions.common.observability import count_file, logger, metrics, tracer
from functions.processing.results.failures import record_failure
from functions.processing.steps.context import log_object

database = PerContainer(Database)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failure = FailureInput.model_validate(event)
    log_object(failure.object)
    result = record_failure(database.get(), failure)
    logger.warning("object failed", extra={"failed_step": failure.failed_step, "error": failure.error.Error, "reason": result.reason})
    if result.status == "failed":
        count_file(METRIC_FILES_FAILED, result.modality)
    return result.model_dump(mode="json")
