"""Wire format and helpers shared by every model's ``code/inference.py``.

The wire format is docs/contracts.md ("Model wire format"). This file is copied next to each
``inference.py`` inside ``model.tar.gz`` (``code/mm_serving.py``) by ``model_artifacts.package``,
because a SageMaker container only sees ``code/``; in the repository, ``inference.py`` finds it
here. It must therefore import nothing from this repository.

The container is the Hugging Face PyTorch inference DLC: its toolkit
(sagemaker-huggingface-inference-toolkit, ``handler_service.HuggingFaceHandlerService`` under
multi-model-server) calls ``model_fn``/``input_fn``/``predict_fn``/``output_fn``, sends
``output_fn``'s return value as the body and answers any exception with 400 (see
``ModelRequestError`` for how errors are told apart).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

JSON = "application/json"

# Environment variable names. They equal functions/common/constants.py (ENV_MODEL_BATCH_SIZE,
# ENV_AWS_ENDPOINT_URL); the container cannot import the repository, and
# tests/unit/models/test_wire.py asserts the two stay equal.
ENV_MODEL_BATCH_SIZE = "MODEL_BATCH_SIZE"
ENV_AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"
# Container-only settings (set by the catalog's env for the endpoint). HF_MODEL_ID is set only for
# a code-only model.tar.gz (the toolkit then downloads it at start); PIPELINE_MODEL_ID always names
# the weights, also when they are packaged in model_dir and nothing is downloaded.
ENV_HF_MODEL_ID = "HF_MODEL_ID"
ENV_PIPELINE_MODEL_ID = "PIPELINE_MODEL_ID"
ENV_HF_MODEL_REVISION = "HF_MODEL_REVISION"
ENV_MAX_BATCH_ITEMS = "MAX_BATCH_ITEMS"

DEFAULT_BATCH_SIZE = 16
DEFAULT_MAX_BATCH_ITEMS = 256


class ModelRequestError(Exception):
    """A request the model cannot serve.

    The Hugging Face inference toolkit answers every exception with HTTP 400 and ``str(exc)`` as
    the message (``handler_service.handle``: ``raise PredictionException(str(e), 400)``), so the
    status code cannot tell a bad input from a full batch. ``str()`` therefore starts with a
    ``[kind]`` tag that the pipeline's model client reads from SageMaker's ``OriginalMessage``
    (docs/contracts.md, "Errors"): ``input`` (never retried: the failure names the input problem),
    ``batch-too-large`` (the client splits the batch), ``overloaded`` (retried with backoff).
    """

    kind = "input"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"[{self.kind}] {self.message}"


class BadRequest(ModelRequestError):
    """Malformed body or item: the input is the problem."""


class UnsupportedContentType(ModelRequestError):
    """Content type or accept type other than application/json."""


class BatchTooLarge(ModelRequestError):
    """More items than the server's max batch (env MAX_BATCH_ITEMS); the client splits."""

    kind = "batch-too-large"


class Overloaded(ModelRequestError):
    """The accelerator ran out of memory for this batch; a later or smaller call can succeed."""

    kind = "overloaded"


def guard_overload(predict_fn):
    """Wrap a ``predict_fn`` so that an accelerator out of memory raises ``Overloaded`` (retried by
    the client) instead of an untagged error the client would take for a bad input."""
    import functools

    @functools.wraps(predict_fn)
    def wrapper(data, model):
        try:
            return predict_fn(data, model)
        except ModelRequestError:
            raise
        except Exception as exc:  # torch.OutOfMemoryError without importing torch here
            if type(exc).__name__ in ("OutOfMemoryError", "CUDAOutOfMemoryError") or "out of memory" in str(exc).lower():
                raise Overloaded(f"out of accelerator memory for a batch of {len(data.get('inputs', []))}: {exc}") from exc
            raise

    return wrapper


def max_batch_items() -> int:
    """Largest number of items one request may carry (env MAX_BATCH_ITEMS)."""
    return int(os.environ.get(ENV_MAX_BATCH_ITEMS, DEFAULT_MAX_BATCH_ITEMS))


def batch_size(parameters: dict[str, Any] | None = None) -> int:
    """Items per forward pass: request ``parameters.batch_size``, else env MODEL_BATCH_SIZE."""
    value = (parameters or {}).get("batch_size") or os.environ.get(ENV_MODEL_BATCH_SIZE) or DEFAULT_BATCH_SIZE
    try:
        size = int(value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"batch_size must be an integer, got {value!r}") from exc
    if size < 1:
        raise BadRequest("batch_size must be >= 1")
    return size


