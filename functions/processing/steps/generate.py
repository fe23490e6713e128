"""generate: captions and tags of images and video keyframes, summaries and keywords of text.

Reads `extract.json`, calls the generation model (when it is deployed), writes `generate.json`.
"""
from __future__ import annotations

import time
from typing import Any

from functions.common.constants import MODEL_GENERATION
from functions.common.events import S3Pointer, StepResult
from functions.common.model_client import Blob
from functions.common.staging import Staging
from functions.processing.staging.checkpoints import StagedCheckpoints
from functions.processing.staging.chunks import chunk_pages
from functions.processing.staging.manifest import ExtractManifest, Generated, GenerateManifest, ModelRef
from functions.processing.steps.context import Context

# Summaries read the beginning of long texts; generation models have bounded context windows.
SUMMARY_MAX_WORDS = 3000
SUMMARY_MAX_BYTES = 256 * 1024  # far more than 3,000 words in any script
_CAPTION_KEYS = ("caption", "tags")
_SUMMARY_KEYS = ("summary", "keywords")


def run(previous: StepResult, ctx: Context) -> StepResult:
    staging = Staging(ctx.s3, ctx.settings.staging_bucket, previous.pipeline_version, previous.object)
    pointer = staging.manifest_pointer("generate")
    if previous.up_to_date or previous.reuse_from is not None:  # nothing to make: store keeps or copies a result
        return previous.model_copy(update={"step": "generate", "manifest": pointer})
    started = time.monotonic()
    extract = ExtractManifest.model_validate(staging.get_json("extract.json"))
    manifest = GenerateManifest(object=previous.object, pipeline_version=previous.pipeline_version)
    if not ctx.models.available(MODEL_GENERATION):
        manifest.unavailable.append(MODEL_GENERATION)
    else:
        _generate(extract, manifest, ctx, staging)
    manifest.timings["generate_s"] = round(time.monotonic() - started, 3)
    staging.put_json("generate.json", manifest.model_dump(mode="json"))
    return StepResult(object=previous.object, pipeline_version=previous.pipeline_version, step="generate", manifest=pointer)


def _generate(extract: ExtractManifest, manifest: GenerateManifest, ctx: Context, staging: Staging) -> None:
    captioned = []
    if extract.modality in ("image", "video"):
        captioned = [c for _, page in chunk_pages(staging, extract) for c in page if c.image is not None]
    if captioned:
        blobs = [Blob(kind="image", pointer=S3Pointer(bucket=staging.bucket, key=c.image.key), size=c.image.size)
                 for c in captioned if c.image is not None]
        # An hour of video is hundreds of keyframes: a retry does not caption them twice.
        result = ctx.models.invoke(MODEL_GENERATION, blobs, checkpoints=StagedCheckpoints(staging))
        model = ModelRef(**result.model)
        manifest.models[MODEL_GENERATION] = model
        for chunk, output in zip(captioned, result.outputs):
            manifest.generated.append(
                Generated(
                    # An image is its own only chunk: its caption describes the object.
                    chunk_ordinal=None if extract.modality == "image" else chunk.ordinal,
                    task="caption",
                    content=_pick(output, _CAPTION_KEYS),
                    model=model,
                )
            )
    text = _text_for_summary(extract, ctx, staging)
    if text:
        result = ctx.models.invoke(MODEL_GENERATION, [{"text": text, "task": "summarize"}])
        output = result.outputs[0]
        # An output may name its own producer (the endpoint's summariser is not its vision model).
        produced_by = output.get("model") if isinstance(output, dict) else None
        model = ModelRef(**(produced_by or result.model))
        manifest.generated.append(
            Generated(chunk_ordinal=None, task="summarize", content=_pick(output, _SUMMARY_KEYS), model=model)
        )


def _text_for_summary(extract: ExtractManifest, ctx: Context, staging: Staging) -> str:
    if extract.modality == "image":
        return ""
    staged = extract.artefacts.get("text")
    if staged is not None:
        # Only the beginning is summarised: no need to read a 100 MB text whole.
        text = staging.get_head(staged.key, SUMMARY_MAX_BYTES).decode("utf-8", errors="ignore")
    else:
        text = " ".join(c.text for c in extract.chunks if c.text)
    words = text.split(maxsplit=SUMMARY_MAX_WORDS)
    return " ".join(words[:SUMMARY_MAX_WORDS])


def _pick(output: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(output, dict):
        return {keys[0]: str(output)}
    return {k: output[k] for k in keys if k in output}
