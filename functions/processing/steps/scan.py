"""scan: personal data and profanity in every chunk's text (pii model role) and unsafe content in
every image and keyframe (moderation model role), before anything is generated or embedded; with
`compliance.redact`, the values found are then replaced by `<TYPE>` in everything staged.

Reads `extract.json` and its chunk pages, writes `compliance.json` (functions/compliance/findings.py)
for store, which writes the findings in the object's transaction. A role that is not deployed
leaves its kind of finding out and is named in the manifest's `unavailable` (the object's
summary says what was not looked for). Chunk text is what every modality's extract produced:
document pages and OCR of scanned pages, OCR of images and keyframes, transcripts, e-mail
headers and bodies (attachments are objects of their own), spreadsheet rows.

Time budget: texts go to the pii model a group at a time until `scan_budget_seconds` are spent;
the chunks left are counted as not scanned (`not_scanned` in the summary) rather than letting
the Lambda time out, which would fail the whole object after every text before it was paid for.

Redaction (functions/compliance/redaction.py), in an order that a retry can resume:
1. `compliance.json` with the findings, their offsets in the redacted text, and the digest of
   the raw `extract.json` they were made from;
2. every other staged document that holds text is swept of the values found (the text
   artefact, segment texts, generated outputs of an earlier execution), and what extract would
   reuse on a redelivery is invalidated instead (OCR and speech answers, segment outputs), so
   that a redelivery extracts raw text again and this step finds the values again;
3. the chunk pages, each chunk with findings marked `redacted` once rewritten;
4. `extract.json` last, marked `redacted` in its metadata: the rewrite is complete.
A retry that finds `extract.json` marked keeps the staged findings; one that finds
`compliance.json` made from the same raw `extract.json` keeps its findings and finishes the
rewrite (chunks not yet marked still hold the values, read back at their extracted offsets);
otherwise (a new extraction) it scans again.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from time import monotonic
from typing import Any

from botocore.exceptions import ClientError

from functions.common.aws_errors import is_not_found, s3_errors
from functions.common.constants import MODEL_MODERATION, MODEL_OCR, MODEL_PII, MODEL_SPEECH
from functions.common.events import S3Pointer, StepResult
from functions.common.model_client import Blob
from functions.common.observability import logger
from functions.common.staging import Staging
from functions.compliance import moderation, pii, redaction
from functions.compliance.findings import PII, STAGED_NAME, ComplianceManifest, Finding, Producer, Redaction
from functions.compliance.metrics import publish_scan
from functions.compliance.settings import ComplianceConfigError, CompliancePolicy, ComplianceSettings
from functions.processing.staging import checkpoints as staged_checkpoints
from functions.processing.staging.checkpoints import StagedCheckpoints
from functions.processing.staging.chunks import chunk_pages
from functions.processing.staging.manifest import Chunk, ExtractManifest
from functions.processing.steps.context import Context

EXTRACT = "extract.json"
# The staged texts' type (extract/job.py TEXT_PLAIN; not imported: extract pulls the media libraries
# that the scan Lambda, on the core layer only, does not have).
TEXT_PLAIN = "text/plain; charset=utf-8"
# Texts per pii call between two looks at the clock: about 20 s of the endpoint's ~14 chunks/s.
BUDGET_GROUP = 256
# Chunk metadata and extract metadata key that says the text was rewritten.
REDACTED = "redacted"
# Model answers that extract reuses on a redelivery and that hold the text it read: invalidated
# (their "outputs" removed, so StagedCheckpoints.load asks the model again) rather than redacted,
# because a redacted answer would give extract text in which scan could find nothing.
EXTRACTION_ROLES = (MODEL_OCR, MODEL_SPEECH)
# Staged documents that hold no text (vectors) or that this step writes itself.
_NOT_SWEPT_PREFIXES = ("chunks/", "embeddings/")
_NOT_SWEPT = {EXTRACT, STAGED_NAME, "embed.json"}


def run(previous: StepResult, ctx: Context) -> StepResult:
    staging = Staging(ctx.s3, ctx.settings.staging_bucket, previous.pipeline_version, previous.object)
    pointer = staging.pointer(STAGED_NAME)
    if previous.up_to_date or previous.reuse_from is not None:  # store keeps or copies a result, findings included
        return previous.model_copy(update={"step": "scan", "manifest": pointer})
    started = monotonic()
    policy = ComplianceSettings.from_env().policy  # one small variable: read per invocation
    if policy.redact and not ctx.models.available(MODEL_PII):
        raise ComplianceConfigError("compliance.redact is on but the pii model role is not deployed: "
                                    "nothing could be found to redact")
    raw = staging.get_bytes(EXTRACT)
    extract = ExtractManifest.model_validate_json(raw)
    if policy.redact and REDACTED in extract.metadata:  # an earlier attempt finished the rewrite
        manifest = ComplianceManifest.model_validate(staging.get_json(STAGED_NAME))
    else:
        source = hashlib.sha256(raw).hexdigest()
        kept = _kept_findings(staging, source) if policy.redact else None
        values: dict[str, str] | None = None
        if kept is None:
            manifest, values = scan(staging, extract, ctx, policy, started)
            if policy.redact:
                if manifest.not_scanned:
                    raise redaction.RedactionIncompleteError(
                        f"{manifest.not_scanned} chunk texts were not scanned within the scan step's "
                        f"{policy.scan_budget_seconds:.0f} s and redaction is on: the text cannot be stored")
                spans = sum(1 for _ in _span_groups(manifest.findings))
                manifest.redaction = Redaction(source_sha256=source, spans=spans)
            manifest.timings["scan_s"] = round(monotonic() - started, 3)
            staging.put_json(STAGED_NAME, manifest.model_dump(mode="json"))
        else:
            manifest = kept
            logger.info("resuming the redaction of an earlier attempt with its findings")
        if policy.redact:
            rewrite(staging, ctx.s3, extract, manifest, values)
    publish_scan(manifest.flags())
    return previous.model_copy(update={"step": "scan", "manifest": pointer})


def scan(staging: Staging, extract: ExtractManifest, ctx: Context, policy: CompliancePolicy,
         started: float) -> tuple[ComplianceManifest, dict[str, str]]:
    """The findings of every chunk (with redaction on, at the offsets of their replacement in the
    redacted text) and, for redaction, each value found with its type (in memory only)."""
    manifest = ComplianceManifest()
    for role in (MODEL_PII, MODEL_MODERATION):
        if not ctx.models.available(role):
            manifest.unavailable.append(role)
    checkpoints = StagedCheckpoints(staging)
    values: dict[str, str] = {}

    def invoke(items: list[dict[str, Any]]) -> tuple[list[Any], dict[str, str]]:
        result = ctx.models.invoke(MODEL_PII, items, checkpoints=checkpoints)
        return result.outputs, result.model

    # A page of chunks at a time: a large text's chunks never all sit in memory.
    for _, chunks in chunk_pages(staging, extract):
        if ctx.models.available(MODEL_PII):
            texts = [pii.ChunkText(c.ordinal, c.text, c.page, c.time_start, c.time_end) for c in chunks if c.text]
            for group in _groups(texts, BUDGET_GROUP):
                if manifest.not_scanned or monotonic() - started >= policy.scan_budget_seconds:
                    if not manifest.not_scanned:
                        manifest.first_not_scanned = group[0].ordinal
                    manifest.not_scanned += len(group)
                    continue
                found, producer = pii.scan_texts(group, invoke, policy.hash_salt, policy.profanity_threshold)
                if policy.redact:
                    found = _redacted_findings(group, found, values)
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
    if manifest.not_scanned:
        logger.warning("scan time budget spent", extra={"not_scanned": manifest.not_scanned,
                                                       "first_not_scanned": manifest.first_not_scanned})
    return manifest, values


def _groups(items: Sequence[pii.ChunkText], size: int) -> Iterator[Sequence[pii.ChunkText]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _redacted_findings(texts: Sequence[pii.ChunkText], found: list[Finding], values: dict[str, str]) -> list[Finding]:
    """`found` moved to their replacements' offsets, chunk by chunk; each value into `values`."""
    by_chunk: dict[int, list[Finding]] = defaultdict(list)
    for f in found:
        by_chunk[f.chunk_ordinal].append(f)
    out: list[Finding] = []
    for chunk in texts:
        if chunk.ordinal in by_chunk:
            for f in by_chunk[chunk.ordinal]:
                if f.kind == PII:  # a profane sentence is flagged, not redacted
                    values.setdefault(chunk.text[f.start or 0:f.end or 0], f.type)
            out.extend(redaction.redact_spans(chunk.text, by_chunk[chunk.ordinal]).findings)
    return out