def _base_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def parse_request(body: bytes | str | bytearray, content_type: str | None) -> dict[str, Any]:
    """Decode ``{"inputs": [...], "parameters": {...}}``.

    Returns ``{"inputs": list, "parameters": dict}``. Raises UnsupportedContentType (415),
    BadRequest (400) or BatchTooLarge (413).
    """
    if _base_type(content_type) != JSON:
        raise UnsupportedContentType(f"unsupported content type {content_type!r}; send {JSON}")
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("body is not UTF-8") from exc
    try:
        payload = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise BadRequest('body must be an object {"inputs": [item, ...], "parameters": {...}}')
    parameters = payload.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise BadRequest('"parameters" must be an object')
    inputs = payload["inputs"]
    limit = max_batch_items()
    if len(inputs) > limit:
        raise BatchTooLarge(
            f"batch of {len(inputs)} items exceeds this server's max batch of {limit}; split the request"
        )
    return {"inputs": inputs, "parameters": parameters}


def encode_response(model_info: dict[str, str], outputs: list[Any], accept: str | None) -> str:
    """The JSON body ``{"model": {...}, "outputs": [...]}``, what ``output_fn`` returns.

    The Hugging Face inference toolkit hands ``output_fn``'s return value to the model server as
    the response body, unchanged, and sets the content type from ``Accept`` itself
    (``handler_service.handle``: ``context.set_response_content_type(0, accept)``; ``return
    [response]``), so the body is a string and never a ``(body, content_type)`` tuple.
    """
    accepted = _base_type(accept)
    if accepted not in ("", "*/*", JSON, "application/*"):
        raise UnsupportedContentType(f"unsupported accept type {accept!r}; accept {JSON}")
    return json.dumps({"model": model_info, "outputs": outputs})


def batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- Inputs: inline base64 or S3 pointers -------------------------------------------------
_s3_client = None
# Parallel GETs for the s3_uri items of one request: each GET is a round trip of tens of ms, so a
# batch of 128 pointers read one by one would cost seconds of an accelerator's time.
S3_FETCH_THREADS = 16


def _s3():
    global _s3_client
    if _s3_client is None:
        import boto3
        from botocore.config import Config

        # boto3 also reads AWS_ENDPOINT_URL itself; passing it keeps older botocore working. One
        # pooled connection per fetch thread (botocore's default pool is 10).
        _s3_client = boto3.client("s3", endpoint_url=os.environ.get(ENV_AWS_ENDPOINT_URL) or None,
                                  config=Config(max_pool_connections=S3_FETCH_THREADS))
    return _s3_client


def read_s3_uri(uri: str) -> bytes:
    """Bytes of ``s3://bucket/key``. Raises BadRequest for a malformed or missing object."""
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
        raise BadRequest(f"s3_uri must look like s3://bucket/key, got {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    try:
        return _s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:  # botocore ClientError and friends
        raise BadRequest(f"cannot read {uri}: {exc}") from exc


def item_bytes(item: Any, inline_key: str) -> bytes:
    """Bytes of an item given inline (``inline_key``, base64) or as ``s3_uri``."""
    if not isinstance(item, dict):
        raise BadRequest(f"item must be an object with {inline_key!r} or 's3_uri'")
    if inline_key in item:
        try:
            return base64.b64decode(item[inline_key], validate=True)
        except (binascii.Error, TypeError, ValueError) as exc:
            raise BadRequest(f"{inline_key} is not valid base64") from exc
    if "s3_uri" in item:
        return read_s3_uri(item["s3_uri"])
    raise BadRequest(f"item must carry {inline_key!r} or 's3_uri'")


def items_bytes(items: Sequence[Any], inline_key: str, positions: Sequence[int] | None = None) -> list[bytes]:
    """Bytes of every item (``inline_key`` base64 or ``s3_uri``), in order; the ``s3_uri`` items
    are fetched in parallel (S3_FETCH_THREADS). Raises BadRequest for the first item in request
    order that is malformed or cannot be read, naming it by its index in the request
    (``positions[i]`` for ``items[i]``; default ``i``)."""
    from concurrent.futures import ThreadPoolExecutor

    out: list[Any] = [None] * len(items)
    errors: dict[int, BadRequest] = {}
    remote = [i for i, item in enumerate(items) if isinstance(item, dict) and inline_key not in item and "s3_uri" in item]
    pending = set(remote)
    for index, item in enumerate(items):
        if index not in pending:
            try:
                out[index] = item_bytes(item, inline_key)
            except BadRequest as exc:
                errors[index] = exc
    if remote:
        _s3()  # one client, made before the threads share it (clients are thread-safe, their creation is not)

        def fetch(index: int) -> None:
            try:
                out[index] = read_s3_uri(items[index]["s3_uri"])
            except BadRequest as exc:
                errors[index] = exc

        with ThreadPoolExecutor(max_workers=min(S3_FETCH_THREADS, len(remote))) as pool:
            list(pool.map(fetch, remote))
    if errors:
        first = min(errors)
        raise BadRequest(f"{errors[first].message} (item {positions[first] if positions else first})")
    return out


def item_image(item: Any):
    """A PIL RGB image from ``image_b64`` or ``s3_uri``."""
    from PIL import Image, UnidentifiedImageError

    data = item_bytes(item, "image_b64")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise BadRequest(f"not a readable image: {exc}") from exc
    return image.convert("RGB")


def item_text(item: Any) -> str:
    """Text of an item given as a string or ``{"text": ...}``."""
    if isinstance(item, dict):
        item = item.get("text")
    if not isinstance(item, str):
        raise BadRequest('item must be a string or {"text": "..."}')
    return item


# --- Models: where weights come from, which version, which device ------------------------
_WEIGHT_MARKERS = ("config.json", "modules.json", "preprocessor_config.json")


def model_source(model_dir: str | os.PathLike | None) -> tuple[str, bool]:
    """``(path_or_hub_id, is_local)``: model_dir when it holds weights, else env HF_MODEL_ID.

    A code-only model.tar.gz unpacks to a model_dir with nothing but ``code/``; the endpoint then
    downloads ``HF_MODEL_ID`` at start. Raises RuntimeError when neither is there.
    """
    if model_dir and any((Path(model_dir) / marker).is_file() for marker in _WEIGHT_MARKERS):
        return str(model_dir), True
    hub_id = os.environ.get(ENV_HF_MODEL_ID)
    if hub_id:
        return hub_id, False
    raise RuntimeError(f"no weights in {model_dir!r} and env {ENV_HF_MODEL_ID} is not set")


def hub_revision() -> str | None:
    """Pinned hub revision (env HF_MODEL_REVISION) or None for the default branch."""
    return os.environ.get(ENV_HF_MODEL_REVISION) or None


def weights_hash(model_dir: str | os.PathLike) -> str:
    """sha256 (first 16 hex digits) over the names and bytes of the weight files in model_dir."""
    digest = hashlib.sha256()
    root = Path(model_dir)
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and "code" not in p.relative_to(root).parts[:1]
        and p.suffix in (".safetensors", ".bin", ".pt", ".json", ".txt", ".model")
    )
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()[:16]


