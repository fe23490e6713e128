"""One client for every model call: SageMaker endpoints on AWS, local servers over HTTP.

`MODEL_ENDPOINTS` maps a role to an endpoint name (-> sagemaker-runtime InvokeEndpoint) or to
an http(s) URL (-> POST {url}/invocations). Both take and return the same JSON body
(docs/contracts.md), so everything but the transport is one code path:

* items are sent in batches of MODEL_BATCH_SIZE; a 413 from the server halves the batch;
* binary inputs (`Blob`) go inline as base64 while the request stays small, otherwise as an
  `s3_uri` pointer into the staging bucket (SageMaker real-time payloads are limited to 6 MB:
  https://docs.aws.amazon.com/sagemaker/latest/dg/realtime-endpoints-test-endpoints.html);
* throttling (429 / ThrottlingException) and 5xx / timeouts are retried with full-jitter
  exponential backoff, then raised as ModelThrottledError / ModelUnavailableError, which the
  state machine retries again later;
* a role missing from MODEL_ENDPOINTS is "not available": callers check `available(role)` and
  record it instead of inventing an output.
"""
from __future__ import annotations

import base64
import json
import random
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from functions.common.errors import ModelThrottledError, ModelUnavailableError
from functions.common.events import S3Pointer
from functions.common.staging import get_bytes, s3_uri

# Keep every request body well under the 6 MB real-time invocation limit.
MAX_INLINE_BATCH_BYTES = 4 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_BASE_DELAY = 0.5
DEFAULT_MAX_DELAY = 8.0

# Test seam for local/faults.py (None in every deployed function): called with (url, body)
# before each HTTP request; it may raise what urlopen raises (HTTPError 429/5xx, TimeoutError)
# so that the mapping below is what the fault tests exercise.
fault_hook: Callable[[str, bytes], None] | None = None


class ModelNotAvailableError(Exception):
    """The role has no endpoint configured. Callers check `available()` first."""


class ModelRequestError(Exception):
    """The model rejected the request (400, 415, an item too large, a wrong reply).

    Not retryable: the same request would be rejected again.
    """


class _Throttled(Exception):
    pass


class _Unavailable(Exception):
    pass


class _TooLarge(Exception):
    pass


@dataclass(frozen=True)
class Blob:
    """A binary model input (an image or a 16 kHz mono WAV) stored in the staging bucket."""

    kind: Literal["image", "audio"]
    pointer: S3Pointer
    size: int


@dataclass
class ModelResult:
    """One output per input, in input order, and the {"id", "version"} of the model that made them."""

    outputs: list[Any]
    model: dict[str, str] = field(default_factory=dict)


