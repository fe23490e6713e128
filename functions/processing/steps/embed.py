"""embed: vectors for every chunk: image embeddings of images and keyframes, text embeddings
of chunk text (with the generated caption and tags where there are some).

Reads `extract.json` and `generate.json`, writes `embed.json` (vectors stay in staging).
"""
from __future__ import annotations

import math
import time
from typing import Any

from functions.common.constants import MODEL_IMAGE_EMBEDDING, MODEL_TEXT_EMBEDDING
from functions.common.events import S3Pointer, StepResult
from functions.common.model_client import Blob, ModelRequestError
from functions.common.staging import Staging
from functions.processing.staging.chunks import chunk_pages, put_embeddings
from functions.processing.staging.manifest import Chunk, Embedding, EmbedManifest, ExtractManifest, GenerateManifest, ModelRef
from functions.processing.steps.context import Context


def run(previous: StepResult, ctx: Context) -> StepResult:
    staging = Staging(ctx.s3, ctx.settings.staging_bucket, previous.pipeline_version, previous.object)
    pointer = staging.manifest_pointer("embed")
    if previous.up_to_date or previous.reuse_from is not None:  # nothing to make: store keeps or copies a result
        return previous.model_copy(update={"step": "embed", "manifest": pointer})
    started = time.monotonic()
    extract = ExtractManifest.model_validate(staging.get_json("extract.json"))
    generate = GenerateManifest.model_validate(staging.get_json("generate.json"))
    manifest = EmbedManifest(object=previous.object, pipeline_version=previous.pipeline_version)

    # A page of chunks at a time: a large text's vectors never all sit in memory.
    for number, chunks in chunk_pages(staging, extract):
        embeddings: list[Embedding] = []
        imaged = [c for c in chunks if c.image is not None]
        if imaged:
            blobs = [Blob(kind="image", pointer=S3Pointer(bucket=staging.bucket, key=c.image.key), size=c.image.size)
                     for c in imaged if c.image is not None]
            _embed(ctx, manifest, embeddings, MODEL_IMAGE_EMBEDDING, [c.ordinal for c in imaged], blobs)
        texts = [(c.ordinal, text_for_embedding(extract, generate, c)) for c in chunks]
        texts = [(ordinal, text) for ordinal, text in texts if text]
        if texts:
            _embed(ctx, manifest, embeddings, MODEL_TEXT_EMBEDDING, [o for o, _ in texts], [t for _, t in texts])
        put_embeddings(staging, manifest, number, embeddings)
    manifest.timings["embed_s"] = round(time.monotonic() - started, 3)
    staging.put_json("embed.json", manifest.model_dump(mode="json"))
    return StepResult(object=previous.object, pipeline_version=previous.pipeline_version, step="embed", manifest=pointer)


def text_for_embedding(extract: ExtractManifest, generate: GenerateManifest, chunk: Chunk) -> str:
    """What the text embedding of a chunk covers: generated caption and tags, then the chunk text."""
    parts: list[str] = []
    for g in generate.generated:
        about_chunk = g.chunk_ordinal == chunk.ordinal
        about_image = extract.modality == "image" and g.chunk_ordinal is None
        if g.task == "caption" and (about_chunk or about_image):
            parts.append(str(g.content.get("caption") or ""))
            tags = g.content.get("tags") or []
            if isinstance(tags, list) and tags:
                parts.append(", ".join(str(t) for t in tags))
    if chunk.text:
        parts.append(chunk.text)
    return "\n".join(p for p in parts if p.strip()).strip()


def _embed(ctx: Context, manifest: EmbedManifest, out: list[Embedding], role: str, ordinals: list[int],
           items: list[Any]) -> None:
    if not ctx.models.available(role):
        if role not in manifest.unavailable:
            manifest.unavailable.append(role)
        return
    result = ctx.models.invoke(role, items)
    model = ModelRef(**result.model)
    manifest.models[role] = model
    dimension = None
    for ordinal, vector in zip(ordinals, result.outputs):
        vector = _check_vector(role, vector)
        if dimension is None:
            dimension = len(vector)
        elif len(vector) != dimension:
            raise ModelRequestError(f"{role} returned vectors of {dimension} and {len(vector)} dimensions")
        out.append(Embedding(chunk_ordinal=ordinal, role=role, model=model, dimension=len(vector), vector=vector))


def _check_vector(role: str, vector: Any) -> list[float]:
    if not isinstance(vector, list) or not vector:
        raise ModelRequestError(f"{role} returned {type(vector).__name__}, not a vector")
    values = [float(v) for v in vector]
    if not all(math.isfinite(v) for v in values):
        raise ModelRequestError(f"{role} returned a vector with NaN or infinity")
    return values
