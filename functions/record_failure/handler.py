"""record_failure Lambda: FailureInput (built by each task's Catch) -> StoreResult(status="failed").

Env: DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_AUTH (+ DB_SECRET_ARN). Layers: core only.
"""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.common.constants import (
    METRIC_DIMENSION_MODALITY,
    METRIC_FILES_FAILED,
    METRICS_NAMESPACE,
    POWERTOOLS_SERVICE,
)
from functions.common.db import Database
from functions.common.events import FailureInput
from functions.common.lazy import PerContainer
from functions.processing.store_step import record_failure

logger = Logger(service=POWERTOOLS_SERVICE)
tracer = Tracer(service=POWERTOOLS_SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=POWERTOOLS_SERVICE)
database = PerContainer(Database)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failure = FailureInput.model_validate(event)
    logger.thread_safe_append_keys(bucket=failure.object.bucket, key=failure.object.key, modality=failure.object.modality)
    result = record_failure(database.get(), failure)
    logger.warning("object failed", extra={"failed_step": failure.failed_step, "error": failure.error.Error, "reason": result.reason})
    if result.status == "failed":
        metrics.add_dimension(name=METRIC_DIMENSION_MODALITY, value=result.modality)
        metrics.add_metric(name=METRIC_FILES_FAILED, unit=MetricUnit.Count, value=1)
    return result.model_dump(mode="json")
