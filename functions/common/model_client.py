"""One client for every model call: boto3 ``sagemaker-runtime`` ``InvokeEndpoint``.

`MODEL_ENDPOINTS` maps a role to an endpoint name. There is no other transport: locally, boto3's
own `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` points at the SageMaker Runtime stand-in
(local/sagemaker_runtime.py) in front of the toolkit's model servers.

* items go in requests of `batch_items[role]` (the catalog's `client_batch_items`: what each
  role's scaling target assumes);
* binary inputs (`Blob`) go inline as base64 while the request stays small, otherwise as an
  `s3_uri` pointer into the staging bucket (real-time payloads are limited to 6 MB:
  https://docs.aws.amazon.com/sagemaker/latest/dg/realtime-endpoints-test-endpoints.html);
* errors are sorted by what a retry can fix (docs/contracts.md, "Errors"):
  - the model refused the input (`ModelError`, the container's 400, tagged `[input]` or
    untagged): `ModelInputError` at once, no retry; the failure row carries the model's message;
  - a batch too large (HTTP 413 from the service, a `[batch-too-large]` refusal): the batch is
    halved and sent again;
  - throttling, the container's 5xx or `[overloaded]`, the 60 s invocation timeout, the service
    unavailable, connection errors: retried here with full-jitter backoff, then raised as
    ModelThrottledError / ModelUnavailableError, which the state machine retries again later;
  - a batch of several items that hit the 60 s invocation timeout is sent again in two halves
    (once: a batch that needs more than the limit never fits at its size; one that queued behind
    others fits either way), each half with the retries above;
* an endpoint scaled to zero answers "no capacity" while it starts an instance (minutes): the
  client polls for `capacity_wait` seconds, then raises ModelNoCapacityError, which the state
  machine retries minutes apart (its waits cost nothing); `on_capacity_wait(role, seconds)` is
  told each wait (the handlers publish it as a metric for the dashboard);
* roles served by an inference component (`components`: {role: component name}) name it in
  every request (InferenceComponentName), as the service requires;
* a role missing from MODEL_ENDPOINTS is "not available": callers check `available(role)` and
  record it instead of inventing an output;
* with `checkpoints`, each request's answer is kept as soon as it arrives and a request made
  again (a retried Lambda, a rerun after a crash) is answered from it: a long call of many
  requests that fails half way does not pay for its first half twice.
"""
from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from functions.common.aws_errors import is_throttling, is_transient
from functions.common.constants import MODEL_ROLES
from functions.common.errors import ModelNoCapacityError, ModelThrottledError, ModelUnavailableError
from functions.common.events import S3Pointer
from functions.common.staging import get_bytes, s3_uri

# Keep every request body well under the 6 MB real-time invocation limit.
MAX_INLINE_BATCH_BYTES = 4 * 1024 * 1024
# The service answers a container that is silent for 60 s with a ModelError; wait a little longer
# than that so that its answer, not our read timeout, ends the call.
DEFAULT_READ_TIMEOUT_SECONDS = 70.0
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_BASE_DELAY = 0.5
DEFAULT_MAX_DELAY = 8.0
DEFAULT_BATCH_ITEMS = 8
# Polls of an endpoint with no instance within one call; longer waits belong to the state machine.
DEFAULT_CAPACITY_WAIT_SECONDS = 60.0
CAPACITY_POLL_SECONDS = 10.0
# The tag model_artifacts/_shared/mm_serving.py puts in front of every error it raises.
_TAG = re.compile(r"\[(input|batch-too-large|overloaded)\]")
_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504, 507}
# What InvokeEndpoint answers while an inference component has no copy (scaled to zero).
_NO_CAPACITY = re.compile(r"no capacity", re.IGNORECASE)


class ModelNotAvailableError(Exception):
    """The role has no endpoint configured. Callers check `available()` first."""


class ModelRequestError(Exception):
    """The model cannot serve this request: a retry would get the same answer.

    Not retryable: the state machine's Catch records a failure row with this message.
    """


class ModelInputError(ModelRequestError):
    """The model refused the input itself (corrupt audio, an image it cannot read)."""


class _Throttled(Exception):
    pass


class _Unavailable(Exception):
    pass


class _TimedOut(_Unavailable):
    pass


class _NoCapacity(Exception):
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


class Checkpoints(Protocol):
    """Answers of earlier requests, by a digest of what was asked (`request_digest`)."""

    def load(self, role: str, digest: str) -> ModelResult | None: ...

    def save(self, role: str, digest: str, result: ModelResult) -> None: ...


