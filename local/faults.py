"""Fault injection for the local pipeline and its tests. Off unless a test arms it.

`Faults` installs itself on the SageMaker Runtime stand-in (`runtime.interceptor`), puts a
PostgreSQL proxy (local.db_proxy) between the functions and the database (DB_HOST / DB_PORT
point at it while armed) and takes over in-process Lambda routes (local.lambda_dispatch); it
removes everything on exit. Nothing in functions/ knows about it. Faults are chosen per object
by a marker in the object's key or text, so one pipeline run can carry several faults next to
files that must be unaffected:

* model faults: an InvokeEndpoint request whose body contains `marker` is answered by the
  service stand-in with ThrottlingException, a ModelError carrying the container's 503, or
  the ModelError of the 60 s invocation timeout (`times` requests, or every one);
* database faults, on the wire: refuse the next N connections (the server is down), or drop
  the connection instead of forwarding the COMMIT of a transaction that wrote a succeeded
  object row with a marked key;
* Lambda crashes: a step finishes its work on a marked object and then raises an error of a
  given name (as a Lambda that dies after its side effects would), `times` times;
* `fast_state_retries`: moto's Step Functions waits out each Retry interval with a real
  sleep; this records the interval it asked for and sleeps a fraction of it.

Every fault that fires is appended to `Faults.fired` as (kind, detail).
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

from functions.common.constants import DB_SCHEMA, ENV_DB_HOST, ENV_DB_PORT
from local.sagemaker_runtime import FAULTS as MODEL_FAULTS

# The statement that writes an object row with status succeeded: the store step's INSERT
# carries the status as a literal and the key as a bound parameter
# (functions/processing/steps/store.py write_result, reuse.py copy_result).
SUCCEEDED_OBJECT_ROW = rf"INSERT\s+INTO\s+{DB_SCHEMA}\.objects\b.*'succeeded'"


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
    `runtime` is the pipeline's SageMaker Runtime stand-in (LocalPipeline.profile.runtime);
    database faults need the DB_* environment of the run (LocalPipeline.start sets it)."""

    runtime: Any = None
    fired: list[tuple[str, str]] = field(default_factory=list)
    model_requests: dict[str, int] = field(default_factory=dict)  # marker -> requests seen
    _model: list[_Rule] = field(default_factory=list)
    _db_rules: list[tuple[str, tuple]] = field(default_factory=list)  # armed before __enter__: (method, args)
    _db_proxy: Any = None  # local.db_proxy.PgProxy while entered
    _db_env: dict[str, str] = field(default_factory=dict)  # the DB_HOST / DB_PORT it replaced
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _routes: list[str] = field(default_factory=list)

    # -- arming ----------------------------------------------------------------------------
    def model(self, kind: str, marker: str, times: Optional[int] = None) -> Faults:
        """Model requests whose body contains `marker` fail with `kind` (throttle | 5xx | timeout)."""
        if kind not in MODEL_FAULTS:
            raise ValueError(f"kind must be one of {MODEL_FAULTS}")
        if self.runtime is None:
            raise ValueError("model faults need the pipeline's SageMaker Runtime stand-in: Faults(runtime=...)")
        self._model.append(_Rule(kind, marker, times))
        self.model_requests.setdefault(marker, 0)
        return self

    def refuse_db_connections(self, count: int) -> Faults:
        """The next `count` connection attempts fail as if the server were down (a FATAL
        57P03 answer to the startup packet)."""
        return self._arm_db("refuse", (count,))

    def drop_db_connection_before_commit(self, key_marker: str, times: int = 1) -> Faults:
        """Close the connection of a transaction that wrote a succeeded object row whose key
        contains `key_marker`, after every row of it was sent and instead of its COMMIT: the
        server rolls it back, the function sees the connection drop."""
        return self._arm_db("drop_commit", (key_marker, SUCCEEDED_OBJECT_ROW, times))

    def _arm_db(self, method: str, args: tuple) -> Faults:
        if self._db_proxy is not None:
            getattr(self._db_proxy, method)(*args)
        else:
            self._db_rules.append((method, args))
        return self

    def crash_after(self, step: str, key_marker: str, error_name: str, times: int = 1) -> Faults:
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

    def _db_fault(self, kind: str, detail: str) -> None:
        self.fired.append((kind, detail))

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Faults:
        if self.runtime is not None:
            self.runtime.interceptor = self._model_interceptor
        self._start_db_proxy()
        return self

    def __exit__(self, *exc: Any) -> None:
        from local import lambda_dispatch
        from local.aws import local_function_name

        if self.runtime is not None:
            self.runtime.interceptor = None
        self._stop_db_proxy()
        for step in self._routes:
            if lambda_dispatch._original_invoke is not None:  # still installed: put the real handler back
                lambda_dispatch.register(local_function_name(step), lambda_dispatch.step_handler(step))

    def _start_db_proxy(self) -> None:
        """A PgProxy in front of the database the environment names, with DB_HOST / DB_PORT
        pointed at it (as a redeploy with a new endpoint would); running containers are retired
        so that every connection from now on goes through it."""
        from local import lambda_dispatch
        from local.db_proxy import PgProxy

        if not os.environ.get(ENV_DB_HOST):
            if self._db_rules:
                raise ValueError(f"database faults need the database in the environment ({ENV_DB_HOST})")
            return
        self._db_env = {name: os.environ[name] for name in (ENV_DB_HOST, ENV_DB_PORT) if name in os.environ}
        proxy = PgProxy(os.environ[ENV_DB_HOST], int(os.environ.get(ENV_DB_PORT) or 5432), on_fault=self._db_fault)
        host, port = proxy.start()
        self._db_proxy = proxy
        for method, args in self._db_rules:
            getattr(proxy, method)(*args)
        self._db_rules.clear()
        os.environ.update({ENV_DB_HOST: host, ENV_DB_PORT: str(port)})
        lambda_dispatch.drop_containers()

    def _stop_db_proxy(self) -> None:
        from local import lambda_dispatch

        if self._db_proxy is None:
            return
        for name in (ENV_DB_HOST, ENV_DB_PORT):
            if name in self._db_env:
                os.environ[name] = self._db_env[name]
            else:
                os.environ.pop(name, None)
        lambda_dispatch.drop_containers()  # their connections go through the proxy
        self._db_proxy.stop()
        self._db_proxy = None


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
