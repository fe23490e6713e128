"""Request helpers for the model tests (images, WAVs, the container call chain)."""
from __future__ import annotations

import base64
import io
import json
import wave

import numpy as np

from model_artifacts.code_modules import load_inference


def inference(folder: str):
    return load_inference(folder)


def png_b64(color="red", size=(48, 40)) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def noise_wav_b64(seconds: float = 1.0) -> str:
    rng = np.random.default_rng(0)
    return base64.b64encode(wav_bytes(rng.normal(0, 0.1, int(16000 * seconds)))).decode()


def run(module, model, inputs, parameters=None) -> dict:
    """input_fn -> predict_fn -> output_fn, as the toolkit chains them; returns the decoded JSON
    (output_fn's return value is the response body itself)."""
    body = json.dumps({"inputs": inputs, "parameters": parameters or {}})
    data = module.input_fn(body, "application/json")
    return json.loads(module.output_fn(module.predict_fn(data, model), "application/json"))