def request_digest(endpoint: str, batch: Sequence[Any], parameters: Mapping[str, Any] | None) -> str:
    """What a request asks, independent of how it travels: a Blob by its staging key and size
    (inline or by pointer, the model sees the same bytes), every other item as its JSON."""

    def describe(value: Any) -> Any:
        if isinstance(value, Blob):
            return {"blob": value.kind, "uri": s3_uri(value.pointer), "size": value.size}
        if isinstance(value, dict):
            return {str(k): describe(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [describe(v) for v in value]
        return value

    doc = {"endpoint": endpoint, "parameters": dict(parameters or {}), "inputs": describe(list(batch))}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")).hexdigest()


class ModelClient:
    """Invokes the endpoint of a role. Create once per container and reuse.

    `batch_items` is {role: items per request}; `s3_client` reads staged blobs that are sent
    inline; `sagemaker_client` (boto3 sagemaker-runtime) is created lazily by
    `sagemaker_client_factory`; `sleep` is injectable (a caller that must not block, a test clock).
    """

    def __init__(
        self,
        endpoints: Mapping[str, str],
        *,
        components: Mapping[str, str] | None = None,
        batch_items: Mapping[str, int] | None = None,
        s3_client: Any = None,
        sagemaker_client: Any = None,
        sagemaker_client_factory: Callable[[], Any] | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        max_inline_batch_bytes: int = MAX_INLINE_BATCH_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        capacity_wait: float = DEFAULT_CAPACITY_WAIT_SECONDS,
        on_capacity_wait: Callable[[str, float], None] | None = None,
    ) -> None:
        self.endpoints = dict(endpoints)
        self.components = dict(components or {})
        self.capacity_wait = capacity_wait
        self._on_capacity_wait = on_capacity_wait
        self.batch_items = {role: max(1, int(n)) for role, n in (batch_items or {}).items()}
        self._s3 = s3_client
        self._sagemaker = sagemaker_client
        self._sagemaker_factory = sagemaker_client_factory or _default_sagemaker_client(read_timeout)
        self.max_attempts = max(1, max_attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_inline_batch_bytes = max_inline_batch_bytes
        self._sleep = sleep

    def available(self, role: str) -> bool:
        return bool(self.endpoints.get(role))

    def unavailable(self) -> list[str]:
        """The model roles not deployed (in MODEL_ROLES order)."""
        return [role for role in MODEL_ROLES if not self.available(role)]

    def invoke(self, role: str, items: Sequence[Any], parameters: Mapping[str, Any] | None = None,
               checkpoints: Checkpoints | None = None) -> ModelResult:
        """Run `items` through the model of `role`; returns one output per item, in order.

        An item is what the contract lists for the role, where a `Blob` may stand for the
        binary part: either the item itself (-> {"image_b64"|"audio_b64"} or {"s3_uri"}) or a
        value in a dict item ({"blob": Blob, "task": ...} -> the Blob's keys merged in).
        `checkpoints` keeps each request's answer and answers a request made again from it.
        Raises ModelNotAvailableError, ModelThrottledError, ModelUnavailableError,
        ModelInputError, ModelRequestError.
        """
        endpoint = self.endpoints.get(role)
        if not endpoint:
            raise ModelNotAvailableError(f"no endpoint configured for model role {role!r}")
        size = self.batch_items.get(role, DEFAULT_BATCH_ITEMS)
        result = ModelResult(outputs=[])
        for start in range(0, len(items), size):
            batch = list(items[start : start + size])
            outputs, model = self._invoke_kept(role, endpoint, batch, parameters, checkpoints)
            result.outputs.extend(outputs)
            if model and not result.model:
                result.model = model
        return result

    # -- batching ------------------------------------------------------------------
    def _invoke_kept(self, role: str, endpoint: str, batch: list[Any], parameters: Mapping[str, Any] | None,
                     checkpoints: Checkpoints | None) -> tuple[list[Any], dict[str, str]]:
        if checkpoints is None:
            return self._invoke_split(role, endpoint, batch, parameters)
        digest = request_digest(endpoint, batch, parameters)
        kept = checkpoints.load(role, digest)
        if kept is not None and len(kept.outputs) == len(batch):
            return kept.outputs, kept.model
        outputs, model = self._invoke_split(role, endpoint, batch, parameters)
        checkpoints.save(role, digest, ModelResult(outputs=outputs, model=model))
        return outputs, model

    def _invoke_split(self, role: str, endpoint: str, batch: list[Any], parameters: Mapping[str, Any] | None,
                      halve_on_timeout: bool = True):
        try:
            return self._invoke_with_retry(role, endpoint, batch, parameters, halve_on_timeout)
        except (_TooLarge, _TimedOut) as exc:
            if len(batch) == 1:
                raise ModelRequestError(f"model {role!r} refused a single item as too large: {exc}") from None
            halve_on_timeout = halve_on_timeout and not isinstance(exc, _TimedOut)
            half = len(batch) // 2
            first, model = self._invoke_split(role, endpoint, batch[:half], parameters, halve_on_timeout)
            second, model2 = self._invoke_split(role, endpoint, batch[half:], parameters, halve_on_timeout)
            return first + second, model or model2

    def _invoke_with_retry(self, role: str, endpoint: str, batch: list[Any], parameters: Mapping[str, Any] | None,
                           halve_on_timeout: bool = False):
        body = self._body(batch, parameters)
        last: Exception | None = None
        attempt = 0
        waited = 0.0
        while attempt < self.max_attempts:
            try:
                return self._parse(role, self._send(role, endpoint, body), len(batch))
            except _NoCapacity as exc:
                # Not an attempt: the endpoint is starting an instance for us.
                if waited >= self.capacity_wait:
                    raise ModelNoCapacityError(
                        f"model {role!r} has no instance yet after {waited:.0f} s (the endpoint scales up from zero): {exc}"
                    ) from None
                pause = min(CAPACITY_POLL_SECONDS, self.capacity_wait - waited)
                self._sleep(pause)
                waited += pause
                if self._on_capacity_wait is not None:
                    self._on_capacity_wait(role, pause)
                continue
            except (_Throttled, _Unavailable) as exc:
                if isinstance(exc, _TimedOut) and halve_on_timeout and len(batch) > 1:
                    raise
                last = exc
                attempt += 1
                if attempt < self.max_attempts:
                    # Full jitter: https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
                    self._sleep(random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1))))
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
            raise ModelRequestError(f"model {role!r} sent a reply that is not the contract: {exc}: {reply[:200]!r}") from exc
        if not isinstance(outputs, list) or len(outputs) != expected:
            raise ModelRequestError(f"model {role!r} sent {len(outputs) if isinstance(outputs, list) else '?'} outputs for {expected} inputs")
        return outputs, {"id": str(model.get("id", "")), "version": str(model.get("version", ""))}

    # -- InvokeEndpoint --------------------------------------------------------------
    def _send(self, role: str, endpoint: str, body: bytes) -> bytes:
        if self._sagemaker is None:
            self._sagemaker = self._sagemaker_factory()
        extra = {"InferenceComponentName": self.components[role]} if role in self.components else {}
        try:
            response = self._sagemaker.invoke_endpoint(
                EndpointName=endpoint, ContentType="application/json", Accept="application/json", Body=body, **extra
            )
            return response["Body"].read()
        except ClientError as exc:
            _raise_classified(role, endpoint, exc)
            raise  # unreachable: _raise_classified always raises
        except BotoCoreError as exc:  # read timeouts, connection errors
            raise _Unavailable(str(exc)) from exc


