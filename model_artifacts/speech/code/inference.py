"""Speech recognition endpoint: Whisper with segment timestamps.

SageMaker inference toolkit contract; wire format in docs/contracts.md (role speech):
items are {"audio_b64"} / {"s3_uri"} (16 kHz mono WAV); outputs are
{"text", "language", "segments": [{"start", "end", "text"}]} with times in seconds.
Audio longer than 30 s is transcribed with Whisper's sequential long-form decoding.
``parameters.language`` (e.g. "en") forces the language; otherwise Whisper detects it.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    import mm_serving as mm  # beside this file inside model.tar.gz
except ImportError:  # running from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))
    import mm_serving as mm

SAMPLE_RATE = 16000
DEFAULT_MAX_NEW_TOKENS = 440  # Whisper decodes at most 448 tokens per 30 s window


def model_fn(model_dir: str) -> dict[str, Any]:
    """Load a Whisper model + processor from model_dir, else from env HF_MODEL_ID."""
    from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

    return mm.load_transformers(model_dir, AutoModelForSpeechSeq2Seq, AutoProcessor)


def input_fn(body, content_type):
    request = mm.parse_request(body, content_type)
    audio = []
    # s3_uri items are fetched in parallel; each WAV is then decoded and resampled on the host.
    for index, data in enumerate(mm.items_bytes(request["inputs"], "audio_b64")):
        try:
            audio.append(mm.audio_16k(data))
        except mm.BadRequest as exc:
            raise mm.BadRequest(f"{exc.message} (item {index})") from exc
    request["audio"] = audio
    return request


def _transcribe(model, audio: list, parameters: dict) -> list[dict]:
    import torch

    processor, whisper = model["processor"], model["model"]
    long_form = any(len(a) > 30 * SAMPLE_RATE for a in audio)
    features = processor(
        audio,
        sampling_rate=SAMPLE_RATE,
        return_tensors="pt",
        return_attention_mask=True,
        # The log-mel spectrogram is a torch STFT: on a GPU it runs there (the default is the CPU).
        device=str(model["device"]),
        **({"truncation": False, "padding": "longest"} if long_form else {}),
    )
    kwargs = {
        "input_features": features["input_features"].to(model["device"], model["dtype"]),
        "return_timestamps": True,
        "max_new_tokens": int(parameters.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
    }
    kwargs["attention_mask"] = features["attention_mask"].to(model["device"])
    with torch.inference_mode():
        if parameters.get("language"):
            languages = [parameters["language"]] * len(audio)
        else:
            # Detect once per item and pass it on, so that each response can name the language
            # (generate's own detection does not return it). Costs one more encoder pass.
            detected = whisper.detect_language(input_features=kwargs["input_features"][:, :, :3000])
            languages = [token.strip("<|>") for token in processor.tokenizer.convert_ids_to_tokens(detected.view(-1).tolist())]
        kwargs["language"] = languages
        sequences = whisper.generate(**kwargs)
    sequences = getattr(sequences, "sequences", sequences)
    # The Whisper tokenizer computes offsets one sequence at a time.
    decoded = [processor.decode(row.tolist(), skip_special_tokens=True, output_offsets=True) for row in sequences]
    results = []
    for item, language, samples in zip(decoded, languages, audio):
        duration = len(samples) / SAMPLE_RATE
        segments = []
        for offset in item.get("offsets", []):
            start, end = offset["timestamp"]
            start = float(start) if start is not None else 0.0
            end = float(end) if end is not None else duration
            start, end = min(start, duration), min(end, duration)
            segments.append({"start": round(start, 2), "end": round(max(start, end), 2), "text": offset["text"].strip()})
        results.append({"text": item["text"].strip(), "language": language, "segments": segments})
    return results


@mm.guard_overload
def predict_fn(data, model):
    size = mm.batch_size(data["parameters"])
    outputs: list[Any] = []
    for chunk in mm.batched(data["audio"], size):
        outputs.extend(_transcribe(model, list(chunk), data["parameters"]))
    return {"info": model["info"], "outputs": outputs}


def output_fn(prediction, accept):
    return mm.encode_response(prediction["info"], prediction["outputs"], accept)
