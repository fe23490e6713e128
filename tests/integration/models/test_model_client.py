"""The pipeline's model client against the toolkit's model servers behind the SageMaker Runtime
stand-in: batching, what is retried and what is not, splitting, timeouts.

Faults come from the stand-in's interceptor, where SageMaker would produce them.
"""
from __future__ import annotations

import json

import pytest

from functions.common.constants import MODEL_GENERATION, MODEL_IMAGE_EMBEDDING, MODEL_TEXT_EMBEDDING
from functions.common.errors import ModelNoCapacityError, ModelThrottledError, ModelUnavailableError
from functions.common.events import S3Pointer
from functions.common.model_client import (
    Blob,
    ModelClient,
    ModelInputError,
    ModelNotAvailableError,
    ModelRequestError,
)
from local.model_servers import endpoint_name
from local.sagemaker_runtime import SageMakerRuntime


@pytest.fixture
def runtime(model_profile):
    """The shared gateway, with whatever a test arms removed afterwards."""
    yield model_profile.runtime
    model_profile.runtime.interceptor = None


def _client(profile, **kwargs) -> ModelClient:
    kwargs.setdefault("sleep", lambda s: None)
    kwargs.setdefault("components", profile.components)
    return ModelClient(profile.endpoints, sagemaker_client=profile.client(), **kwargs)


def _faults(runtime, answers: list[str | None], seen: list[bytes] | None = None):
    """Answer the next requests with `answers` (None: the container answers), then normally."""
    pending = list(answers)

    def intercept(name: str, body: bytes):
        if seen is not None:
            seen.append(body)
        return pending.pop(0) if pending else None

    runtime.interceptor = intercept


def test_items_go_in_requests_of_the_role_batch_size_and_keep_their_order(model_profile, runtime):
    seen: list[bytes] = []
    _faults(runtime, [], seen)
    items = [{"text": f"word{i} " * 6, "task": "summarize"} for i in range(5)]

    result = _client(model_profile, batch_items={MODEL_GENERATION: 2}).invoke(MODEL_GENERATION, items)

    assert [len(json.loads(body)["inputs"]) for body in seen] == [2, 2, 1]
    assert [o["keywords"][0] for o in result.outputs] == [f"word{i}" for i in range(5)]


def test_throttling_is_retried_with_backoff_then_succeeds(model_profile, runtime):
    sleeps: list[float] = []
    _faults(runtime, ["throttle", "throttle"])

    result = _client(model_profile, sleep=sleeps.append, base_delay=0.1).invoke(MODEL_TEXT_EMBEDDING, ["a"])

    assert len(result.outputs[0]) == 384
    assert len(sleeps) == 2 and all(0 <= s <= 0.2 for s in sleeps)


def test_persistent_throttling_raises_model_throttled_error_after_the_attempts(model_profile, runtime):
    seen: list[bytes] = []
    _faults(runtime, ["throttle"] * 10, seen)
    with pytest.raises(ModelThrottledError, match="throttled after 3 attempts"):
        _client(model_profile, max_attempts=3).invoke(MODEL_TEXT_EMBEDDING, ["a"])
    assert len(seen) == 3


@pytest.mark.parametrize("fault", ["5xx", "timeout"])
def test_container_5xx_and_timeouts_raise_model_unavailable_error(model_profile, runtime, fault):
    _faults(runtime, [fault] * 10)
    with pytest.raises(ModelUnavailableError):
        _client(model_profile, max_attempts=2).invoke(MODEL_TEXT_EMBEDDING, ["a"])


def test_a_real_invocation_timeout_is_retried_as_unavailable(model_profile):
    """A gateway with a tiny invocation limit in front of the real container: the container is
    still working when the service gives up."""
    container = model_profile.containers[MODEL_TEXT_EMBEDDING]
    with SageMakerRuntime(invocation_timeout=0.001) as impatient:
        impatient.add(endpoint_name(MODEL_TEXT_EMBEDDING), container.url)
        client = ModelClient(model_profile.endpoints, sagemaker_client=_runtime_client(impatient.url),
                             max_attempts=2, sleep=lambda s: None)
        with pytest.raises(ModelUnavailableError, match="timed out"):
            client.invoke(MODEL_TEXT_EMBEDDING, ["a sentence"] * 32)


def _scaled_to_zero(model_profile, gateway: SageMakerRuntime, wake_seconds: float) -> str:
    """A gateway whose text embedding endpoint hosts component "minilm", at zero copies."""
    name = endpoint_name(MODEL_TEXT_EMBEDDING)
    gateway.add(name, model_profile.containers[MODEL_TEXT_EMBEDDING].url, component="minilm")
    gateway.scale_to_zero(name, wake_seconds=wake_seconds, idle_seconds=60)
    return name


def test_a_call_to_an_endpoint_scaled_to_zero_waits_for_its_copy_then_is_served(model_profile):
    waits: list[tuple[str, float]] = []
    with SageMakerRuntime() as gateway:
        name = _scaled_to_zero(model_profile, gateway, wake_seconds=1.5)
        client = ModelClient({MODEL_TEXT_EMBEDDING: name}, components={MODEL_TEXT_EMBEDDING: "minilm"},
                             sagemaker_client=_runtime_client(gateway.url), max_attempts=1,
                             sleep=lambda s: __import__("time").sleep(0.5),
                             on_capacity_wait=lambda role, s: waits.append((role, s)))

        result = client.invoke(MODEL_TEXT_EMBEDDING, ["a sentence"])

        assert len(result.outputs[0]) == 384  # served, although max_attempts=1: waiting is not an attempt
        assert gateway.copies(name) == 1 and gateway.no_capacity_failures(name) >= 2
        assert waits and all(role == MODEL_TEXT_EMBEDDING for role, _ in waits)


