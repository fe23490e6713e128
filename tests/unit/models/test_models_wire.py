"""The wire format helpers every inference.py shares (model_artifacts/_shared/mm_serving.py)."""
from __future__ import annotations

import json

import pytest

from functions.common import constants
from model_artifacts.code_modules import load_inference

load_inference("text_embedding")  # puts _shared on sys.path, as inference.py does in the repo
import mm_serving as mm  # noqa: E402


def test_env_names_match_the_shared_constants_and_the_catalog():
    from model_artifacts import catalog

    assert mm.ENV_MODEL_BATCH_SIZE == constants.ENV_MODEL_BATCH_SIZE
    assert mm.ENV_AWS_ENDPOINT_URL == constants.ENV_AWS_ENDPOINT_URL
    assert (mm.ENV_HF_MODEL_ID, mm.ENV_HF_MODEL_REVISION, mm.ENV_PIPELINE_MODEL_ID, mm.ENV_MAX_BATCH_ITEMS) == (
        catalog.ENV_HF_MODEL_ID, catalog.ENV_HF_MODEL_REVISION, catalog.ENV_PIPELINE_MODEL_ID, catalog.ENV_MAX_BATCH_ITEMS)


def test_request_with_charset_is_parsed():
    request = mm.parse_request(b'{"inputs": ["a"], "parameters": {"batch_size": 4}}', "application/json; charset=utf-8")
    assert request == {"inputs": ["a"], "parameters": {"batch_size": 4}}


@pytest.mark.parametrize("content_type", ["text/csv", "application/x-npy", None])
def test_other_content_types_are_input_errors(content_type):
    with pytest.raises(mm.UnsupportedContentType) as error:
        mm.parse_request(b'{"inputs": []}', content_type)
    assert str(error.value).startswith("[input] unsupported content type")


@pytest.mark.parametrize("body", [b"not json", b'{"inputs": "x"}', b"[1, 2]", b'{"inputs": [], "parameters": 3}', b"\xff\xfe"])
def test_malformed_bodies_are_input_errors(body):
    with pytest.raises(mm.BadRequest) as error:
        mm.parse_request(body, "application/json")
    assert str(error.value).startswith("[input] ")


def test_batch_over_the_max_is_tagged_for_the_client_to_split(monkeypatch):
    monkeypatch.setenv(mm.ENV_MAX_BATCH_ITEMS, "3")
    with pytest.raises(mm.BatchTooLarge) as error:
        mm.parse_request(json.dumps({"inputs": ["a"] * 4}), "application/json")
    assert str(error.value).startswith("[batch-too-large] ")
    assert "4 items exceeds" in error.value.message and "max batch of 3" in error.value.message


def test_accelerator_out_of_memory_is_tagged_overloaded_and_other_errors_pass_through():
    class OutOfMemoryError(RuntimeError):
        pass

    def predict(data, model):
        raise model

    guarded = mm.guard_overload(predict)
    with pytest.raises(mm.Overloaded) as error:
        guarded({"inputs": [1, 2]}, OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert str(error.value).startswith("[overloaded] out of accelerator memory for a batch of 2")
    with pytest.raises(ValueError):
        guarded({"inputs": []}, ValueError("a bug"))


def test_batch_size_comes_from_parameters_then_environment(monkeypatch):
    monkeypatch.setenv(constants.ENV_MODEL_BATCH_SIZE, "8")
    assert mm.batch_size({}) == 8
    assert mm.batch_size({"batch_size": 2}) == 2
    with pytest.raises(mm.BadRequest):
        mm.batch_size({"batch_size": "many"})


def test_batched_keeps_order_and_sizes():
    assert [list(b) for b in mm.batched(list(range(5)), 2)] == [[0, 1], [2, 3], [4]]


def test_response_is_the_json_body_itself_naming_the_model():
    body = mm.encode_response({"id": "m", "version": "v"}, [[1.0]], "application/json")
    assert isinstance(body, str)  # the HF toolkit sends output_fn's return value as the body
    assert json.loads(body) == {"model": {"id": "m", "version": "v"}, "outputs": [[1.0]]}
    with pytest.raises(mm.UnsupportedContentType):
        mm.encode_response({"id": "m", "version": "v"}, [], "text/csv")


def test_bad_base64_and_missing_inputs_are_400():
    with pytest.raises(mm.BadRequest):
        mm.item_bytes({"image_b64": "***"}, "image_b64")
    with pytest.raises(mm.BadRequest):
        mm.item_bytes({"nothing": 1}, "image_b64")
    with pytest.raises(mm.BadRequest):
        mm.item_image({"image_b64": "aGVsbG8="})  # "hello" is not an image


def test_s3_pointer_is_read_through_boto3(s3, ingest_bucket):
    s3.put_object(Bucket=ingest_bucket, Key="a/b.bin", Body=b"payload")
    mm._s3_client = None  # created inside moto's mock
    try:
        assert mm.item_bytes({"s3_uri": f"s3://{ingest_bucket}/a/b.bin"}, "image_b64") == b"payload"
        with pytest.raises(mm.BadRequest):
            mm.item_bytes({"s3_uri": f"s3://{ingest_bucket}/missing"}, "image_b64")
    finally:
        mm._s3_client = None


def test_no_weights_and_no_hub_id_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="HF_MODEL_ID"):
        mm.model_source(tmp_path)


def test_weights_hash_changes_with_the_weights(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"a")
    first = mm.weights_hash(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"b")
    assert mm.weights_hash(tmp_path) != first and first.startswith("sha256:")


def test_version_is_the_pinned_revision_else_the_weights_hash(tmp_path, monkeypatch):
    (tmp_path / "model.safetensors").write_bytes(b"a")
    monkeypatch.delenv(mm.ENV_HF_MODEL_REVISION, raising=False)
    assert mm.model_version(str(tmp_path), True) == mm.weights_hash(tmp_path)
    monkeypatch.setenv(mm.ENV_HF_MODEL_REVISION, "c9745ed1d9f207416be6d2e6f8de32d1f16199bf")
    assert mm.model_version(str(tmp_path), True) == "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"


def test_id_names_the_weights_even_when_nothing_is_downloaded(tmp_path, monkeypatch):
    monkeypatch.delenv(mm.ENV_HF_MODEL_ID, raising=False)
    monkeypatch.setenv(mm.ENV_PIPELINE_MODEL_ID, "sentence-transformers/all-MiniLM-L6-v2")
    assert mm.model_id(str(tmp_path), True) == "sentence-transformers/all-MiniLM-L6-v2"
    monkeypatch.delenv(mm.ENV_PIPELINE_MODEL_ID)
    assert mm.model_id(str(tmp_path), True) == tmp_path.name
