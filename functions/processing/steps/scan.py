"""scan: personal data in every chunk's text (pii model role) and unsafe content in every image
and keyframe (moderation model role), before anything is generated or embedded.

Reads `extract.json` and its chunk pages, writes `compliance.json` (functions/compliance/findings.py)
for store, which writes the findings in the object's transaction. A role that is not deployed
leaves its kind of finding out and is named in the manifest's `unavailable` (the object's
summary says what was not looked for). Chunk text is what every modality's extract produced:
document pages and OCR of scanned pages, OCR of images and keyframes, transcripts, e-mail
headers and bodies (attachments are objects of their own), spreadsheet rows.
"""
from __future__ import annotations

import time
from typing import Any

from functions.common.constants import MODEL_MODERATION, MODEL_PII
from functions.common.events import S3Pointer, StepResult
from functions.common.model_client import Blob
from functions.common.staging import Staging
from functions.compliance import moderation, pii
from functions.compliance.findings import STAGED_NAME, ComplianceManifest, Producer
from functions.compliance.metrics import publish_scan
from functions.compliance.settings import ComplianceSettings
from functions.processing.staging.checkpoints import StagedCheckpoints
from functions.processing.staging.chunks import chunk_pages
from functions.processing.staging.manifest import ExtractManifest
from functions.processing.steps.context import Context


def run(previous: StepResult, ctx: Context) -> StepResult:
    staging = Staging(ctx.s3, ctx.settings.staging_bucket, previous.pipeline_version, previous.object)
    pointer = staging.pointer(STAGED_NAME)
    if previous.up_to_date or previous.reuse_from is not None:  # store keeps or copies a result, findings included
        return previous.model_copy(update={"step": "scan", "manifest": pointer})
    started = time.monotonic()
    policy = ComplianceSettings.from_env().policy  # one small variable: read per invocation
    extract = ExtractManifest.model_validate(staging.get_json("extract.json"))
    manifest = ComplianceManifest()
    for role in (MODEL_PII, MODEL_MODERATION):
        if not ctx.models.available(role):
            manifest.unavailable.append(role)
    checkpoints = StagedCheckpoints(staging)
    # A page of chunks at a time: a large text's chunks never all sit in memory.
    for _, chunks in chunk_pages(staging, extract):
        if ctx.models.available(MODEL_PII):
            texts = [pii.ChunkText(c.ordinal, c.text, c.page, c.time_start, c.time_end) for c in chunks if c.text]

            def invoke(items: list[dict[str, Any]]) -> tuple[list[Any], dict[str, str]]:
                result = ctx.models.invoke(MODEL_PII, items, checkpoints=checkpoints)
                return result.outputs, result.model

            found, producer = pii.scan_texts(texts, invoke, policy.hash_salt)
            manifest.findings.extend(found)
            if producer is not None:
                manifest.models[MODEL_PII] = producer
        imaged = [c for c in chunks if c.image is not None]
        if imaged and ctx.models.available(MODEL_MODERATION):
            blobs = [Blob(kind="image", pointer=S3Pointer(bucket=staging.bucket, key=c.image.key), size=c.image.size)
                     for c in imaged if c.image is not None]
            # An hour of video is hundreds of keyframes: a retry does not look at them twice.
            result = ctx.models.invoke(MODEL_MODERATION, blobs, checkpoints=checkpoints)
            producer = Producer(**result.model)
            manifest.models[MODEL_MODERATION] = producer
            where = {c.ordinal: {"page": c.page, "time_start": c.time_start, "time_end": c.time_end} for c in imaged}
            manifest.findings.extend(moderation.scan_images([c.ordinal for c in imaged], result.outputs, producer,
                                                            policy, where))
    manifest.timings["scan_s"] = round(time.monotonic() - started, 3)
    staging.put_json(STAGED_NAME, manifest.model_dump(mode="json"))
    publish_scan(manifest.flags())
    return previous.model_copy(update={"step": "scan", "manifest": pointer})