def _span_groups(findings: Sequence[Finding]) -> Iterator[tuple[int, int, int]]:
    """(chunk, start, end) of each replacement: findings that share one count once."""
    seen: set[tuple[int, int, int]] = set()
    for f in findings:
        if f.kind == PII and f.start is not None and f.end is not None:
            key = (f.chunk_ordinal, f.start, f.end)
            if key not in seen:
                seen.add(key)
                yield key


def _kept_findings(staging: Staging, source: str) -> ComplianceManifest | None:
    """The staged findings of an earlier attempt that started redacting this same extraction."""
    try:
        doc = staging.get_json(STAGED_NAME)
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    manifest = ComplianceManifest.model_validate(doc)
    if manifest.redaction is None or manifest.redaction.source_sha256 != source:
        return None
    return manifest


# -- the rewrite ------------------------------------------------------------------------------
def rewrite(staging: Staging, s3: Any, extract: ExtractManifest, manifest: ComplianceManifest,
            values: dict[str, str] | None) -> None:
    """Steps 2-4 of the module docstring. `values` None (a resumed attempt): read back from the
    chunks that are not rewritten yet."""
    by_chunk: dict[int, list[Finding]] = defaultdict(list)
    for f in manifest.findings:
        if f.kind == PII and f.start is not None:
            by_chunk[f.chunk_ordinal].append(f)
    if values is None:
        values = {}
        for _, chunks in chunk_pages(staging, extract):
            for c in chunks:
                if c.ordinal in by_chunk and c.text and not c.metadata.get(REDACTED):
                    for f in redaction.as_extracted(by_chunk[c.ordinal]):
                        values.setdefault(c.text[f.start or 0:f.end or 0], f.type)
    sweeper = redaction.Sweeper(values)
    sizes = sweep_staged(staging, s3, sweeper)
    for page in extract.chunk_pages:
        name = page.key.removeprefix(staging.prefix + "/")
        chunks = [Chunk.model_validate(c) for c in staging.get_json(name)]
        redacted = [_redact_chunk(c, by_chunk.get(c.ordinal, []), sweeper) for c in chunks]
        if redacted != chunks:
            staging.put_json(name, [c.model_dump(mode="json") for c in redacted])
    extract.chunks = [_redact_chunk(c, by_chunk.get(c.ordinal, []), sweeper) for c in extract.chunks]
    extract.metadata = sweeper.value(extract.metadata)
    for name, artefact in extract.artefacts.items():
        if artefact.key in sizes:
            extract.artefacts[name] = artefact.model_copy(update={"size": sizes[artefact.key]})
    extract.metadata[REDACTED] = {"spans": manifest.redaction.spans if manifest.redaction else 0}
    staging.put_json(EXTRACT, extract.model_dump(mode="json"))


