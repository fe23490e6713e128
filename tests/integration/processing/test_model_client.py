"""The model client against a contract-speaking HTTP server: batching, retries, 413, s3_uri."""
from __future__ import annotations

import pytest

from functions.common.errors import ModelThrottledError, ModelUnavailableError
from functions.common.events import S3Pointer
from functions.common.model_client import Blob, ModelClient, ModelNotAvailableError, ModelRequestError
from fake_models import FakeModelServer


def _client(url: str, **kwargs) -> ModelClient:
    return ModelClient({"image_embedding": url}, sleep=lambda s: None, **kwargs)


def test_items_are_batched_and_outputs_keep_their_order():
    with FakeModelServer("generation") as server:
        client = ModelClient({"generation": server.url}, batch_size=2, sleep=lambda s: None)
        items = [{"text": f"t{i} " * 6, "task": "summarize"} for i in range(5)]

        result = client.invoke("generation", items)

    assert [len(r["inputs"]) for r in server.requests] == [2, 2, 1]
    assert [o["summary"].split()[0] for o in result.outputs] == [f"t{i}" for i in range(5)]
    assert result.model == {"id": "fake-generation", "version": "1"}


def test_throttling_is_retried_then_succeeds():
    sleeps: list[float] = []
    behaviour = lambda n, body: (429, {"error": "slow down"}) if n < 2 else None  # noqa: E731
    with FakeModelServer("image_embedding", behaviour) as server:
        client = ModelClient({"image_embedding": server.url}, sleep=sleeps.append, base_delay=0.1)
        result = client.invoke("image_embedding", [{"text": "a"}])

    assert len(result.outputs[0]) == 512
    assert len(sleeps) == 2 and all(0 <= s <= 0.2 for s in sleeps)


def test_persistent_throttling_raises_model_throttled_error():
    with FakeModelServer("image_embedding", lambda n, b: (429, {"error": "no"})) as server:
        with pytest.raises(ModelThrottledError):
            _client(server.url, max_attempts=3).invoke("image_embedding", [{"text": "a"}])
        assert len(server.requests) == 3


def test_server_errors_raise_model_unavailable_error():
    with FakeModelServer("image_embedding", lambda n, b: (503, {"error": "down"})) as server:
        with pytest.raises(ModelUnavailableError):
            _client(server.url, max_attempts=2).invoke("image_embedding", [{"text": "a"}])


def test_unreachable_endpoint_raises_model_unavailable_error():
    client = _client("http://127.0.0.1:9", max_attempts=2, timeout=1)
    with pytest.raises(ModelUnavailableError):
        client.invoke("image_embedding", [{"text": "a"}])


def test_bad_request_is_not_retried():
    with FakeModelServer("image_embedding", lambda n, b: (400, {"error": "malformed"})) as server:
        with pytest.raises(ModelRequestError):
            _client(server.url).invoke("image_embedding", [{"text": "a"}])
        assert len(server.requests) == 1


def test_batch_too_large_is_split_in_halves():
    with FakeModelServer("image_embedding", max_batch=2) as server:
        result = _client(server.url, batch_size=8).invoke("image_embedding", [{"text": str(i)} for i in range(5)])

    assert len(result.outputs) == 5
    assert [len(r["inputs"]) for r in server.requests] == [5, 2, 3, 1, 2]


def test_role_without_endpoint_is_not_available():
    client = ModelClient({})
    assert not client.available("speech")
    with pytest.raises(ModelNotAvailableError):
        client.invoke("speech", ["x"])


def test_small_blobs_go_inline_and_large_ones_as_s3_uri(s3, staging_bucket):
    s3.put_object(Bucket=staging_bucket, Key="k/small.jpg", Body=b"\xff\xd8\xff" + b"a" * 100)
    s3.put_object(Bucket=staging_bucket, Key="k/large.jpg", Body=b"\xff\xd8\xff" + b"b" * 5000)
    with FakeModelServer("image_embedding") as server:
        client = _client(server.url, s3_client=s3, max_inline_batch_bytes=1000)
        client.invoke("image_embedding", [
            Blob("image", S3Pointer(bucket=staging_bucket, key="k/small.jpg"), 103),
            Blob("image", S3Pointer(bucket=staging_bucket, key="k/large.jpg"), 5003),
        ])

    small, large = server.requests[0]["inputs"]
    assert set(small) == {"image_b64"}
    assert large == {"s3_uri": f"s3://{staging_bucket}/k/large.jpg"}


def test_sagemaker_endpoint_names_use_invoke_endpoint():
    import io
    import json

    from botocore.exceptions import ClientError

    calls = []

    class FakeRuntime:
        def invoke_endpoint(self, **kwargs):
            calls.append(kwargs)
            if len(calls) == 1:
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "InvokeEndpoint")
            body = json.loads(kwargs["Body"])
            reply = {"model": {"id": "m", "version": "2"}, "outputs": [[0.0] * 3 for _ in body["inputs"]]}
            return {"Body": io.BytesIO(json.dumps(reply).encode())}

    client = ModelClient({"text_embedding": "my-endpoint"}, sagemaker_client=FakeRuntime(), sleep=lambda s: None)
    result = client.invoke("text_embedding", ["hello"])

    assert result.model == {"id": "m", "version": "2"}
    assert calls[-1]["EndpointName"] == "my-endpoint" and calls[-1]["ContentType"] == "application/json"
