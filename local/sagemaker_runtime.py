"""Stand-in for the SageMaker Runtime service in front of the local containers.

The functions call models only through boto3 ``sagemaker-runtime`` ``InvokeEndpoint``; locally
its endpoint URL (env ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``) points here. This gateway serves
``POST /endpoints/{EndpointName}/invocations`` and answers as the service documents
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html), in
the rest-json shape botocore parses:

* the container's 2xx reply: its body and content type, ``x-Amzn-Invoked-Production-Variant``;
* the container's 4xx/5xx: HTTP 424 ``ModelError`` with ``OriginalStatusCode``,
  ``OriginalMessage`` (the container's body) and ``LogStreamArn``, the message worded as the
  service words it ("Received client error (400) from primary with message ...");
* no answer within the invocation timeout (60 s for real-time endpoints): ``ModelError`` with
  "Received server error (0) ... Your invocation timed out while waiting for a response from
  container primary";
* a body over the 6 MB payload limit: HTTP 413 "HTTP content length exceeded 6291456 bytes."
  (no error type: botocore reports code "413");
* more requests in flight on one endpoint than ``max_concurrent``: ``ThrottlingException``;
* an unknown endpoint: ``ValidationError`` "Endpoint X of account Y not found.";
* an endpoint that hosts an inference component, called without ``InferenceComponentName``
  (header ``X-Amzn-SageMaker-Inference-Component``): ``ValidationError`` "Inference Component Name
  header is required ...";
* an inference component scaled to zero copies (``scale_to_zero``): ``ValidationError`` "Inference
  Component has no capacity to process this request ...", counted as the
  ``NoCapacityInvocationFailures`` metric; as the alarm on that metric and its step scaling policy
  do in AWS, the first such failure starts a copy, which serves ``wake_seconds`` later, and a copy
  idle for ``idle_seconds`` is scaled in to zero again;
* a container that cannot be reached: HTTP 503 ``ServiceUnavailable``.

``tests/integration/models/test_sagemaker_runtime.py`` pins each shape to what botocore makes of it.
Faults are injected here, at the service boundary (``interceptor``), never inside our modules.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

# InvokeEndpoint Body: "Length Constraints: Maximum length of 6291456".
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# "A customer's model containers must respond to requests within 60 seconds."
# https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html
INVOCATION_TIMEOUT_SECONDS = 60.0
VARIANT = "AllTraffic"
CONTAINER = "primary"
LOCAL_ACCOUNT = "000000000000"
# What an interceptor may answer instead of the container (local.faults arms them).
FAULTS = ("throttle", "5xx", "timeout")


# Where InvokeEndpoint's InferenceComponentName travels (botocore's service model; pinned by a test).
COMPONENT_HEADER = "X-Amzn-SageMaker-Inference-Component"
# A ValidationError (400) with this message while a component has no copy, as the AWS ML blog
# "Unlock cost savings with the new scale down to zero feature in SageMaker Inference"
# (2024-12-03, "Test the solution") quotes it.
NO_CAPACITY_MESSAGE = ("Inference Component has no capacity to process this request. ApplicationAutoScaling may be "
                       "in-progress (if configured) or try to increase the capacity by invoking "
                       "UpdateInferenceComponentRuntimeConfig API.")
COMPONENT_REQUIRED_MESSAGE = ("Inference Component Name header is required for endpoints to which you plan to deploy "
                              "inference components. Please include Inference Component Name header or consider "
                              "using SageMaker models.")


@dataclass
class _Endpoint:
    name: str
    container: str  # http://host:port of the container
    component: Optional[str] = None  # the inference component it hosts, if any
    in_flight: int = 0
    invocations: int = 0
    copies: int = 1
    wake_seconds: Optional[float] = None  # scale to zero emulated when set
    idle_seconds: Optional[float] = None
    waking: bool = False
    last_request: float = field(default_factory=time.monotonic)
    no_capacity_failures: int = 0


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: Optional[str], message: str, **members) -> Reply:
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if code:
        headers["x-amzn-ErrorType"] = code
    return Reply(status, json.dumps({"Message": message, "message": message, **members}).encode(), headers)


class SageMakerRuntime:
    """The gateway. ``add(name, container_url)`` registers an endpoint; ``start()`` serves on
    ``url``; use as a context manager. ``interceptor(endpoint, body)`` may return one of
    ``FAULTS`` to answer that instead of calling the container."""

    def __init__(self, *, region: str = "us-east-1", account: str = LOCAL_ACCOUNT,
                 invocation_timeout: float = INVOCATION_TIMEOUT_SECONDS,
                 max_payload_bytes: int = MAX_PAYLOAD_BYTES, max_concurrent: int | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.region, self.account = region, account
        self.invocation_timeout = invocation_timeout
        self.max_payload_bytes = max_payload_bytes
        self.max_concurrent = max_concurrent
        self.interceptor: Callable[[str, bytes], Optional[str]] | None = None
        # local.iam.Authorizer: when set, InvokeEndpoint is authorized against the template's
        # policies before anything else, as SageMaker does (403 AccessDeniedException).
        self.authorizer: Any = None
        self._endpoints: dict[str, _Endpoint] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self.url = f"http://{host}:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="sagemaker-runtime", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------
    def add(self, name: str, container_url: str, component: Optional[str] = None) -> None:
        """Endpoint ``name`` in front of ``container_url``; with ``component``, the endpoint hosts
        that inference component and every request must name it."""
        with self._lock:
            self._endpoints[name] = _Endpoint(name, container_url.rstrip("/"), component)

    def scale_to_zero(self, name: str, wake_seconds: float, idle_seconds: Optional[float] = None) -> None:
        """Endpoint ``name``'s component has no copy from now on; a request that finds none starts
        one, ready ``wake_seconds`` later; after ``idle_seconds`` without requests it has none again."""
        with self._lock:
            endpoint = self._endpoints[name]
            endpoint.copies, endpoint.waking = 0, False
            endpoint.wake_seconds, endpoint.idle_seconds = wake_seconds, idle_seconds

    def keep_warm(self, name: str) -> None:
        """Back to an endpoint that always has its copy (what ``add`` makes)."""
        with self._lock:
            endpoint = self._endpoints[name]
            endpoint.copies, endpoint.waking, endpoint.wake_seconds, endpoint.idle_seconds = 1, False, None, None

    def copies(self, name: str) -> int:
        return self._endpoints[name].copies

    def no_capacity_failures(self, name: str) -> int:
        """The endpoint's NoCapacityInvocationFailures so far."""
        return self._endpoints[name].no_capacity_failures

    def _has_capacity(self, endpoint: _Endpoint) -> bool:
        """Under the lock. Scales in an idle copy, and starts one for a request that finds none."""
        if endpoint.wake_seconds is None:
            return True
        now = time.monotonic()
        if endpoint.copies and endpoint.idle_seconds is not None and now - endpoint.last_request > endpoint.idle_seconds:
            endpoint.copies = 0
        endpoint.last_request = now
        if endpoint.copies:
            return True
        endpoint.no_capacity_failures += 1
        if not endpoint.waking:
            endpoint.waking = True
            timer = threading.Timer(endpoint.wake_seconds, self._copy_started, args=(endpoint,))
            timer.daemon = True
            timer.start()
        return False

    def _copy_started(self, endpoint: _Endpoint) -> None:
        with self._lock:
            endpoint.copies, endpoint.waking = 1, False
            endpoint.last_request = time.monotonic()

    def invocations(self, name: str) -> int:
        """Requests that reached the container of endpoint ``name``."""
        return self._endpoints[name].invocations

    def start(self) -> SageMakerRuntime:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SageMakerRuntime:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- InvokeEndpoint ----------------------------------------------------------------
    def authorized(self, authorization: str, name: str, component: Optional[str]) -> Optional[Reply]:
        """None when the signer may invoke `name` (and `component`), else the 403 SageMaker answers."""
        if self.authorizer is None:
            return None
        from local.iam.authorizer import AccessDenied
        from local.iam.wire import sagemaker_calls, signer

        try:
            self.authorizer.check(signer({"Authorization": authorization}),
                                  sagemaker_calls(name, component, self.authorizer.region, self.authorizer.account))
        except AccessDenied as denied:
            return _error(403, "AccessDeniedException", str(denied))
        return None

    def invoke(self, name: str, body: bytes, content_type: str | None, accept: str | None,
               component: str | None = None) -> Reply:
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            return _error(400, "ValidationError", f"Endpoint {name} of account {self.account} not found.")
        if endpoint.component is not None and not component:
            return _error(400, "ValidationError", COMPONENT_REQUIRED_MESSAGE)
        if component and component != endpoint.component:
            return _error(400, "ValidationError", f"Inference Component {component} of account {self.account} not found.")
        with self._lock:
            has_capacity = self._has_capacity(endpoint)
        if not has_capacity:
            return _error(400, "ValidationError", NO_CAPACITY_MESSAGE)
        if len(body) > self.max_payload_bytes:
            return _error(413, None, f"HTTP content length exceeded {self.max_payload_bytes} bytes.")
        fault = self.interceptor(name, body) if self.interceptor is not None else None
        if fault == "throttle":
            return _error(400, "ThrottlingException", "Rate exceeded")
        if fault == "5xx":  # what multi-model-server answers when every worker is busy or gone
            detail = json.dumps({"code": 503, "type": "ServiceUnavailableException",
                                 "message": "No worker is available to serve request: model"})
            return self._model_error(name, 503, detail)
        if fault == "timeout":
            return self._timed_out(name)
        with self._lock:
            if self.max_concurrent is not None and endpoint.in_flight >= self.max_concurrent:
                return _error(400, "ThrottlingException", "Rate exceeded")
            endpoint.in_flight += 1
            endpoint.invocations += 1
        try:
            return self._forward(endpoint, body, content_type, accept)
        finally:
            with self._lock:
                endpoint.in_flight -= 1

    def _forward(self, endpoint: _Endpoint, body: bytes, content_type: str | None, accept: str | None) -> Reply:
        target = urlsplit(endpoint.container)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=self.invocation_timeout)
        headers = {"Content-Type": content_type or "application/octet-stream", "Accept": accept or "*/*"}
        try:
            connection.request("POST", "/invocations", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except TimeoutError:
            return self._timed_out(endpoint.name)
        except OSError as exc:
            return _error(503, "ServiceUnavailable", f"The endpoint {endpoint.name} is unavailable: {exc}")
        finally:
            connection.close()
        if 200 <= response.status < 300:
            return Reply(response.status, payload, {
                "Content-Type": response.getheader("Content-Type") or "application/octet-stream",
                "x-Amzn-Invoked-Production-Variant": VARIANT,
            })
        return self._model_error(endpoint.name, response.status, payload.decode("utf-8", "replace"))

    def _model_error(self, name: str, status: int, original: str) -> Reply:
        side = "client" if 400 <= status < 500 else "server"
        group = f"/aws/sagemaker/Endpoints/{name}"
        message = (f'Received {side} error ({status}) from {CONTAINER} with message "{original}". See '
                   f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
                   f"#logEventViewer:group={group} in account {self.account} for more information.")
        # OriginalMessage: "Length Constraints: Maximum length of 2048" (ModelError).
        return _error(424, "ModelError", message, OriginalStatusCode=status, OriginalMessage=original[:2048],
                      LogStreamArn=f"arn:aws:logs:{self.region}:{self.account}:log-group:{group}")

    def _timed_out(self, name: str) -> Reply:
        return self._model_error(name, 0, (
            f"Your invocation timed out while waiting for a response from container {CONTAINER}. Review the "
            "latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again."))


def _handler_for(gateway: SageMakerRuntime):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # the pipeline logs its own calls
            pass

        def do_POST(self):
            parts = self.path.split("?")[0].strip("/").split("/")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if len(parts) != 3 or parts[0] != "endpoints" or parts[2] != "invocations":
                reply = _error(404, "UnknownOperationException", f"no operation at {self.path}")
            else:
                reply = gateway.authorized(self.headers.get("Authorization", ""), unquote(parts[1]),
                                           self.headers.get(COMPONENT_HEADER))
                if reply is None:
                    reply = gateway.invoke(unquote(parts[1]), body, self.headers.get("Content-Type"),
                                           self.headers.get("Accept"), self.headers.get(COMPONENT_HEADER))
            self.send_response(reply.status)
            for name, value in {**reply.headers, "x-amzn-RequestId": "local"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

    return Handler


__all__ = ["SageMakerRuntime", "Reply", "FAULTS", "MAX_PAYLOAD_BYTES", "INVOCATION_TIMEOUT_SECONDS"]
