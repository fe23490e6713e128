"""embed Lambda: StepResult -> StepResult (see functions/processing/steps/embed.py).

Env: STAGING_BUCKET, MODEL_ENDPOINTS, MODEL_BATCH_ITEMS. Layers: core only.
"""
from __future__ import annotations

from functions.common.lazy import PerContainer
from functions.processing.steps import embed
from functions.processing.steps.context import Context
from functions.processing.steps.entry import step_handler

# S3, settings and the model client (no database), made on the first invocation.
resources = PerContainer(lambda: Context.from_env(with_db=False))
lambda_handler = step_handler(embed.run, resources)