class ModelClient:
    """Invokes the model of a role. Create once per container and reuse.

    `s3_client` reads staged blobs that are sent inline; `sagemaker_client` is created lazily
    (only when a role points at an endpoint name); `sleep` is injectable for tests.
    """

    def __init__(
        self,
        endpoints: Mapping[str, str],
        *,
        batch_size: int = 8,
        s3_client: Any = None,
        sagemaker_client: Any = None,
        sagemaker_client_factory: Callable[[], Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        max_inline_batch_bytes: int = MAX_INLINE_BATCH_BYTES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoints = dict(endpoints)
        self.batch_size = max(1, batch_size)
        self._s3 = s3_client
        self._sagemaker = sagemaker_client
        self._sagemaker_factory = sagemaker_client_factory or _default_sagemaker_client(timeout)
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_inline_batch_bytes = max_inline_batch_bytes
        self._sleep = sleep

    def available(self, role: str) -> bool:
        return bool(self.endpoints.get(role))

    def invoke(self, role: str, items: Sequence[Any], parameters: Mapping[str, Any] | None = None) -> ModelResult:
        """Run `items` through the model of `role`; returns one output per item, in order.

        An item is what the contract lists for the role, where a `Blob` may stand for the
        binary part: either the item itself (-> {"image_b64"|"audio_b64"} or {"s3_uri"}) or a
        value in a dict item ({"blob": Blob, "task": ...} -> the Blob's keys merged in).
        Raises ModelNotAvailableError, ModelThrottledError, ModelUnavailableError,
        ModelRequestError.
        """
        target = self.endpoints.get(role)
        if not target:
            raise ModelNotAvailableError(f"no endpoint configured for model role {role!r}")
        result = ModelResult(outputs=[])
        for start in range(0, len(items), self.batch_size):
            batch = list(items[start : start + self.batch_size])
            outputs, model = self._invoke_split(role, target, batch, parameters)
            result.outputs.extend(outputs)
            if model and not result.model:
                result.model = model
        return result

    # -- batching ------------------------------------------------------------------
    def _invoke_split(self, role: str, target: str, batch: list[Any], parameters: Mapping[str, Any] | None):
        try:
            return self._invoke_with_retry(role, target, batch, parameters)
        except _TooLarge:
            if len(batch) == 1:
                raise ModelRequestError(f"model {role!r} rejected a single item as too large (413)") from None
            half = len(batch) // 2
            first, model = self._invoke_split(role, target, batch[:half], parameters)
            second, model2 = self._invoke_split(role, target, batch[half:], parameters)
            return first + second, model or model2

    def _invoke_with_retry(self, role: str, target: str, batch: list[Any], parameters: Mapping[str, Any] | None):
        body = self._body(batch, parameters)
        last: Exception | None = None
        for attempt in range(self.max_attempts):
            try:
                reply = self._send(target, body)
                return self._parse(role, reply, len(batch))
            except (_Throttled, _Unavailable) as exc:
                last = exc
                if attempt + 1 < self.max_attempts:
                    # Full jitter: https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
                    self._sleep(random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt)))
        if isinstance(last, _Throttled):
            raise ModelThrottledError(f"model {role!r} throttled after {self.max_attempts} attempts: {last}")
        raise ModelUnavailableError(f"model {role!r} unavailable after {self.max_attempts} attempts: {last}")

    def _body(self, batch: list[Any], parameters: Mapping[str, Any] | None) -> bytes:
        budget = [self.max_inline_batch_bytes]
        inputs = [self._encode(item, budget) for item in batch]
        payload: dict[str, Any] = {"inputs": inputs}
        if parameters:
            payload["parameters"] = dict(parameters)
        return json.dumps(payload).encode("utf-8")

    def _encode(self, item: Any, budget: list[int]) -> Any:
        if isinstance(item, Blob):
            return self._encode_blob(item, budget)
        if isinstance(item, dict) and any(isinstance(v, Blob) for v in item.values()):
            encoded: dict[str, Any] = {}
            for k, v in item.items():
                if isinstance(v, Blob):
                    encoded.update(self._encode_blob(v, budget))
                else:
                    encoded[k] = v
            return encoded
        return item

    def _encode_blob(self, blob: Blob, budget: list[int]) -> dict[str, str]:
        inline_size = (blob.size + 2) // 3 * 4
        if self._s3 is not None and inline_size <= budget[0]:
            budget[0] -= inline_size
            data = get_bytes(self._s3, blob.pointer)
            return {f"{blob.kind}_b64": base64.b64encode(data).decode("ascii")}
        return {"s3_uri": s3_uri(blob.pointer)}

    @staticmethod
    def _parse(role: str, reply: bytes, expected: int) -> tuple[list[Any], dict[str, str]]:
        try:
            doc = json.loads(reply)
            outputs = doc["outputs"]
            model = doc.get("model") or {}
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelRequestError(f"model {role!r} sent a reply that is not the contract: {exc}") from exc
        if not isinstance(outputs, list) or len(outputs) != expected:
            raise ModelRequestError(f"model {role!r} sent {len(outputs) if isinstance(outputs, list) else '?'} outputs for {expected} inputs")
        return outputs, {"id": str(model.get("id", "")), "version": str(model.get("version", ""))}

    # -- transports ----------------------------------------------------------------
    def _send(self, target: str, body: bytes) -> bytes:
        if target.startswith(("http://", "https://")):
            return self._send_http(target, body)
        return self._send_sagemaker(target, body)

    def _send_http(self, url: str, body: bytes) -> bytes:
        request = urllib.request.Request(
            url.rstrip("/") + "/invocations",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            if fault_hook is not None:
                fault_hook(url, body)
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - URL from config
                return response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            _raise_for_status(exc.code, detail)
            raise  # unreachable
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as exc:
            raise _Unavailable(str(exc)) from exc

    def _send_sagemaker(self, endpoint: str, body: bytes) -> bytes:
        if self._sagemaker is None:
            self._sagemaker = self._sagemaker_factory()
        try:
            response = self._sagemaker.invoke_endpoint(
                EndpointName=endpoint, ContentType="application/json", Accept="application/json", Body=body
            )
            return response["Body"].read()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in ("ThrottlingException", "TooManyRequestsException"):
                raise _Throttled(code) from exc
            if code == "ModelError":
                status = int(exc.response.get("OriginalStatusCode") or error.get("OriginalStatusCode") or 500)
                _raise_for_status(status, str(error.get("Message", "")))
            if code in ("ServiceUnavailable", "InternalFailure", "ModelNotReadyException", "InternalDependencyException"):
                raise _Unavailable(code) from exc
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                raise _Unavailable(code) from exc
            raise ModelRequestError(f"{endpoint}: {code}: {error.get('Message', '')}") from exc
        except BotoCoreError as exc:  # read timeouts, connection errors
            raise _Unavailable(str(exc)) from exc


def _raise_for_status(status: int, detail: str) -> None:
    if status == 429:
        raise _Throttled(f"HTTP 429 {detail}")
    if status == 413:
        raise _TooLarge(detail)
    if status >= 500 or status == 408:
        raise _Unavailable(f"HTTP {status} {detail}")
    raise ModelRequestError(f"HTTP {status} {detail}")


def _default_sagemaker_client(timeout: float) -> Callable[[], Any]:
    def make() -> Any:
        import boto3
        from botocore.config import Config

        # Our own backoff above is the only retry layer (no hidden default retries).
        config = Config(retries={"total_max_attempts": 1}, read_timeout=timeout, connect_timeout=5)
        return boto3.client("sagemaker-runtime", config=config)

    return make
