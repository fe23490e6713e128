"""store Lambda: StepResult (from embed) -> StoreResult (see functions/processing/store_step.py).

Env: STAGING_BUCKET, DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_AUTH (+ DB_SECRET_ARN). Layers: core only.
"""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.common.constants import (
    METRIC_DIMENSION_MODALITY,
    METRIC_FILES_PROCESSED,
    METRICS_NAMESPACE,
    POWERTOOLS_SERVICE,
)
from functions.common.events import StepResult
from functions.common.lazy import PerContainer
from functions.processing import store_step
from functions.processing.context import Context

logger = Logger(service=POWERTOOLS_SERVICE)
tracer = Tracer(service=POWERTOOLS_SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=POWERTOOLS_SERVICE)
# What the step needs (S3, settings, model client, database), made on the first invocation.
resources = PerContainer(Context.from_env)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    previous = StepResult.model_validate(event)
    logger.thread_safe_append_keys(bucket=previous.object.bucket, key=previous.object.key, modality=previous.object.modality)
    result = store_step.run(previous, resources.get())
    if result.status == "succeeded":
        metrics.add_dimension(name=METRIC_DIMENSION_MODALITY, value=result.modality)
        metrics.add_metric(name=METRIC_FILES_PROCESSED, unit=MetricUnit.Count, value=1)
    return result.model_dump(mode="json")
