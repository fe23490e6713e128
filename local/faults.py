"""Fault injection for the local pipeline and its tests. Off unless a test arms it.

`Faults` installs itself on the SageMaker Runtime stand-in (`runtime.interceptor`), on the
database test seam (`db.fault_hook`) and on the in-process Lambda routes (local.lambda_dispatch),
and removes everything on exit. Faults are chosen per object by a marker in the object's key or
text, so one pipeline run can carry several faults next to files that must be unaffected:

* model faults: an InvokeEndpoint request whose body contains `marker` is answered by the
  service stand-in with ThrottlingException, a ModelError carrying the container's 503, or
  the ModelError of the 60 s invocation timeout (`times` requests, or every one);
* database faults: refuse the next N connections (the server is down), or drop the
  connection just before a transaction that wrote a marked object commits;
* Lambda crashes: a step finishes its work on a marked object and then raises an error of a
  given name (as a Lambda that dies after its side effects would), `times` times;
* `fast_state_retries`: moto's Step Functions waits out each Retry interval with a real
  sleep; this records the interval it asked for and sleeps a fraction of it.

Every fault that fires is appended to `Faults.fired` as (kind, detail).
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from local.sagemaker_runtime import FAULTS as MODEL_FAULTS


@dataclass
class _Rule:
    kind: str
    marker: str
    times: Optional[int]  # None: every time
    fired: int = 0

    def take(self) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True


class CrashAfterWork(Exception):
    """Base of the injected crash errors; the subclass's name is what Step Functions sees."""


def crash_error(name: str) -> type[CrashAfterWork]:
    """An exception class called `name` (e.g. "Sandbox.Timedout", what Lambda reports on a timeout)."""
    return type(name, (CrashAfterWork,), {})


@dataclass
class Faults:
    """Armed faults; use as a context manager around the pipeline run (installs and removes).
    `runtime` is the pipeline's SageMaker Runtime stand-in (LocalPipeline.profile.runtime)."""

    runtime: Any = None
    fired: list[tuple[str, str]] = field(default_factory=list)
    model_requests: dict[str, int] = field(default_factory=dict)  # marker -> requests seen
    _model: list[_Rule] = field(default_factory=list)
    _commit: list[_Rule] = field(default_factory=list)
    _refuse_connects: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _routes: list[str] = field(default_factory=list)

    # -- arming ----------------------------------------------------------------------------
    def model(self, kind: str, marker: str, times: Optional[int] = None) -> "Faults":
        """Model requests whose body contains `marker` fail with `kind` (throttle | 5xx | timeout)."""
        if kind not in MODEL_FAULTS:
            raise ValueError(f"kind must be one of {MODEL_FAULTS}")
        if self.runtime is None:
            raise ValueError("model faults need the pipeline's SageMaker Runtime stand-in: Faults(runtime=...)")
        self._model.append(_Rule(kind, marker, times))
        self.model_requests.setdefault(marker, 0)
        return self

    def refuse_db_connections(self, count: int) -> "Faults":
        """The next `count` connection attempts fail as if the server were down."""
        self._refuse_connects += count
        return self

    def drop_db_connection_before_commit(self, key_marker: str, times: int = 1) -> "Faults":
        """Terminate the server process of a transaction that wrote a succeeded object row whose
        key contains `key_marker`, after every row of it was written and before COMMIT."""
        self._commit.append(_Rule("drop", key_marker, times))
        return self

    def crash_after(self, step: str, key_marker: str, error_name: str, times: int = 1) -> "Faults":
        """Step `step` does all its work on an object whose key contains `key_marker`, then
        raises `error_name` instead of returning (`times` times). Call after the pipeline started."""
        from local import lambda_dispatch
        from local.aws import local_function_name

        error = crash_error(error_name)
        rule = _Rule("crash", key_marker, times)
        real = lambda_dispatch.step_handler(step)

        def handler(event: Any, context: Any) -> Any:
            result = real(event, context)
            key = str((event.get("object") or {}).get("key", "")) if isinstance(event, dict) else ""
            with self._lock:
                crash = key_marker in key and rule.take()
            if crash:
                self.fired.append((f"crash:{step}", key))
                raise error(f"{step} crashed after finishing its work on {key!r} (fault injected)")
            return result

        name = local_function_name(step)
        lambda_dispatch.register(name, handler)
        self._routes.append(step)
        return self

    # -- hooks -----------------------------------------------------------------------------
    def _model_interceptor(self, endpoint: str, body: bytes) -> Optional[str]:
        with self._lock:
            for marker in self.model_requests:
                if marker.encode("utf-8") in body:
                    self.model_requests[marker] += 1
            rule = next((r for r in self._model if r.marker.encode("utf-8") in body and r.take()), None)
        if rule is None:
            return None
        self.fired.append((f"model:{rule.kind}", rule.marker))
        return rule.kind

    def _db_hook(self, point: str, target: Any) -> None:
        import psycopg

        if point == "connect":
            with self._lock:
                refuse = self._refuse_connects > 0
                if refuse:
                    self._refuse_connects -= 1
            if refuse:
                self.fired.append(("db:refused", getattr(target, "host", "")))
                raise psycopg.OperationalError("connection refused: the database is down (fault injected)")
            return
        if point == "commit" and self._commit:
            from functions.common.constants import DB_SCHEMA

            # Which objects did this transaction write? Rows whose xmin is our own transaction id.
            keys = [k for (k,) in target.execute(
                f"SELECT key FROM {DB_SCHEMA}.objects WHERE status = 'succeeded'"
                " AND xmin::text = (pg_current_xact_id()::xid)::text").fetchall()]
            with self._lock:
                rule = next((r for r in self._commit if any(r.marker in k for k in keys) and r.take()), None)
            if rule is None:
                return
            self.fired.append(("db:dropped", ",".join(keys)))
            _terminate(target.info.backend_pid)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "Faults":
        from functions.common import db

        if self.runtime is not None:
            self.runtime.interceptor = self._model_interceptor
        db.fault_hook = self._db_hook
        return self

    def __exit__(self, *exc: Any) -> None:
        from functions.common import db
        from local import lambda_dispatch
        from local.aws import local_function_name

        if self.runtime is not None:
            self.runtime.interceptor = None
        db.fault_hook = None
        for step in self._routes:
            if lambda_dispatch._original_invoke is not None:  # still installed: put the real handler back
                lambda_dispatch.register(local_function_name(step), lambda_dispatch.step_handler(step))


def _terminate(pid: int) -> None:
    """pg_terminate_backend from a second connection: the server drops the first one."""
    import psycopg

    from functions.common.db import DbConfig, connect_kwargs

    with psycopg.connect(**connect_kwargs(DbConfig.from_env()), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


@contextlib.contextmanager
def fast_state_retries(factor: float = 0.1) -> Iterator[list[float]]:
    """Make moto's Step Functions wait `factor` of each Retry interval; yields the list of the
    intervals (seconds, after backoff and jitter) that the state machine asked to wait."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    asked: list[float] = []
    real_time = retrier_decl.time

    class _Clock:
        def __getattr__(self, name: str) -> Any:
            return getattr(real_time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            asked.append(seconds)
            real_time.sleep(seconds * factor)

    retrier_decl.time = _Clock()
    try:
        yield asked
    finally:
        retrier_decl.time = real_time


__all__ = ["Faults", "CrashAfterWork", "crash_error", "fast_state_retries"]
