"""The Lambda entry of a step that takes the previous StepResult: parse it, name the object in
every log line, run the step with the container's clients, return its result as JSON."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from functions.common.events import StepResult
from functions.common.lazy import PerContainer
from functions.common.observability import logger, metrics, tracer
from functions.processing.steps.context import Context, log_object

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def step_handler(run: Callable[[StepResult, Context], BaseModel], resources: PerContainer[Context],
                 on_result: Callable[[Any], None] | None = None) -> Handler:
    """A handler for `run` with the clients `resources` makes on the first invocation (a module
    global of the handler, where the local Lambda stand-in finds and closes them); `on_result`
    sees each result (to add metrics, which are then published when the handler returns)."""

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        previous = StepResult.model_validate(event)
        log_object(previous.object)
        result = run(previous, resources.get())
        if on_result is not None:
            on_result(result)
        return result.model_dump(mode="json")

    return metrics.log_metrics(lambda_handler) if on_result is not None else lambda_handler
