"""generate Lambda: StepResult -> StepResult (see functions/processing/generate_step.py).

Env: STAGING_BUCKET, MODEL_ENDPOINTS, MODEL_BATCH_ITEMS. Layers: core only.
"""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.common.constants import METRICS_NAMESPACE, POWERTOOLS_SERVICE
from functions.common.events import StepResult
from functions.processing import generate_step
from functions.processing.context import Context

logger = Logger(service=POWERTOOLS_SERVICE)
tracer = Tracer(service=POWERTOOLS_SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=POWERTOOLS_SERVICE)
_context: Context | None = None


def _clients() -> Context:
    global _context
    if _context is None:
        _context = Context.from_env(with_db=False)
    return _context


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    previous = StepResult.model_validate(event)
    logger.thread_safe_append_keys(bucket=previous.object.bucket, key=previous.object.key, modality=previous.object.modality)
    return generate_step.run(previous, _clients()).model_dump(mode="json")