def _raise_classified(role: str, endpoint: str, exc: ClientError) -> None:
    """Raise what `exc` means for a retry (see the module docstring)."""
    response = exc.response
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", ""))
    http_status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code == "ModelError":
        status = int(response.get("OriginalStatusCode") or error.get("OriginalStatusCode") or 0)
        original = str(response.get("OriginalMessage") or error.get("OriginalMessage") or message)
        tag = _TAG.search(original)
        kind = tag.group(1) if tag else None
        if kind == "batch-too-large" or status == 413:
            raise _TooLarge(original)
        if kind == "overloaded":
            raise _Unavailable(f"{endpoint}: {original}")
        if status == 0:  # no answer within the invocation timeout
            raise _TimedOut(f"{endpoint}: timed out: {original}")
        if status == 429:
            raise _Throttled(f"{endpoint}: container {status}: {original}")
        if status in _RETRYABLE_STATUS:
            raise _Unavailable(f"{endpoint}: container {status}: {original}")
        # The container refused the request and would refuse it again: a bad input, or media
        # the model's own decoder cannot read (the toolkit answers any exception with 400).
        raise ModelInputError(f"model {role!r} refused the input: {_message_of(original)}") from exc
    if (code == "ValidationError" and _NO_CAPACITY.search(message)) or code == "ModelNotReadyException":
        raise _NoCapacity(f"{endpoint}: {code}: {message}")
    if is_throttling(exc):
        raise _Throttled(f"{endpoint}: {code}: {message}")
    if http_status == 413 or code == "413" or (code == "ValidationError" and "oversize" in message.lower()):
        raise _TooLarge(f"{endpoint}: {message or 'payload too large'}")
    # InternalDependencyException arrives as HTTP 530, outside botocore's transient statuses.
    if is_transient(exc) or http_status >= 500:
        raise _Unavailable(f"{endpoint}: {code}: {message}")
    raise ModelRequestError(f"{endpoint}: {code}: {message}") from exc


def _message_of(original: str) -> str:
    """The model's own words from a multi-model-server error body, tag included."""
    try:
        doc = json.loads(original)
        return str(doc.get("message", original)) if isinstance(doc, dict) else original
    except ValueError:
        return original


def _default_sagemaker_client(read_timeout: float) -> Callable[[], Any]:
    def make() -> Any:
        import boto3
        from botocore.config import Config

        # Our own backoff above is the only retry layer (no hidden default retries). boto3 reads
        # AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME itself (the local stand-in; unset when deployed).
        config = Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout, connect_timeout=5)
        return boto3.client("sagemaker-runtime", config=config)

    return make
