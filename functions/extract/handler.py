"""extract Lambda (see functions/processing/steps/extract.py), three events of the state machine:

    WorkItem -> StepResult (segments set for a long object: it is only planned)
    SegmentItem -> SegmentResult (one segment of a long object, from the segments Map)
    StepResult with segments -> StepResult (the segments assembled)

Env: STAGING_BUCKET, MODEL_ENDPOINTS, MAX_OBJECT_BYTES, VIDEO_CHUNK_SECONDS, TEXT_CHUNK_TOKENS,
TEXT_CHUNK_OVERLAP, MODEL_BATCH_ITEMS, DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_AUTH (+ DB_SECRET_ARN).
Layers: core + media.
"""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from functions.common.errors import InvalidObjectError
from functions.common.events import SegmentItem, StepResult, WorkItem
from functions.common.lazy import PerContainer
from functions.common.observability import logger, tracer
from functions.processing.steps import extract, segments
from functions.processing.steps.context import Context, log_object

# What the step needs (S3, settings, model client, database), made on the first invocation.
resources = PerContainer(Context.from_env)


def _parse(event: dict[str, Any]) -> WorkItem | SegmentItem | StepResult:
    if "segment" in event:
        return SegmentItem.model_validate(event)
    if event.get("segments"):
        return StepResult.model_validate(event)
    return WorkItem.model_validate(event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    item = _parse(event)
    log_object(item.object, segment=item.segment.number if isinstance(item, SegmentItem) else None)
    result: BaseModel
    try:
        if isinstance(item, SegmentItem):
            result = segments.run_segment(item, resources.get())
        elif isinstance(item, StepResult):
            result = segments.assemble(item, resources.get())
        else:
            result = extract.run(item, resources.get())
    except InvalidObjectError as exc:
        logger.warning("object refused", extra={"reason": str(exc), "error": type(exc).__name__})
        raise
    return result.model_dump(mode="json")
