"""Images: metadata, a thumbnail, the copy the models see, and OCR of the picture's text (read
from a lossless copy at the original's resolution, formats/image.py)."""
from __future__ import annotations

from functions.common.constants import MODEL_OCR
from functions.processing.extract.job import ExtractJob, ocr_text
from functions.processing.formats.image import extract_image
from functions.processing.staging.manifest import Chunk


def extract(job: ExtractJob) -> None:
    m = job.manifest
    image = extract_image(job.source)
    m.metadata.update(image.metadata())
    thumb = job.stage("thumbnail.jpg", image.thumbnail_jpeg, "image/jpeg")
    model_image = job.stage("image.jpg", image.model_jpeg, "image/jpeg")
    m.artefacts.update(thumbnail=thumb, image=model_image)
    chunk = Chunk(ordinal=0, kind="image", image=model_image, metadata={"width": image.width, "height": image.height})
    ocr_image = job.stage("ocr.png", image.ocr_png, "image/png")
    outputs = job.call(MODEL_OCR, [job.blob(ocr_image, "image")])
    if outputs:
        chunk.text = ocr_text(outputs[0]) or None
        chunk.metadata["ocr_words"] = len(outputs[0].get("words") or [])
    m.chunks = [chunk]
