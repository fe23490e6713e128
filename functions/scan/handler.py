"""scan Lambda: StepResult (from extract) -> StepResult (see functions/processing/steps/scan.py).

Env: STAGING_BUCKET, MODEL_ENDPOINTS (+ MODEL_COMPONENTS, MODEL_BATCH_ITEMS), COMPLIANCE. Layers: core only.
"""
from __future__ import annotations

from functools import partial

from functions.common.lazy import PerContainer
from functions.processing.steps import scan
from functions.processing.steps.context import Context
from functions.processing.steps.entry import step_handler

# S3, settings and the model client, made on the first invocation (no database: store writes).
resources = PerContainer(partial(Context.from_env, with_db=False))
lambda_handler = step_handler(scan.run, resources)
