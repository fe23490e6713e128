"""Image-text embedding endpoint: CLIP (images and text queries in one space, L2-normalised).

SageMaker inference toolkit contract; wire format in docs/contracts.md (role image_embedding):
items are {"image_b64"} / {"s3_uri"} / {"text"}; outputs are lists of floats (projection dim).
Images and texts in one request are batched separately and returned in request order.
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


def model_fn(model_dir: str) -> dict[str, Any]:
    """Load a CLIP model + processor from model_dir, else from env HF_MODEL_ID."""
    from transformers import AutoModel, AutoProcessor

    return mm.load_transformers(model_dir, AutoModel, AutoProcessor)


def input_fn(body, content_type):
    request = mm.parse_request(body, content_type)
    parsed = []
    for item in request["inputs"]:
        if isinstance(item, dict) and "text" in item:
            parsed.append(("text", mm.item_text(item)))
        else:
            parsed.append(("image", mm.item_image(item)))
    request["items"] = parsed
    return request


def _features(output):
    # transformers 5 returns a ModelOutput (pooler_output = projected features); 4.x a tensor.
    return getattr(output, "pooler_output", output)


@mm.guard_overload
def predict_fn(data, model):
    import torch

    size = mm.batch_size(data["parameters"])
    items = data["items"]
    outputs: list[Any] = [None] * len(items)
    clip, processor, device = model["model"], model["processor"], model["device"]
    for kind in ("image", "text"):
        indexed = [(i, value) for i, (k, value) in enumerate(items) if k == kind]
        for chunk in mm.batched(indexed, size):
            values = [value for _, value in chunk]
            with torch.inference_mode():
                if kind == "image":
                    pixels = processor(images=values, return_tensors="pt")["pixel_values"]
                    feats = _features(clip.get_image_features(pixel_values=pixels.to(device, model["dtype"])))
                else:
                    tokens = processor(text=values, return_tensors="pt", padding=True, truncation=True)
                    feats = _features(clip.get_text_features(**{k: v.to(device) for k, v in tokens.items()}))
                feats = torch.nn.functional.normalize(feats.float(), dim=-1).cpu()
            for (index, _), vector in zip(chunk, feats):
                outputs[index] = vector.tolist()
    return {"info": model["info"], "outputs": outputs}


def output_fn(prediction, accept):
    return mm.encode_response(prediction["info"], prediction["outputs"], accept)
