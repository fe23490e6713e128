"""Florence-2 (MIT): the generation endpoint (captions + tags of images/keyframes) and the
production ocr endpoint.

SageMaker inference toolkit contract; wire format in docs/contracts.md (roles generation, ocr):

- ``{"image_b64"}`` / ``{"s3_uri"}`` -> ``{"caption", "tags"}``: caption from Florence-2's
  ``<DETAILED_CAPTION>`` task, tags from its ``<OD>`` (object detection) labels, falling back to
  caption keywords when nothing is detected (``parameters.tags = "caption"`` skips the OD pass).
- ``{"text", "task": "summarize"}`` -> ``{"summary", "keywords"}``. Florence-2 is a vision model
  and cannot summarise text; this is an *extractive* summary (highest-scoring sentences by
  content-word frequency) and frequency keywords, computed on the endpoint's CPU. It is honest
  and cheap; swap in an instruction LLM if abstractive summaries are needed.
- ``{"image_b64", "task": "ocr"}`` -> ``{"text", "words": [{"text", "conf", "box"}]}`` from
  ``<OCR_WITH_REGION>``. With env ``DEFAULT_TASK=ocr`` the endpoint serves the ``ocr`` role
  contract (items without a task are OCR'd): that is how production OCR is served, because
  tesseract is not in the SageMaker DLC images. Florence-2 gives no per-word confidence:
  ``conf`` is null and ``box`` is the axis-aligned box [x0, y0, x1, y1] of each line's quad.
"""
from __future__ import annotations

import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

try:
    import mm_serving as mm  # beside this file inside model.tar.gz
except ImportError:  # running from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))
    import mm_serving as mm
import mm_images  # noqa: E402  (beside mm_serving, found the same way)

ENV_DEFAULT_TASK = "DEFAULT_TASK"  # "caption" (generation role) or "ocr" (ocr role)
TASK_CAPTION, TASK_OCR, TASK_SUMMARIZE = "caption", "ocr", "summarize"
# Summaries are not Florence-2's work: each summarize output names what produced it, so a stored
# summary is never attributed to the vision model.
EXTRACTIVE_SUMMARY_MODEL = {"id": "extractive-summary/frequency-sentence-scoring", "version": "1"}
_PROMPTS = {TASK_CAPTION: "<DETAILED_CAPTION>", TASK_OCR: "<OCR_WITH_REGION>", "tags": "<OD>"}
DEFAULT_MAX_NEW_TOKENS = 64


def model_fn(model_dir: str) -> dict[str, Any]:
    """Load Florence-2 (native transformers class) from model_dir, else from env HF_MODEL_ID."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return mm.load_transformers(model_dir, AutoModelForImageTextToText, AutoProcessor)


def input_fn(body, content_type):
    request = mm.parse_request(body, content_type)
    default_task = os.environ.get(ENV_DEFAULT_TASK, TASK_CAPTION)
    inputs = request["inputs"]
    tasks = []
    for item in inputs:
        task = item.get("task", default_task) if isinstance(item, dict) else None
        if task not in (TASK_CAPTION, TASK_OCR, TASK_SUMMARIZE):
            raise mm.BadRequest(f"unknown task {task!r}; use caption, ocr or summarize")
        tasks.append(task)
    # Image bytes only (s3_uri items fetched in parallel); predict_fn decodes them where the model runs.
    images = [i for i, task in enumerate(tasks) if task != TASK_SUMMARIZE]
    encoded = dict(zip(images, mm.items_bytes([inputs[i] for i in images], "image_b64", positions=images)))
    request["items"] = [(task, encoded[i] if i in encoded else mm.item_text(inputs[i])) for i, task in enumerate(tasks)]
    return request


def _prompt_tokens(model, prompt: str, count: int) -> dict:
    """The processor's token inputs for ``prompt`` (its question and image placeholder tokens),
    repeated ``count`` times: they do not depend on the image, so the processor is run on a single
    blank image once per prompt and the batch's pixels are computed once for every prompt."""
    cache = model.setdefault("_prompt_tokens", {})
    if prompt not in cache:
        from PIL import Image

        side = 32
        inputs = model["processor"](text=[prompt], images=[Image.new("RGB", (side, side))], return_tensors="pt")
        cache[prompt] = {k: v for k, v in inputs.items() if k != "pixel_values"}
    return {k: v.repeat(count, *([1] * (v.dim() - 1))).to(model["device"]) for k, v in cache[prompt].items()}


