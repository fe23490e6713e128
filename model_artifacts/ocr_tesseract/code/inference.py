"""Local-profile OCR engine: Debian tesseract-ocr through pytesseract.

Contract and wire format of the ``ocr`` role (docs/contracts.md): items {"image_b64"} /
{"s3_uri"} -> {"text", "words": [{"text", "conf", "box": [x0, y0, x1, y1]}]}, conf 0-100.
Not deployable as is: the SageMaker DLC images carry no tesseract binary, so production OCR is
served by Florence-2 (catalog role ``ocr``: model_artifacts/florence2 with DEFAULT_TASK=ocr). Tesseract
runs one image at a time (one process per image); ``batch_size`` has no effect here.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

try:
    import mm_serving as mm  # beside this file inside model.tar.gz
except ImportError:  # running from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))
    import mm_serving as mm

LANGUAGE = "eng"


def model_fn(model_dir: str | None) -> dict[str, Any]:
    """Check the tesseract binary; raises RuntimeError when it is missing (model_dir unused)."""
    import pytesseract

    # Tesseract's OpenMP threads spin-wait more than they compute on these page sizes: one
    # thread per process measured 0.22 s per image against 0.46 s with OpenMP's default (2 cores).
    # Parallelism comes from concurrent requests instead (tesseract's own FAQ advises this).
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        version = str(pytesseract.get_tesseract_version())
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        raise RuntimeError("tesseract is not installed (apt-get install tesseract-ocr)") from exc
    return {"info": mm.model_info(f"tesseract/{LANGUAGE}", f"tesseract-{version}")}


def input_fn(body, content_type):
    request = mm.parse_request(body, content_type)
    request["images"] = [mm.item_image(item) for item in request["inputs"]]
    return request


def _ocr(image) -> dict:
    import pytesseract

    data = pytesseract.image_to_data(image, lang=LANGUAGE, output_type=pytesseract.Output.DICT)
    words, lines = [], {}
    for i, text in enumerate(data["text"]):
        text = text.strip()
        conf = float(data["conf"][i])
        if not text or conf < 0:
            continue
        left, top, width, height = (int(data[k][i]) for k in ("left", "top", "width", "height"))
        words.append({"text": text, "conf": round(conf, 1), "box": [left, top, left + width, top + height]})
        lines.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(text)
    return {"text": "\n".join(" ".join(line) for _, line in sorted(lines.items())), "words": words}


def predict_fn(data, model):
    return {"info": model["info"], "outputs": [_ocr(image) for image in data["images"]]}


def output_fn(prediction, accept):
    return mm.encode_response(prediction["info"], prediction["outputs"], accept)
