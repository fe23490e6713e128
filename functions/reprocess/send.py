"""Starting a run's planned executions and counting what happened to each (sent, already
sent, failed), with the error a later attempt can fix raised for the state machine to retry."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from functions.common.aws_errors import error_code, is_retryable
from functions.common.constants import MODALITIES, UNSUPPORTED
from functions.common.events import ExecutionInput
from functions.reprocess.tally import KEEP, Tally


class RetryableSendError(Exception):
    """StartExecution was throttled or failed on the service side after the client's own
    retries: a later attempt can succeed (names are deterministic, so retrying is safe)."""


def object_count(execution_input: ExecutionInput) -> int:
    """How many objects one execution carries, over every modality."""
    return sum(len(getattr(execution_input, m)) for m in (*MODALITIES, UNSUPPORTED))


def send(start: Callable[[str, str], str], planned: Sequence[tuple[str, ExecutionInput]], tally: Tally,
         raise_retryable: bool = False) -> None:
    """Start each planned execution with `start(name, input_json) -> execution ARN`; count in `tally`.

    ExecutionAlreadyExists means the same objects for the same pipeline version were sent
    before (running or done): counted as already sent. Other client errors are counted as
    failed with their message; with `raise_retryable`, the ones a later attempt can fix
    (aws_errors.is_retryable: throttling, service-side errors, timeouts) raise
    RetryableSendError instead (the Lambda lets its state machine retry the whole batch).
    Any other exception propagates.
    https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html
    """
    for name, execution_input in planned:
        count = object_count(execution_input)
        try:
            execution_arn = start(name, execution_input.model_dump_json())
        except Exception as exc:  # a botocore ClientError, or any error shaped like one
            if not isinstance(getattr(exc, "response", None), dict):
                raise
            code = error_code(exc)
            if code == "ExecutionAlreadyExists":
                tally.already_sent += count
                continue
            if raise_retryable and is_retryable(exc):
                raise RetryableSendError(f"{name}: {code}: {exc}") from exc
            tally.failed += count
            if len(tally.errors) < KEEP:
                tally.errors.append(f"{name}: {code}: {exc}")
            continue
        tally.sent += count
        tally.executions_started += 1
        if len(tally.execution_arns) < KEEP:
            tally.execution_arns.append(execution_arn)
