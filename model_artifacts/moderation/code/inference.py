"""Image moderation endpoint (role ``moderation``): NudeNet 3.4.2's detector (``320n.onnx``, a
YOLOv8-n exported to ONNX that ships inside the nudenet wheel) under onnxruntime on CPU.

SageMaker inference toolkit contract; wire format in docs/contracts.md (role moderation): items
{"image_b64"} / {"s3_uri"}; each output ``{"labels": [{"label", "score", "box": [x, y, w, h]}]}``,
every detection NudeNet keeps (its own floor is a score of 0.2), all 18 of its body-part classes.
Which labels flag an object, and above which score, is the pipeline's decision
(functions/compliance/moderation.py, thresholds in the catalog), not the endpoint's.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

try:
    import mm_serving as mm  # beside this file inside model.tar.gz
except ImportError:  # running from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))
    import mm_serving as mm

WEIGHTS = "320n.onnx"


def _weights(model_dir: str | None) -> Path:
    """320n.onnx packaged in model_dir (weights_dir), else the installed nudenet wheel's."""
    if model_dir and (Path(model_dir) / WEIGHTS).is_file():
        return Path(model_dir) / WEIGHTS
    import nudenet

    return Path(nudenet.__file__).with_name(WEIGHTS)


def model_fn(model_dir: str | None) -> dict[str, Any]:
    from importlib.metadata import version

    from nudenet import NudeDetector

    weights = _weights(model_dir)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    return {
        "detector": NudeDetector(model_path=str(weights)),
        # The wheel's release and the detector file's own hash: a replaced file is a new version.
        "info": mm.model_info(f"nudenet/{weights.stem}", f"{version('nudenet')}+sha256:{digest}"),
    }


def input_fn(body, content_type):
    request = mm.parse_request(body, content_type)
    request["images"] = [mm.item_image(item) for item in request["inputs"]]
    return request


def detect(image, model: dict[str, Any]) -> dict[str, Any]:
    """NudeNet's detections of one PIL image."""
    import numpy as np

    # NudeNet reads a 4-channel array as RGBA (cv2.COLOR_RGBA2BGR) and swaps it back to RGB.
    rgba = np.asarray(image.convert("RGBA"))
    detections = model["detector"].detect(rgba)
    labels = [{"label": d["class"], "score": round(float(d["score"]), 4), "box": [int(v) for v in d["box"]]}
              for d in detections]
    return {"labels": sorted(labels, key=lambda d: -d["score"])}


@mm.guard_overload
def predict_fn(data, model):
    return {"info": model["info"], "outputs": [detect(image, model) for image in data["images"]]}


def output_fn(prediction, accept):
    return mm.encode_response(prediction["info"], prediction["outputs"], accept)
