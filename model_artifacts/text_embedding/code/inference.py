"""Text embedding endpoint: sentence-transformers all-MiniLM-L6-v2 (384-d, L2-normalised).

SageMaker inference toolkit contract; wire format in docs/contracts.md (role text_embedding):
items are strings (or {"text"}), outputs are lists of 384 floats.
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
    """Load the sentence-transformer from model_dir, else from env HF_MODEL_ID."""
    from sentence_transformers import SentenceTransformer

    source, is_local = mm.model_source(model_dir)
    device, dtype = mm.torch_device_dtype()
    model = SentenceTransformer(source, device=str(device), revision=None if is_local else mm.hub_revision())
    if device.type == "cuda":
        model = model.to(dtype)
    config = model[0].auto_model.config
    return {
        "model": model,
        "info": mm.model_info(mm.model_id(source, is_local), mm.model_version(source, is_local, config)),
    }


def input_fn(body, content_type):
    request = mm.parse_request(body, content_type)
    request["texts"] = [mm.item_text(item) for item in request["inputs"]]
    return request


@mm.guard_overload
def predict_fn(data, model):
    texts = data["texts"]
    if not texts:
        return {"info": model["info"], "outputs": []}
    vectors = model["model"].encode(
        texts,
        batch_size=mm.batch_size(data["parameters"]),
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return {"info": model["info"], "outputs": [mm.as_list(v) for v in vectors]}


def output_fn(prediction, accept):
    return mm.encode_response(prediction["info"], prediction["outputs"], accept)