def test_an_endpoint_that_stays_at_zero_raises_model_no_capacity_error_for_the_state_machine(model_profile):
    with SageMakerRuntime() as gateway:
        name = _scaled_to_zero(model_profile, gateway, wake_seconds=3600)
        client = ModelClient({MODEL_TEXT_EMBEDDING: name}, components={MODEL_TEXT_EMBEDDING: "minilm"},
                             sagemaker_client=_runtime_client(gateway.url), sleep=lambda s: None, capacity_wait=30)
        with pytest.raises(ModelNoCapacityError, match="no instance yet after 30 s"):
            client.invoke(MODEL_TEXT_EMBEDDING, ["a sentence"])
        assert gateway.no_capacity_failures(name) == 4  # polled every 10 s of the 30


def test_an_endpoint_with_a_component_refuses_a_request_that_does_not_name_it(model_profile):
    with SageMakerRuntime() as gateway:
        name = endpoint_name(MODEL_TEXT_EMBEDDING)
        gateway.add(name, model_profile.containers[MODEL_TEXT_EMBEDDING].url, component="minilm")
        client = ModelClient({MODEL_TEXT_EMBEDDING: name}, sagemaker_client=_runtime_client(gateway.url),
                             sleep=lambda s: None)
        with pytest.raises(ModelRequestError, match="Inference Component Name header is required"):
            client.invoke(MODEL_TEXT_EMBEDDING, ["a sentence"])


def test_unreachable_container_raises_model_unavailable_error(model_profile):
    with SageMakerRuntime() as gateway:
        gateway.add("gone", "http://127.0.0.1:9")
        client = ModelClient({MODEL_TEXT_EMBEDDING: "gone"}, sagemaker_client=_runtime_client(gateway.url),
                             max_attempts=2, sleep=lambda s: None)
        with pytest.raises(ModelUnavailableError, match="ServiceUnavailable"):
            client.invoke(MODEL_TEXT_EMBEDDING, ["a"])


def test_an_input_the_model_refuses_is_not_retried(model_profile, runtime):
    seen: list[bytes] = []
    _faults(runtime, [], seen)
    with pytest.raises(ModelInputError, match=r"item must be a string"):
        _client(model_profile).invoke(MODEL_TEXT_EMBEDDING, [{"not": "text"}])
    assert len(seen) == 1


def test_a_batch_over_the_container_limit_is_split_in_halves(model_profile, runtime):
    seen: list[bytes] = []
    _faults(runtime, [], seen)
    items = [f"sentence {i}" for i in range(300)]  # the catalog's MAX_BATCH_ITEMS is 256

    result = _client(model_profile, batch_items={MODEL_TEXT_EMBEDDING: 300}).invoke(MODEL_TEXT_EMBEDDING, items)

    assert len(result.outputs) == 300
    assert [len(json.loads(body)["inputs"]) for body in seen] == [300, 150, 150]


def test_a_batch_that_times_out_is_sent_again_in_halves_once(model_profile, runtime):
    seen: list[bytes] = []
    # The batch of 8 times out; its first half times out again (retried at that size, not halved twice).
    _faults(runtime, ["timeout", "timeout"], seen)
    items = [f"sentence {i}" for i in range(8)]

    result = _client(model_profile, batch_items={MODEL_TEXT_EMBEDDING: 8}).invoke(MODEL_TEXT_EMBEDDING, items)

    assert len(result.outputs) == 8
    assert [len(json.loads(body)["inputs"]) for body in seen] == [8, 4, 4, 4]


def test_a_body_over_the_payload_limit_is_split(model_profile):
    container = model_profile.containers[MODEL_TEXT_EMBEDDING]
    with SageMakerRuntime(max_payload_bytes=2000) as small:
        small.add(endpoint_name(MODEL_TEXT_EMBEDDING), container.url)
        client = ModelClient(model_profile.endpoints, sagemaker_client=_runtime_client(small.url),
                             batch_items={MODEL_TEXT_EMBEDDING: 8}, sleep=lambda s: None)
        result = client.invoke(MODEL_TEXT_EMBEDDING, ["x" * 400] * 8)
    assert len(result.outputs) == 8


def test_role_without_endpoint_is_not_available():
    client = ModelClient({})
    assert not client.available("speech")
    with pytest.raises(ModelNotAvailableError):
        client.invoke("speech", ["x"])


def test_small_blobs_go_inline_and_large_ones_as_s3_uri(model_profile, runtime, s3, staging_bucket):
    s3.put_object(Bucket=staging_bucket, Key="k/small.jpg", Body=b"\xff\xd8\xff" + b"a" * 100)
    s3.put_object(Bucket=staging_bucket, Key="k/large.jpg", Body=b"\xff\xd8\xff" + b"b" * 5000)
    seen: list[bytes] = []
    _faults(runtime, [], seen)
    client = _client(model_profile, s3_client=s3, max_inline_batch_bytes=1000)

    with pytest.raises(ModelInputError):  # neither is a real image; the container says so
        client.invoke(MODEL_IMAGE_EMBEDDING, [
            Blob("image", S3Pointer(bucket=staging_bucket, key="k/small.jpg"), 103),
            Blob("image", S3Pointer(bucket=staging_bucket, key="k/large.jpg"), 5003),
        ])

    small, large = json.loads(seen[0])["inputs"]
    assert set(small) == {"image_b64"}
    assert large == {"s3_uri": f"s3://{staging_bucket}/k/large.jpg"}


def _runtime_client(url: str):
    import boto3
    from botocore.config import Config

    return boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                        config=Config(retries={"total_max_attempts": 1}))
