"""Local-profile speech engine: CMU PocketSphinx 5 with its bundled US-English model.

Same contract and wire format as ``speech/code/inference.py`` (role speech) so the pipeline
cannot tell them apart, only the quality differs. Never deployed to SageMaker (see catalog).
Segments are runs of words between the silences PocketSphinx reports (frames are 10 ms).
PocketSphinx has no batched decoding: items run one after another, and one decoder is used
by one request at a time.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

try:
    import mm_serving as mm  # beside this file inside model.tar.gz
except ImportError:  # running from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))
    import mm_serving as mm

SAMPLE_RATE = 16000
MAX_SEGMENT_SECONDS = 15.0


def model_fn(model_dir: str | None) -> dict[str, Any]:
    """A PocketSphinx decoder over the package's bundled en-us model (model_dir is unused)."""
    from importlib.metadata import version

    from pocketsphinx import Decoder

    decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
    return {
        "decoder": decoder,
        "lock": threading.Lock(),
        "frame_rate": int(decoder.config["frate"]),
        "info": mm.model_info("cmusphinx/pocketsphinx-en-us", f"pocketsphinx-{version('pocketsphinx')}"),
    }


def input_fn(body, content_type):
    request = mm.parse_request(body, content_type)
    request["audio"] = [mm.item_audio_16k(item) for item in request["inputs"]]
    return request


def _is_word(token: str) -> bool:
    return not (token.startswith("<") or token.startswith("[") or token.startswith("+"))


def _transcribe(model, samples) -> dict:
    import numpy as np

    if len(samples) == 0:  # PocketSphinx cannot process an empty buffer: nothing was said
        return {"text": "", "language": "en", "segments": []}
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    decoder, rate = model["decoder"], model["frame_rate"]
    with model["lock"]:
        decoder.start_utt()
        try:
            decoder.process_raw(pcm, full_utt=True)
        finally:
            # An utterance left open makes every later start_utt fail on this shared decoder.
            decoder.end_utt()
        words = [(s.word, s.start_frame / rate, (s.end_frame + 1) / rate) for s in decoder.seg()]
    segments: list[dict] = []
    current: list[tuple[str, float, float]] = []

    def close():
        if current:
            segments.append({"start": round(current[0][1], 2), "end": round(current[-1][2], 2),
                             "text": " ".join(w for w, _, _ in current)})
            current.clear()

    for token, start, end in words:
        if not _is_word(token):
            close()
            continue
        if current and end - current[0][1] > MAX_SEGMENT_SECONDS:
            close()
        current.append((token.split("(")[0], start, end))  # "hello(2)" is an alternate pronunciation
    close()
    return {"text": " ".join(s["text"] for s in segments), "language": "en", "segments": segments}


def predict_fn(data, model):
    return {"info": model["info"], "outputs": [_transcribe(model, samples) for samples in data["audio"]]}


def output_fn(prediction, accept):
    return mm.encode_response(prediction["info"], prediction["outputs"], accept)
