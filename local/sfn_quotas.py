"""Step Functions quotas in the local run: moto's interpreter says no where AWS says no.

moto executes the real ASL (its Step Functions "parser", from LocalStack) but does not enforce
what bounds an execution on AWS. `install()` patches it so that:

* history: an execution whose history would pass MAX_HISTORY_EVENTS (25,000) fails, as AWS fails
  it: its last event, number 25,000, is ExecutionFailed with error States.Runtime and cause "The
  execution reached the maximum number of history events (25000).", and nothing after it
  happens. The quota: https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
  ("If the execution history reaches this quota, the execution will fail"); the error and
  cause as AWS reports them (the quota page names neither): an execution history quoted in
  https://github.com/floci-io/floci/issues/2734 and https://github.com/loads/ardere/issues/86.
  Each Distributed Map child execution has a history (and quota) of its own, as on AWS; moto
  runs children in-process and keeps no history for them, so each child is counted apart and
  fails alone (its Map Run then counts a failed item).
* payloads: a Task whose input after Parameters passes 256 KiB fails with
  States.DataLimitExceeded (moto already checks a state's output and a task's result);
  https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
* States.ALL catches neither States.DataLimitExceeded nor States.Runtime (same page: "can't
  catch the States.DataLimitExceeded terminal error or Runtime error types"); moto's does.
* a Distributed Map Run fails with States.ExceedToleratedFailureThreshold when more items fail
  than it tolerates (none, by default); moto counts failed children and carries on.
  https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html

Installed by the local stand-in (local/aws.py MotoServer.start; uninstall() in stop()); nothing
in the pipeline's code knows about it. `history_limit(n)` lowers the history quota for a test.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Optional

from functions.common.constants import MAX_HISTORY_EVENTS, MAX_STATE_PAYLOAD_BYTES

HISTORY_ERROR = "States.Runtime"
DATA_LIMIT_ERROR = "States.DataLimitExceeded"
TOLERANCE_ERROR = "States.ExceedToleratedFailureThreshold"
# Events that end an execution: one of them may be the last event a full history holds.
_CLOSING = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}

_limit = MAX_HISTORY_EVENTS
_originals: dict[str, tuple[Any, str, Callable[..., Any]]] = {}
_install_lock = threading.Lock()


def history_cause(limit: int) -> str:
    return f"The execution reached the maximum number of history events ({limit})."


class _HistoryQuota:
    """The history count of one execution (a root execution, or one Distributed Map child)."""

    def __init__(self, env: Any, limit: int, written: int = 0) -> None:
        self.env, self.limit, self.written = env, limit, written
        self.lock = threading.Lock()
        self.error: Optional[dict[str, str]] = None  # set once the quota is reached

    def admit(self, manager: Any, original: Callable[..., Any], context: Any, event_type: Any,
              args: tuple, kwargs: dict) -> Any:
        name = str(getattr(event_type, "value", event_type))
        with self.lock:
            if self.error is not None:  # the execution already failed: nothing more is written
                return context.last_published_event_id
            if self.written + 1 < self.limit or (self.written + 1 == self.limit and name in _CLOSING):
                self.written += 1
                return original(manager, context, event_type, *args, **kwargs)
            self.error = {"error": HISTORY_ERROR, "cause": history_cause(self.limit)}
            self.written += 1
            event_id = self._write_failure(manager, original, context)
        self.env.set_error(self._details())
        return event_id

    def _details(self) -> Any:
        from moto.stepfunctions.parser.api import ExecutionFailedEventDetails

        return ExecutionFailedEventDetails(**self.error)

    def _write_failure(self, manager: Any, original: Callable[..., Any], context: Any) -> Any:
        from moto.stepfunctions.parser.api import HistoryEventType
        from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

        return original(manager, context, HistoryEventType.ExecutionFailed,
                        EventDetails(executionFailedEventDetails=self._details()))


def _quota_of(env: Any) -> Optional[_HistoryQuota]:
    return getattr(getattr(env, "event_manager", None), "_sfn_history_quota", None)


def _patch(owner: Any, attribute: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    key = f"{owner.__module__}.{owner.__qualname__}.{attribute}"
    original = owner.__dict__[attribute]
    _originals[key] = (owner, attribute, original)
    setattr(owner, attribute, make(original))


def install() -> None:
    """Patch moto's Step Functions interpreter (idempotent)."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (
        DistributedItemProcessorWorker,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    with _install_lock:
        if _originals:
            return

        # -- history ----------------------------------------------------------------------
        def add_event(original):
            def patched(self, context, event_type, *args, **kwargs):
                quota = getattr(self, "_sfn_history_quota", None)
                if quota is None:
                    return original(self, context, event_type, *args, **kwargs)
                return quota.admit(self, original, context, event_type, args, kwargs)
            return patched

        def evaluation_environment(original):
            def patched(self):
                env = original(self)
                env.event_manager._sfn_history_quota = _HistoryQuota(env, _limit)
                return env
            return patched

        def set_error(original):
            def patched(self, error):
                quota = _quota_of(self)
                if quota is not None and quota.error is not None:  # the quota's error is the last word
                    error = quota._details()
                return original(self, error)
            return patched

        def eval_job(original):
            def patched(self, env, job):
                # A child execution: a history of its own, which starts with ExecutionStarted.
                env.event_manager = EventManager()
                env.event_manager._sfn_history_quota = _HistoryQuota(env, _limit, written=1)
                return original(self, env, job)
            return patched

        _patch(EventManager, "add_event", add_event)
        _patch(ExecutionWorker, "_get_evaluation_environment", evaluation_environment)
        _patch(Environment, "set_error", set_error)
        _patch(DistributedItemProcessorWorker, "_eval_job", eval_job)

        # -- payloads ---------------------------------------------------------------------
        def data_limit(env, what: str) -> FailureEventException:
            error = StatesErrorNameType.StatesStatesDataLimitExceeded
            return FailureEventException(failure_event=FailureEvent(
                env=env, error_name=StatesErrorName(typ=error), event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                    error=error.to_name(),
                    cause=f"The state/task '{env.next_state_name}' {what} with a size exceeding the maximum "
                          "number of bytes service limit."))))

        def eval_parameters(original):
            def patched(self, env):
                parameters = original(self, env)
                if len(to_json_str(parameters).encode("utf-8")) > MAX_STATE_PAYLOAD_BYTES:
                    raise data_limit(env, "has an input, after Parameters,")
                return parameters
            return patched

        _patch(StateTask, "_eval_parameters", eval_parameters)
        _patch(StateTaskLambda, "_eval_parameters", eval_parameters)

        uncatchable = {DATA_LIMIT_ERROR, HISTORY_ERROR}

        def error_equals(original):
            def patched(self, env):
                error_name = env.stack[-1]
                if (ErrorEqualsDecl._STATE_ALL_ERROR in self.error_names
                        and getattr(error_name, "error_name", None) in uncatchable):
                    env.stack.pop()
                    env.stack.append(False)
                    return
                return original(self, env)
            return patched

        _patch(ErrorEqualsDecl, "_eval_body", error_equals)

        # -- Distributed Map failure threshold -------------------------------------------
        def map_run(original):
            def patched(self, env, eval_input):
                original(self, env, eval_input)
                record = eval_input.map_run_record
                counter = record.item_counter
                failed = counter.failed.get() + counter.timed_out.get() + counter.aborted.get()
                total = max(counter.total.get(), 1)
                # Exact when at most one threshold is set (moto gives an unset one the default 0).
                if failed > record.tolerated_failure_count and 100.0 * failed / total > record.tolerated_failure_percentage:
                    error = StatesErrorNameType.StatesExceedToleratedFailureThreshold
                    raise FailureEventException(failure_event=FailureEvent(
                        env=env, error_name=StatesErrorName(typ=error), event_type=HistoryEventType.MapRunFailed,
                        event_details=EventDetails(mapRunFailedEventDetails={
                            "error": error.to_name(),
                            "cause": "The specified tolerated failure threshold was exceeded"})))
            return patched

        _patch(DistributedIterationComponent, "_map_run", map_run)


def installed() -> bool:
    return bool(_originals)


def uninstall() -> None:
    """Put moto's interpreter back as it was."""
    with _install_lock:
        for owner, attribute, original in _originals.values():
            setattr(owner, attribute, original)
        _originals.clear()


@contextlib.contextmanager
def history_limit(limit: int) -> Iterator[None]:
    """Executions started inside the block get a history quota of `limit` events (tests)."""
    global _limit
    saved, _limit = _limit, limit
    try:
        yield
    finally:
        _limit = saved


__all__ = ["install", "installed", "uninstall", "history_limit", "history_cause", "HISTORY_ERROR", "DATA_LIMIT_ERROR",
           "TOLERANCE_ERROR"]