def model_version(source: str, is_local: bool, config: Any = None) -> str:
    """The pinned hub revision (env HF_MODEL_REVISION) the weights came from, whether the toolkit
    downloaded them or they were packaged at that revision; without a pin, the commit a download
    resolved to, else a hash of the local weights (so two different weights never share a version)."""
    pinned = hub_revision()
    if pinned:
        return pinned
    if not is_local:
        commit = getattr(config, "_commit_hash", None) if config is not None else None
        return commit or "main"
    return weights_hash(source)


def torch_device_dtype():
    """``(device, dtype)``: CUDA with bf16 (fp16 where bf16 is missing), else CPU float32."""
    import torch

    if torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.device("cuda"), dtype
    return torch.device("cpu"), torch.float32


def load_transformers(model_dir: str | os.PathLike | None, model_class: Any, processor_class: Any) -> dict[str, Any]:
    """Load a transformers model + processor from model_dir, else from env HF_MODEL_ID (at
    HF_MODEL_REVISION), on the GPU in bf16/fp16 when there is one. Returns the dict the
    inference modules pass to predict_fn: model, processor, device, dtype, info."""
    source, is_local = model_source(model_dir)
    revision = None if is_local else hub_revision()
    device, dtype = torch_device_dtype()
    model = model_class.from_pretrained(source, revision=revision, dtype=dtype).to(device).eval()
    return {
        "model": model,
        "processor": processor_class.from_pretrained(source, revision=revision),
        "device": device,
        "dtype": dtype,
        "info": model_info(model_id(source, is_local), model_version(source, is_local, model.config)),
    }


def model_info(model_id: str, version: str) -> dict[str, str]:
    return {"id": model_id, "version": version}


def as_list(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values]


def model_id(source: str, is_local: bool) -> str:
    """The id a response reports: env PIPELINE_MODEL_ID or HF_MODEL_ID (what the weights are),
    else the folder name."""
    named = os.environ.get(ENV_PIPELINE_MODEL_ID) or os.environ.get(ENV_HF_MODEL_ID)
    return named or (Path(source).name if is_local else source)


def item_audio_16k(item: Any):
    """Mono float32 samples at 16 kHz from a WAV given as ``audio_b64`` or ``s3_uri``.

    The contract asks for 16 kHz mono; other rates are resampled linearly and channels averaged
    rather than refused. Raises BadRequest for anything that is not PCM WAV.
    """
    return audio_16k(item_bytes(item, "audio_b64"))


def audio_16k(data: bytes):
    """Mono float32 samples at 16 kHz from the bytes of a PCM WAV (see ``item_audio_16k``)."""
    import wave

    import numpy as np

    try:
        with wave.open(io.BytesIO(data)) as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise BadRequest(f"not a PCM WAV file: {exc}") from exc
    dtypes = {1: np.uint8, 2: np.int16, 4: np.int32}
    if width not in dtypes:
        raise BadRequest(f"unsupported WAV sample width {width}")
    samples = np.frombuffer(frames, dtype=dtypes[width]).astype(np.float32)
    if width == 1:
        samples = (samples - 128.0) / 128.0
    else:
        samples /= float(2 ** (8 * width - 1))
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    if rate != 16000 and len(samples):
        target = int(round(len(samples) * 16000 / rate))
        samples = np.interp(np.linspace(0, len(samples) - 1, target), np.arange(len(samples)), samples).astype(np.float32)
    return samples