def _generate(model, prompt: str, pixels, sizes: list, parameters: dict) -> list[dict]:
    import torch

    processor = model["processor"]
    # One prompt for the whole batch: every row has the same length, so there is no padding and
    # the attention mask is all ones (Florence-2's decoder starts from its own start token).
    inputs = {**_prompt_tokens(model, prompt, len(sizes)), "pixel_values": pixels}
    with torch.inference_mode():
        generated = model["model"].generate(
            **inputs,
            max_new_tokens=int(parameters.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
            num_beams=int(parameters.get("num_beams", 1)),
            do_sample=False,
        )
    texts = processor.batch_decode(generated, skip_special_tokens=False)
    return [
        processor.post_process_generation(text, task=prompt, image_size=size)[prompt]
        for text, size in zip(texts, sizes)
    ]


@mm.guard_overload
def predict_fn(data, model):
    parameters = data["parameters"]
    size = mm.batch_size(parameters)
    items = data["items"]
    outputs: list[Any] = [None] * len(items)
    for task in (TASK_CAPTION, TASK_OCR):
        indexed = [(i, value) for i, (t, value) in enumerate(items) if t == task]
        for chunk in mm.batched(indexed, size):
            # Decoded and preprocessed once for both passes (mm_images: on the GPU where there is one).
            pixels, sizes = mm_images.images_to_pixels([data for _, data in chunk], model["processor"], model["device"],
                                                       model["dtype"], positions=[i for i, _ in chunk])
            parsed = _generate(model, _PROMPTS[task], pixels, sizes, parameters)
            if task == TASK_CAPTION:
                labels = (
                    _generate(model, _PROMPTS["tags"], pixels, sizes, parameters)
                    if parameters.get("tags", "od") == "od" else [{}] * len(sizes)
                )
                for (index, _), caption, detected in zip(chunk, parsed, labels):
                    caption = caption.strip()
                    tags = _unique(label.strip().lower() for label in detected.get("labels", []) if label.strip())
                    outputs[index] = {"caption": caption, "tags": tags or keywords(caption, 8)}
            else:
                for (index, _), ocr in zip(chunk, parsed):
                    outputs[index] = _ocr_output(ocr)
    for index, (task, text) in enumerate(items):
        if task == TASK_SUMMARIZE:
            outputs[index] = {
                "summary": extractive_summary(text, int(parameters.get("summary_sentences", 3))),
                "keywords": keywords(text, int(parameters.get("keywords", 10))),
                "model": EXTRACTIVE_SUMMARY_MODEL,
            }
    return {"info": model["info"], "outputs": outputs}


def output_fn(prediction, accept):
    return mm.encode_response(prediction["info"], prediction["outputs"], accept)


def _ocr_output(ocr: dict) -> dict:
    words = []
    for label, quad in zip(ocr.get("labels", []), ocr.get("quad_boxes", [])):
        text = label.replace("</s>", "").replace("<s>", "").strip()
        if not text:
            continue
        xs, ys = quad[0::2], quad[1::2]
        words.append({"text": text, "conf": None, "box": [min(xs), min(ys), max(xs), max(ys)]})
    return {"text": "\n".join(w["text"] for w in words), "words": words}


# --- Text: extractive summary and keywords (no model) --------------------------------------
_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves image shows shown""".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]+")


def _unique(values) -> list[str]:
    return list(dict.fromkeys(values))


def _content_words(text: str) -> list[str]:
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in _STOPWORDS and len(w) > 2]


def keywords(text: str, count: int = 10) -> list[str]:
    """Most frequent content words, ties in order of first appearance."""
    counts = Counter(_content_words(text))
    order = {w: i for i, w in reversed(list(enumerate(_content_words(text))))}
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], order[kv[0]]))[:count]]


def extractive_summary(text: str, sentences: int = 3) -> str:
    """The ``sentences`` highest-scoring sentences (sum of content-word frequencies / length), in text order."""
    parts = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]
    if len(parts) <= sentences:
        return " ".join(parts)
    freq = Counter(_content_words(text))
    scored = [(sum(freq[w] for w in _content_words(s)) / (len(_content_words(s)) or 1), i) for i, s in enumerate(parts)]
    keep = sorted(i for _, i in sorted(scored, key=lambda si: (-si[0], si[1]))[:sentences])
    return " ".join(parts[i] for i in keep)
