"""Image-text embedding endpoint: CLIP (images and text queries in one space, L2-normalised).

SageMaker inference toolkit contract; wire format in docs/contracts.md (role image_embedding):
items are {"image_b64"} / {"s3_uri"} / {"text"}; outputs are lists of floats (projection dim).
Images and texts in one request are batched separately and returned in request order.

Images: input_fn only gathers their bytes (``s3_uri`` items fetched in parallel); predict_fn
decodes and preprocesses them where the model runs (mm_images: nvJPEG and tensor ops on a GPU,
the processor in a thread pool on CPU).
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
import mm_images  # noqa: E402  (beside mm_serving, found the same way)


def model_fn(model_dir: str) -> dict[str, Any]:
    """Load a CLIP model + processor from model_dir, else from env HF_MODEL_ID."""
    from transformers import AutoModel, AutoProcessor

    return mm.load_transformers(model_dir, AutoModel, AutoProcessor)


def input_fn(body, content_type):
    request = mm.parse_request(body, content_type)
    inputs = request["inputs"]
    texts = {i for i, item in enumerate(inputs) if isinstance(item, dict) and "text" in item}
    images = [i for i in range(len(inputs)) if i not in texts]
    encoded = dict(zip(images, mm.items_bytes([inputs[i] for i in images], "image_b64", positions=images)))
    request["items"] = [("text", mm.item_text(item)) if i in texts else ("image", encoded[i]) for i, item in enumerate(inputs)]
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
                    pixels, _ = mm_images.images_to_pixels(values, processor, device, model["dtype"],
                                                           positions=[i for i, _ in chunk])
                    feats = _features(clip.get_image_features(pixel_values=pixels))
                else:
                    tokens = processor(text=values, return_tensors="pt", padding=True, truncation=True)
                    feats = _features(clip.get_text_features(**{k: v.to(device) for k, v in tokens.items()}))
                # One copy to the host and one tolist per batch, not one per vector.
                vectors = torch.nn.functional.normalize(feats.float(), dim=-1).cpu().tolist()
            for (index, _), vector in zip(chunk, vectors):
                outputs[index] = vector
    return {"info": model["info"], "outputs": outputs}


def output_fn(prediction, accept):
    return mm.encode_response(prediction["info"], prediction["outputs"], accept)
