"""generate Lambda: StepResult -> StepResult (see functions/processing/generate_step.py).

Env: STAGING_BUCKET, MODEL_ENDPOINTS, MODEL_BATCH_ITEMS. Layers: core only.
"""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.common.constants import POWERTOOLS_SERVICE
from functions.common.events import StepResult
from functions.common.lazy import PerContainer
from functions.processing import generate_step
from functions.processing.context import Context

logger = Logger(service=POWERTOOLS_SERVICE)
tracer = Tracer(service=POWERTOOLS_SERVICE)
# What the step needs (S3, settings, model client; no database), made on the first invocation.
resources = PerContainer(lambda: Context.from_env(with_db=False))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    previous = StepResult.model_validate(event)
    logger.thread_safe_append_keys(bucket=previous.object.bucket, key=previous.object.key, modality=previous.object.modality)
    return generate_step.run(previous, resources.get()).model_dump(mode="json")
