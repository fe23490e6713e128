"""store Lambda: StepResult (from embed) -> StoreResult (see functions/processing/steps/store.py).

Env: STAGING_BUCKET, DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_AUTH (+ DB_SECRET_ARN). Layers: core only.
"""
from __future__ import annotations

from functions.common.constants import METRIC_FILES_PROCESSED
from functions.common.events import StoreResult
from functions.common.lazy import PerContainer
from functions.common.observability import count_file
from functions.processing.steps import store
from functions.processing.steps.context import Context
from functions.processing.steps.entry import step_handler


def _count(result: StoreResult) -> None:
    if result.status == "succeeded":
        count_file(METRIC_FILES_PROCESSED, result.modality)


# S3, settings, the model client and the database, made on the first invocation.
resources = PerContainer(Context.from_env)
lambda_handler = step_handler(store.run, resources, on_result=_count)
