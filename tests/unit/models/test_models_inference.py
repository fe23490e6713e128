"""Every production model's real loading and batching code, on tiny random-weight checkpoints.

Each test saves a tiny model of the production architecture to tmp_path, loads it with the
model's own ``model_fn`` and runs a batch larger than ``batch_size`` through input_fn ->
predict_fn -> output_fn. Outputs are gibberish by design; shapes, types and ids are not.
"""
from __future__ import annotations

import math
import os

import pytest
from models_helpers import inference, noise_wav_b64, png_b64, run


def _unit_norm(vector):
    return math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-4)


def test_clip_embeds_images_and_text_in_one_space_in_request_order(tiny_dirs):
    module = inference("image_embedding")
    model = module.model_fn(tiny_dirs("image_embedding"))
    inputs = [{"image_b64": png_b64("red")}, {"text": "a cat"}, {"image_b64": png_b64("blue")}, {"text": "a dog on grass"}, {"image_b64": png_b64("green")}]

    response = run(module, model, inputs, {"batch_size": 2})

    assert response["model"]["id"] == os.path.basename(tiny_dirs("image_embedding"))
    assert response["model"]["version"].startswith("sha256:")
    outputs = response["outputs"]
    assert len(outputs) == 5 and {len(v) for v in outputs} == {16}  # projection_dim of the tiny CLIP
    assert all(_unit_norm(v) for v in outputs)
    assert outputs[0] != outputs[2]  # different images, different vectors, order kept


def test_clip_reads_images_from_s3(tiny_dirs, s3, ingest_bucket):
    import base64

    import mm_serving

    s3.put_object(Bucket=ingest_bucket, Key="img.png", Body=base64.b64decode(png_b64("red")))
    module = inference("image_embedding")
    model = module.model_fn(tiny_dirs("image_embedding"))
    mm_serving._s3_client = None
    try:
        from_s3 = run(module, model, [{"s3_uri": f"s3://{ingest_bucket}/img.png"}])["outputs"][0]
    finally:
        mm_serving._s3_client = None
    inline = run(module, model, [{"image_b64": png_b64("red")}])["outputs"][0]
    assert from_s3 == pytest.approx(inline, abs=1e-5)


def test_code_only_package_loads_the_hub_id_from_the_environment(tiny_dirs, tmp_path, monkeypatch):
    # An empty model_dir (code-only model.tar.gz) falls back to HF_MODEL_ID; a local path stands
    # in for the hub id so that nothing is downloaded.
    monkeypatch.setenv("HF_MODEL_ID", tiny_dirs("image_embedding"))
    module = inference("image_embedding")
    model = module.model_fn(str(tmp_path))
    response = run(module, model, [{"text": "a cat"}])
    assert response["model"]["id"] == tiny_dirs("image_embedding")
    assert len(response["outputs"][0]) == 16


def test_florence2_captions_images_summarises_text_and_reads_text(tiny_dirs):
    module = inference("florence2")
    model = module.model_fn(tiny_dirs("generation"))
    text = "Cats sleep a lot. Dogs bark at night. Cats purr when happy. Birds sing. Cats hunt mice."
    inputs = [{"image_b64": png_b64("red")}, {"text": text, "task": "summarize"}, {"image_b64": png_b64("blue")},
              {"image_b64": png_b64("green"), "task": "ocr"}, {"image_b64": png_b64("white")}]

    response = run(module, model, inputs, {"batch_size": 2, "max_new_tokens": 8})

    outputs = response["outputs"]
    assert response["model"]["id"] == os.path.basename(tiny_dirs("generation"))
    for index in (0, 2, 4):
        assert set(outputs[index]) == {"caption", "tags"}
        assert isinstance(outputs[index]["caption"], str) and isinstance(outputs[index]["tags"], list)
    assert outputs[1]["keywords"][0] == "cats"
    assert outputs[1]["summary"].count(".") == 3
    # The summary is not the vision model's work, and says so.
    assert outputs[1]["model"]["id"].startswith("extractive-summary") and outputs[1]["model"] != response["model"]
    assert set(outputs[3]) == {"text", "words"} and isinstance(outputs[3]["words"], list)


def test_florence2_serves_the_ocr_contract_when_default_task_is_ocr(tiny_dirs, monkeypatch):
    monkeypatch.setenv("DEFAULT_TASK", "ocr")
    module = inference("florence2")
    model = module.model_fn(tiny_dirs("generation"))
    outputs = run(module, model, [{"image_b64": png_b64()}] * 3, {"batch_size": 2, "max_new_tokens": 8})["outputs"]
    assert [set(o) for o in outputs] == [{"text", "words"}] * 3


def test_generation_rejects_an_unknown_task(tiny_dirs):
    import mm_serving

    module = inference("florence2")
    with pytest.raises(mm_serving.BadRequest):
        module.input_fn('{"inputs": [{"image_b64": "", "task": "paint"}]}', "application/json")


def test_whisper_transcribes_a_batch_with_segment_timestamps(tiny_dirs):
    module = inference("speech")
    model = module.model_fn(tiny_dirs("speech"))
    inputs = [{"audio_b64": noise_wav_b64(1.0)}, {"audio_b64": noise_wav_b64(2.0)}, {"audio_b64": noise_wav_b64(0.5)}]

    response = run(module, model, inputs, {"batch_size": 2, "max_new_tokens": 6})

    assert response["model"]["id"] == os.path.basename(tiny_dirs("speech"))
    durations = [1.0, 2.0, 0.5]
    for output, duration in zip(response["outputs"], durations):
        assert set(output) == {"text", "language", "segments"}
        assert output["language"] in ("en", "de", "fr")  # the tiny model's languages
        for segment in output["segments"]:
            assert 0.0 <= segment["start"] <= segment["end"] <= duration
            assert isinstance(segment["text"], str)


def test_whisper_uses_the_language_it_is_given(tiny_dirs):
    module = inference("speech")
    model = module.model_fn(tiny_dirs("speech"))
    outputs = run(module, model, [{"audio_b64": noise_wav_b64(0.5)}], {"language": "de", "max_new_tokens": 4})["outputs"]
    assert outputs[0]["language"] == "de"


def test_sentence_transformer_returns_normalised_vectors_per_text(tiny_dirs):
    module = inference("text_embedding")
    model = module.model_fn(tiny_dirs("text_embedding"))
    response = run(module, model, ["a cat", {"text": "a dog"}, "hello world"], {"batch_size": 2})
    assert len(response["outputs"]) == 3
    assert {len(v) for v in response["outputs"]} == {32}
    assert all(_unit_norm(v) for v in response["outputs"])


def test_empty_batch_returns_no_outputs(tiny_dirs):
    module = inference("text_embedding")
    model = module.model_fn(tiny_dirs("text_embedding"))
    assert run(module, model, [])["outputs"] == []