def _redact_chunk(chunk: Chunk, found: list[Finding], sweeper: redaction.Sweeper) -> Chunk:
    update: dict[str, Any] = {"metadata": sweeper.value(chunk.metadata)}
    if found and chunk.text and not chunk.metadata.get(REDACTED):
        done = redaction.redact_spans(chunk.text, redaction.as_extracted(found))
        update["text"] = done.text
        update["metadata"][REDACTED] = done.spans
    return chunk.model_copy(update=update)


def sweep_staged(staging: Staging, s3: Any, sweeper: redaction.Sweeper) -> dict[str, int]:
    """Sweep or invalidate every staged document of the object but the chunk documents (step 2).
    Returns {key: size} of the texts and documents swept (rewritten or not: a retry's extract
    manifest still names the sizes the first attempt wrote). Nothing to do without a value."""
    sizes: dict[str, int] = {}
    if not sweeper:
        return sizes
    for key in _staged_keys(staging, s3):
        name = key.removeprefix(staging.prefix + "/")
        if name in _NOT_SWEPT or name.startswith(_NOT_SWEPT_PREFIXES):
            continue
        parts = name.split("/")
        data: bytes | None = None
        if parts[0] == staged_checkpoints.PREFIX and len(parts) == 3 and parts[1] in EXTRACTION_ROLES:
            doc = staging.get_json(name)
            if isinstance(doc, dict) and "outputs" in doc:
                staging.put_json(name, {REDACTED: True})
        elif parts[0] == "segments" and name.endswith(".json"):
            part = ExtractManifest.model_validate(staging.get_json(name))
            if part.segment is not None or part.chunks:  # no longer a finished segment: extracted again
                staging.put_json(name, ExtractManifest(object=part.object, pipeline_version=part.pipeline_version,
                                                       modality=part.modality,
                                                       detected_format=part.detected_format).model_dump(mode="json"))
        elif name.endswith(".json"):
            data = staging.get_bytes(name)
            doc = json.loads(data)
            swept = sweeper.value(doc)
            if swept != doc:
                data = json.dumps(swept, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
                staging.put_bytes(name, data, "application/json")
        elif name.endswith(".txt"):
            data = staging.get_bytes(name)
            swept_text = sweeper.text(data.decode("utf-8"))
            if swept_text.encode("utf-8") != data:
                data = swept_text.encode("utf-8")
                staging.put_bytes(name, data, TEXT_PLAIN)
        if data is not None:
            sizes[key] = len(data)
    return sizes


def _staged_keys(staging: Staging, s3: Any) -> list[str]:
    """Every key under the object's staging prefix (s3:ListBucket, which the scan role has to
    tell a missing checkpoint from a refusal)."""
    keys: list[str] = []
    with s3_errors(f"cannot list s3://{staging.bucket}/{staging.prefix}/"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=staging.bucket, Prefix=staging.prefix + "/"):
            keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys
