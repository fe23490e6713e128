"""What a Lambda container makes once and reuses: clients, settings, database connections.

Each handler module holds its own `PerContainer` objects in its module globals, so what they
make lives exactly as long as that module: one per Lambda container, and one per copy of the
module when the local run loads a copy per concurrent invocation. Nothing here is a registry.
They make their value on first use, not at import, so that a handler rejects a malformed event
before it opens any connection.
https://docs.aws.amazon.com/lambda/latest/dg/best-practices.html#function-code
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, Optional, TypeVar

T = TypeVar("T")

# Explicit rather than botocore's hidden default (legacy mode): standard mode retries
# throttling and 5xx with backoff before our code sees the error.
# https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
AWS_RETRIES = {"mode": "standard", "max_attempts": 5}

_UNSET: Any = object()


class PerContainer(Generic[T]):
    """One value per container, made by `factory` on the first `get()`.

    Usage, in a handler module: ``resources = PerContainer(Context.from_env)``, then
    ``resources.get()`` in the handler. Safe to call from several threads of one invocation
    (the factory runs once).
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T = _UNSET
        self._lock = threading.Lock()

    def get(self) -> T:
        """The value, made now if this is the first call (or the first since `clear()`).

        Raises whatever the factory raises; nothing is kept then, so the next call tries again.
        """
        value = self._value
        if value is _UNSET:
            with self._lock:
                value = self._value
                if value is _UNSET:
                    value = self._value = self._factory()
        return value

    def clear(self) -> Optional[T]:
        """Forget the value, as a new container would; return it (None if none was made) so
        that the caller can close it."""
        with self._lock:
            value, self._value = self._value, _UNSET
        return None if value is _UNSET else value


def aws_client(service: str, **config: Any) -> Any:
    """A boto3 client for `service` with AWS_RETRIES; `config` adds botocore Config options
    (for example max_pool_connections). Raises what boto3.client raises (unknown service, no region)."""
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(retries=dict(AWS_RETRIES), **config))
