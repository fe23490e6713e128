"""The SageMaker Runtime stand-in answers in the shapes botocore's own service model defines.

Each reply of local/sagemaker_runtime.py is parsed by a real boto3 sagemaker-runtime client, and
its error shapes are checked against botocore's service-2.json for sagemaker-runtime (the
machine-readable form of https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html).
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.sagemaker_runtime import MAX_PAYLOAD_BYTES, SageMakerRuntime


class Container:
    """A container answering /invocations with a fixed status and body after `delay` seconds:
    only to drive the gateway's own rules (the real containers: test_model_contract.py)."""

    def __init__(self, status: int = 200, body: bytes = b"{}", delay: float = 0.0):
        container = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                threading.Event().wait(container.delay)
                self.send_response(container.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(container.body)))
                self.end_headers()
                self.wfile.write(container.body)

        self.status, self.body, self.delay = status, body, delay
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def gateway():
    with SageMakerRuntime(invocation_timeout=0.5) as runtime:
        yield runtime


def _call(gateway, endpoint="ep", body=b'{"inputs": []}'):
    client = boto3.client("sagemaker-runtime", endpoint_url=gateway.url, region_name="us-east-1",
                          config=Config(retries={"total_max_attempts": 1}))
    return client.invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                                  Accept="application/json", Body=body)


def _error(gateway, **kwargs) -> dict:
    with pytest.raises(ClientError) as caught:
        _call(gateway, **kwargs)
    return caught.value.response


def _error_from(gateway, container: Container) -> dict:
    """The error the gateway answers with `container` behind endpoint "ep"."""
    gateway.add("ep", container.url)
    try:
        return _error(gateway)
    finally:
        container.close()


def _service_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker-runtime")


def test_model_error_is_a_modeled_424_with_the_original_status_and_message():
    shape = _service_model().shape_for("ModelError")
    assert shape.metadata["error"]["httpStatusCode"] == 424
    assert {"Message", "OriginalStatusCode", "OriginalMessage", "LogStreamArn"} <= set(shape.members)
    assert {"ValidationError", "ModelError", "ServiceUnavailable"} <= {s.name for s in _service_model().error_shapes}


def test_the_component_header_is_where_botocore_puts_inference_component_name():
    from local.sagemaker_runtime import COMPONENT_HEADER

    member = _service_model().operation_model("InvokeEndpoint").input_shape.members["InferenceComponentName"]
    assert member.serialization == {"location": "header", "name": COMPONENT_HEADER}


def test_container_reply_passes_through_with_its_content_type(gateway):
    container = Container(200, b'{"outputs": []}')
    gateway.add("ep", container.url)
    try:
        response = _call(gateway)
    finally:
        container.close()
    assert response["Body"].read() == b'{"outputs": []}'
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"


def test_container_error_becomes_model_error_with_original_status_and_message(gateway):
    original = json.dumps({"code": 400, "type": "InternalServerException", "message": "[input] bad image"})
    error = _error_from(gateway, Container(400, original.encode()))
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert error["OriginalMessage"] == original
    assert error["LogStreamArn"].endswith("/aws/sagemaker/Endpoints/ep")
    assert error["Error"]["Message"].startswith('Received client error (400) from primary with message "')


def test_silent_container_times_out_as_a_model_error(gateway):
    error = _error_from(gateway, Container(200, b"{}", delay=2.0))
    assert error["Error"]["Code"] == "ModelError"
    assert "Your invocation timed out while waiting for a response from container primary" in error["Error"]["Message"]
    assert error["OriginalStatusCode"] == 0


def test_body_over_the_payload_limit_is_a_413(gateway):
    gateway.add("ep", "http://127.0.0.1:9")
    error = _error(gateway, body=b"x" * (MAX_PAYLOAD_BYTES + 1))
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Error"]["Code"] == "413"
    assert "HTTP content length exceeded 6291456 bytes" in error["Error"]["Message"]


def test_more_requests_in_flight_than_allowed_are_throttled():
    container = Container(200, b"{}", delay=0.5)
    with SageMakerRuntime(max_concurrent=1) as gateway:
        gateway.add("ep", container.url)
        results: list = []
        first = threading.Thread(target=lambda: results.append(_call(gateway)))
        first.start()
        threading.Event().wait(0.2)
        error = _error(gateway)
        first.join()
    container.close()
    assert error["Error"]["Code"] == "ThrottlingException"
    assert len(results) == 1


def test_unknown_endpoint_is_a_validation_error(gateway):
    error = _error(gateway, endpoint="nope")
    assert error["Error"]["Code"] == "ValidationError"
    assert error["Error"]["Message"] == "Endpoint nope of account 000000000000 not found."


def test_an_endpoint_with_an_inference_component_needs_its_name_and_serves_with_it(gateway):
    container = Container(200, b'{"outputs": []}')
    gateway.add("ep", container.url, component="ep-model")
    try:
        error = _error(gateway)
        assert error["Error"]["Code"] == "ValidationError"
        assert error["Error"]["Message"].startswith("Inference Component Name header is required")
        client = boto3.client("sagemaker-runtime", endpoint_url=gateway.url, region_name="us-east-1")
        reply = client.invoke_endpoint(EndpointName="ep", InferenceComponentName="ep-model", Body=b"{}",
                                       ContentType="application/json")
        assert reply["Body"].read() == b'{"outputs": []}'
    finally:
        container.close()


def test_a_component_scaled_to_zero_answers_no_capacity_then_its_copy_serves(gateway):
    import time

    container = Container(200, b'{"outputs": []}')
    gateway.add("ep", container.url, component="ep-model")
    gateway.scale_to_zero("ep", wake_seconds=0.3, idle_seconds=1.5)  # room for a loaded machine's stalls
    client = boto3.client("sagemaker-runtime", endpoint_url=gateway.url, region_name="us-east-1",
                          config=Config(retries={"total_max_attempts": 1}))

    def call():
        return client.invoke_endpoint(EndpointName="ep", InferenceComponentName="ep-model", Body=b"{}",
                                      ContentType="application/json")

    try:
        with pytest.raises(ClientError) as caught:
            call()
        error = caught.value.response
        assert error["Error"]["Code"] == "ValidationError" and error["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "has no capacity to process this request" in error["Error"]["Message"]
        assert gateway.no_capacity_failures("ep") == 1 and gateway.copies("ep") == 0
        deadline = time.monotonic() + 10  # the alarm's step scaling starts a copy wake_seconds later
        while gateway.copies("ep") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert call()["Body"].read() == b'{"outputs": []}'
        time.sleep(2.0)  # idle past idle_seconds: scaled in to zero again
        with pytest.raises(ClientError):
            call()
        assert gateway.no_capacity_failures("ep") == 2
    finally:
        container.close()


def test_unreachable_container_is_service_unavailable(gateway):
    gateway.add("ep", "http://127.0.0.1:9")
    error = _error(gateway)
    assert error["Error"]["Code"] == "ServiceUnavailable"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 503


@pytest.mark.parametrize("fault, code", [("throttle", "ThrottlingException"), ("5xx", "ModelError"), ("timeout", "ModelError")])
def test_interceptor_answers_faults_where_the_service_would(gateway, fault, code):
    gateway.add("ep", "http://127.0.0.1:9")
    gateway.interceptor = lambda name, body: fault
    error = _error(gateway)
    assert error["Error"]["Code"] == code
    if fault == "5xx":
        assert error["OriginalStatusCode"] == 503
