"""extract: verify the object by content and turn it into chunks (text, OCR, transcripts).

Reads the object from S3 into a temporary file (never whole into memory), checks what it
really is, and writes `extract.json` plus artefacts (thumbnail, keyframes, 16 kHz WAV
slices, page images) to the staging area. OCR (scanned pages, images) and speech
(transcripts) run here, because they produce the text that the chunks are made of.
"""
from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from functions.common.aws_errors import is_retryable
from functions.common.constants import MODEL_OCR, MODEL_SPEECH, UNSUPPORTED, VIDEO_CHUNKING_SCENES
from functions.common.errors import InvalidObjectError, StagingUnavailableError, UnsupportedTypeError
from functions.common.events import ObjectRef, Segment, SegmentItem, SegmentResult, StepResult, WorkItem
from functions.common.model_client import Blob, ModelClient
from functions.common.staging import Staging
from functions.processing import audio as audio_mod
from functions.processing import document as document_mod
from functions.processing import email_message as email_mod
from functions.processing import html_text as html_mod
from functions.processing import media
from functions.processing import scenes as scenes_mod
from functions.processing import segments as segments_mod
from functions.processing import office_text as office_mod
from functions.processing import tables as tables_mod
from functions.processing import text as text_mod
from functions.processing.checkpoints import StagedCheckpoints
from functions.processing.chunk_pages import ChunkWriter
from functions.processing.context import Context
from functions.processing.image import extract_image
from functions.processing.reuse import find_source
from functions.processing.manifest import Chunk, ExtractManifest, ModelRef, StagedFile
from functions.processing.sniff import HEAD_BYTES, TABLE_TEXT_TYPES, as_claimed_document, check_modality, sniff
from functions.processing.store_step import is_up_to_date

logger = logging.getLogger(__name__)

# Longer media is refused with a reason. Media above SEGMENT_SECONDS is extracted in segments,
# each an invocation with Lambda's 15 minutes (functions/processing/segments.py).
MAX_MEDIA_SECONDS = 4 * 3600
_DOWNLOAD_CHUNK = 1024 * 1024


def run(item: WorkItem, ctx: Context) -> StepResult:
    """Extract one object version. Raises InvalidObjectError (and subclasses) for bad input."""
    started = time.monotonic()
    obj = item.object
    staging = Staging(ctx.s3, ctx.settings.staging_bucket, item.pipeline_version, obj)
    pointer = staging.manifest_pointer("extract")
    if ctx.db is not None and obj.modality != UNSUPPORTED and is_up_to_date(ctx.db, obj, item.pipeline_version):
        logger.info("object version already processed by this pipeline version; nothing to do")
        return StepResult(object=obj, pipeline_version=item.pipeline_version, step="extract", manifest=pointer, up_to_date=True)

    if obj.modality == UNSUPPORTED:
        head = _head(ctx.s3, obj)
        check_modality(UNSUPPORTED, sniff(head), obj.content_type)  # always raises
    if obj.size == 0:
        raise InvalidObjectError("the object is empty (0 bytes)")
    limit = ctx.settings.max_object_bytes
    if obj.size > limit:
        raise InvalidObjectError(f"the object is {obj.size} bytes, above MAX_OBJECT_BYTES ({limit})")

    with tempfile.TemporaryDirectory(prefix="extract-") as tmp:
        workdir = Path(tmp)
        source = workdir / "source"
        size, manifest = _fetch(ctx, item, source, limit)
        # The same bytes already have a result for this pipeline version: store copies it.
        reuse_from = find_source(ctx, manifest)
        segments = None if reuse_from else _plan_segments(source, ctx, manifest)
        if segments:  # a long object: the state machine extracts each segment, then assembles
            manifest.segments = segments
            manifest.metadata.setdefault("bytes", size)
            manifest.timings["plan_s"] = round(time.monotonic() - started, 3)
            plan = staging.put_json("plan.json", manifest.model_dump(mode="json"))
            return StepResult(object=obj, pipeline_version=item.pipeline_version, step="extract", manifest=plan,
                              segments=segments)
        if reuse_from is None:
            EXTRACTORS[obj.modality](source, workdir, ctx, staging, manifest)
    if manifest.chunk_count > ctx.settings.max_chunks:
        raise InvalidObjectError(f"the object yields {manifest.chunk_count} chunks, above the limit of "
                                 f"{ctx.settings.max_chunks} (the MAX_CHUNKS setting, max_chunks in cdk.json)")
    manifest.metadata.setdefault("bytes", size)
    manifest.timings["extract_s"] = round(time.monotonic() - started, 3)
    staging.put_json("extract.json", manifest.model_dump(mode="json"))
    return StepResult(object=obj, pipeline_version=item.pipeline_version, step="extract", manifest=pointer,
                      reuse_from=reuse_from)


def _fetch(ctx: Context, item: WorkItem | SegmentItem, source: Path, limit: int) -> tuple[int, ExtractManifest]:
    """Download the object to `source`, check it is what its modality claims; returns its size
    and a manifest naming its format."""
    obj = item.object
    digest = hashlib.sha256()
    size = _download(ctx.s3, obj, source, limit, digest)
    if size == 0:
        raise InvalidObjectError("the object is empty (0 bytes)")
    with source.open("rb") as f:
        head = f.read(HEAD_BYTES)
    detected = sniff(head, source)
    if obj.modality == "document":
        detected = as_claimed_document(detected, head, obj.key, obj.content_type)
    check_modality(obj.modality, detected, obj.content_type)
    return size, ExtractManifest(object=obj, pipeline_version=item.pipeline_version, modality=obj.modality,
                                 detected_format=detected.format, content_sha256=digest.hexdigest())


# -- long objects in segments (functions/processing/segments.py) ----------------------
def _plan_segments(source: Path, ctx: Context, m: ExtractManifest) -> list[Segment] | None:
    settings = ctx.settings
    if m.modality in ("audio", "video"):
        info = media.probe(source)
        _check_duration(m.modality, info.duration)
        unit = settings.video_chunk_seconds if m.modality == "video" else audio_mod.WINDOW_SECONDS
        return segments_mod.plan_time(info.duration, unit, settings.segment_seconds)
    if m.modality == "document" and m.detected_format == "pdf":
        return segments_mod.plan_pages(document_mod.pdf_page_count(source), settings.segment_pages)
    return None


def run_segment(item: SegmentItem, ctx: Context) -> SegmentResult:
    """Extract one segment of a long object into `segments/<n>.json`; a segment already staged
    with the same bounds (an earlier attempt finished it) is not redone."""
    started = time.monotonic()
    staging = Staging(ctx.s3, ctx.settings.staging_bucket, item.pipeline_version, item.object)
    name = segments_mod.part_name(item.segment)
    staged = _staged_part(staging, name)
    if segments_mod.is_done(staged, item.segment):
        return SegmentResult(number=item.segment.number, chunks=len(staged.chunks), from_checkpoint=True)
    with tempfile.TemporaryDirectory(prefix="extract-") as tmp:
        workdir = Path(tmp)
        source = workdir / "source"
        _, part = _fetch(ctx, item, source, ctx.settings.max_object_bytes)
        part.segment = item.segment
        EXTRACTORS[item.object.modality](source, workdir, ctx, staging, part)
    if part.chunk_pages:  # a segment's chunks stay in its own document (pages are for the whole)
        raise InvalidObjectError("a segment yields more chunks than one page; lower SEGMENT_SECONDS / SEGMENT_PAGES")
    part.timings["extract_s"] = round(time.monotonic() - started, 3)
    staging.put_json(name, part.model_dump(mode="json"))
    return SegmentResult(number=item.segment.number, chunks=len(part.chunks))


def assemble(planned: StepResult, ctx: Context) -> StepResult:
    """The segments' outputs merged in order into `extract.json`, as if extracted whole."""
    started = time.monotonic()
    obj = planned.object
    staging = Staging(ctx.s3, ctx.settings.staging_bucket, planned.pipeline_version, obj)
    plan = ExtractManifest.model_validate(staging.get_json("plan.json"))
    if plan.segments != planned.segments:
        raise InvalidObjectError("the segments to assemble are not the ones extract planned")
    parts = (_staged_part(staging, segments_mod.part_name(s)) or _missing(s) for s in plan.segments or [])
    with ChunkWriter(staging, plan, ctx.settings.max_chunks) as writer:
        texts = segments_mod.assemble(plan, parts, writer)
    if texts:
        name = "transcript.txt" if plan.modality in ("audio", "video") else "text.txt"
        separator = "\f" if plan.modality == "document" else " "  # pages stay pages
        joined = separator.join(_staged_text(staging, key) for key in texts)
        plan.artefacts["text"] = _stage(staging, name, joined.encode("utf-8"), "text/plain; charset=utf-8")
    plan.timings["assemble_s"] = round(time.monotonic() - started, 3)
    pointer = staging.put_json("extract.json", plan.model_dump(mode="json"))
    return StepResult(object=obj, pipeline_version=planned.pipeline_version, step="extract", manifest=pointer)


def _staged_text(staging: Staging, key: str) -> str:
    """A segment's text, staged under `key` (a full key inside this object's staging prefix)."""
    return staging.get_bytes(key.removeprefix(staging.prefix + "/")).decode("utf-8")


def _staged_part(staging: Staging, name: str) -> ExtractManifest | None:
    try:
        return ExtractManifest.model_validate(staging.get_json(name))
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in ("NoSuchKey", "404"):
            return None
        raise


def _missing(segment: Segment) -> ExtractManifest:
    raise StagingUnavailableError(f"segment {segment.number} has no staged output")


def _text_name(m: ExtractManifest, whole: str) -> str:
    """Where the object's text goes: a segment's beside its chunks, joined on assembly."""
    return whole if m.segment is None else f"segments/{m.segment.number:04d}.txt"


def _window(m: ExtractManifest, duration: float) -> tuple[float, float]:
    """The seconds this invocation extracts: the segment's window, or the whole duration."""
    if m.segment is None or m.segment.time_start is None:
        return 0.0, duration
    return m.segment.time_start, min(m.segment.time_end or duration, duration)


def _check_duration(modality: str, duration: float) -> None:
    if duration > MAX_MEDIA_SECONDS:
        raise InvalidObjectError(f"the {modality} lasts {duration:.0f} s, above the limit of {MAX_MEDIA_SECONDS} s")


# -- reading the object ------------------------------------------------------------
def _get(s3: Any, obj: ObjectRef, **extra: Any) -> Any:
    kwargs: dict[str, Any] = {"Bucket": obj.bucket, "Key": obj.key, **extra}
    if obj.version_id and obj.version_id != "null":
        kwargs["VersionId"] = obj.version_id
    try:
        return s3.get_object(**kwargs)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "NoSuchVersion", "404"):
            raise InvalidObjectError(f"the object version no longer exists ({code})") from exc
        if code == "InvalidRange":
            return None  # zero-byte object asked for a range
        if is_retryable(exc):
            raise StagingUnavailableError(f"cannot read s3://{obj.bucket}/{obj.key}: {code}") from exc
        raise
    except BotoCoreError as exc:
        raise StagingUnavailableError(f"cannot read s3://{obj.bucket}/{obj.key}: {exc}") from exc


def _head(s3: Any, obj: ObjectRef) -> bytes:
    response = _get(s3, obj, Range=f"bytes=0-{HEAD_BYTES - 1}")
    return b"" if response is None else response["Body"].read()


def _download(s3: Any, obj: ObjectRef, target: Path, limit: int, digest: Any = None) -> int:
    """Stream the object to `target`; stop as soon as it exceeds `limit` bytes. `digest` (a
    hashlib object), when given, is updated with every byte on the way (functions/processing/reuse.py)."""
    response = _get(s3, obj)
    if response is None:
        return 0
    length = int(response.get("ContentLength") or 0)
    if length > limit:
        raise InvalidObjectError(f"the object is {length} bytes, above MAX_OBJECT_BYTES ({limit})")
    written = 0
    try:
        with target.open("wb") as out:
            for block in response["Body"].iter_chunks(_DOWNLOAD_CHUNK):
                written += len(block)
                if written > limit:
                    raise InvalidObjectError(f"the object is larger than MAX_OBJECT_BYTES ({limit})")
                if digest is not None:
                    digest.update(block)
                out.write(block)
    except BotoCoreError as exc:
        raise StagingUnavailableError(f"download of s3://{obj.bucket}/{obj.key} broke off: {exc}") from exc
    return written


# -- model helpers -----------------------------------------------------------------
def _stage(staging: Staging, name: str, data: bytes, content_type: str) -> StagedFile:
    pointer = staging.put_bytes(name, data, content_type)
    return StagedFile(key=pointer.key, size=len(data), content_type=content_type)


def _blob(staging: Staging, staged: StagedFile, kind: str) -> Blob:
    from functions.common.events import S3Pointer

    return Blob(kind=kind, pointer=S3Pointer(bucket=staging.bucket, key=staged.key), size=staged.size)  # type: ignore[arg-type]


def _call(models: ModelClient, staging: Staging, manifest: ExtractManifest, role: str, items: list[Any]) -> list[Any] | None:
    """Outputs of `role` for `items`, or None (recorded in the manifest) when not deployed.
    Each request's answer is checkpointed in staging: a retry asks only what is missing."""
    if not models.available(role):
        if role not in manifest.unavailable:
            manifest.unavailable.append(role)
        return None
    if not items:
        return []
    result = models.invoke(role, items, checkpoints=StagedCheckpoints(staging))
    manifest.models[role] = ModelRef(**result.model)
    return result.outputs


def _ocr_text(output: dict[str, Any]) -> str:
    return " ".join(str(output.get("text", "")).split())


def _span(chunk: text_mod.TextChunk) -> dict[str, int]:
    """Where a text chunk lies: characters of the normalised text (text.txt, or the page's text
    for documents) and tokens of the text_embedding model, end exclusive."""
    return {
        "char_start": chunk.char_start,
        "char_end": chunk.char_end,
        "token_start": chunk.token_start,
        "token_end": chunk.token_end,
    }


# -- per modality ------------------------------------------------------------------
def _extract_image(source: Path, workdir: Path, ctx: Context, staging: Staging, m: ExtractManifest) -> None:
    image = extract_image(source)
    m.metadata.update(image.metadata())
    thumb = _stage(staging, "thumbnail.jpg", image.thumbnail_jpeg, "image/jpeg")
    model_image = _stage(staging, "image.jpg", image.model_jpeg, "image/jpeg")
    m.artefacts.update(thumbnail=thumb, image=model_image)
    chunk = Chunk(ordinal=0, kind="image", image=model_image, metadata={"width": image.width, "height": image.height})
    outputs = _call(ctx.models, staging, m, MODEL_OCR, [_blob(staging, model_image, "image")])
    if outputs:
        chunk.text = _ocr_text(outputs[0]) or None
        chunk.metadata["ocr_words"] = len(outputs[0].get("words") or [])
    m.chunks = [chunk]


def _extract_video(source: Path, workdir: Path, ctx: Context, staging: Staging, m: ExtractManifest) -> None:
    info = media.probe(source)
    if not info.has_video:
        raise InvalidObjectError("the file has no video stream (an audio file sent as video?)")
    _check_duration("video", info.duration)
    chunk_seconds = ctx.settings.video_chunk_seconds
    chunking = ctx.settings.video_chunking
    m.metadata.update(info.metadata(), chunk_seconds=chunk_seconds, chunking=chunking)
    start, end = _window(m, info.duration)
    if chunking == VIDEO_CHUNKING_SCENES:
        planned = _scene_chunks(source, staging, m, info.duration, chunk_seconds, start, end)
    else:
        planned = _fixed_chunks(source, staging, info.duration, chunk_seconds, start, end)
    chunks = [chunk for chunk, _, _ in planned]
    if info.has_audio:
        wav = workdir / "audio.wav"
        try:
            media.decode_audio_16k(source, wav, max_seconds=end - start + 1, start=start)
        except InvalidObjectError as exc:
            m.metadata["audio_error"] = str(exc)
            wav = None
        if wav is not None:
            for chunk, name, _ in planned:
                data = media.wav_slice(wav, (chunk.time_start or 0.0) - start, (chunk.time_end or 0.0) - start)
                chunk.audio = _stage(staging, f"audio/{name}.wav", data, "audio/wav")
            with_audio = [c for c in chunks if c.audio is not None]
            outputs = _call(ctx.models, staging, m, MODEL_SPEECH, [_blob(staging, c.audio, "audio") for c in with_audio])
            if outputs is not None:
                for chunk, output in zip(with_audio, outputs):
                    segments = audio_mod.offset_segments(output, chunk.time_start or 0.0, chunk.time_end or 0.0)
                    chunk.text = " ".join(s["text"] for s in segments) or None
                    chunk.metadata["segments"] = segments
                    chunk.metadata["language"] = output.get("language")
    _read_keyframes(ctx, staging, m, planned)
    m.chunks = chunks


# A chunk's keyframes: (chunk, its name in staging keys, its keyframes in time order).
_PlannedChunk = tuple[Chunk, str, list[StagedFile]]


def _fixed_chunks(source: Path, staging: Staging, duration: float, chunk_seconds: float, start: float,
                  end: float) -> list[_PlannedChunk]:
    """Windows of chunk_seconds, a keyframe in the middle of each (VIDEO_CHUNKING=fixed)."""
    # Chunk i is the same window whether the video is extracted whole or in segments.
    ranges = [(i, r) for i, r in enumerate(media.plan_chunks(duration, chunk_seconds)) if start <= r.start < end]
    frames = media.keyframes(source, [(r.start + r.end) / 2 for _, r in ranges])
    planned: list[_PlannedChunk] = []
    for (i, r), jpeg in zip(ranges, frames):
        chunk = Chunk(ordinal=i, kind="video_segment", time_start=r.start, time_end=r.end, duration=r.duration)
        chunk.metadata["keyframe_time"] = round((r.start + r.end) / 2, 3)
        if jpeg is not None:
            chunk.image = _stage(staging, f"keyframes/{i:05d}.jpg", jpeg, "image/jpeg")
        planned.append((chunk, f"{i:05d}", [chunk.image] if chunk.image else []))
    return planned


def _scene_chunks(source: Path, staging: Staging, m: ExtractManifest, duration: float, chunk_seconds: float,
                  start: float, end: float) -> list[_PlannedChunk]:
    """Chunks from scene change to scene change (VIDEO_CHUNKING=scenes, functions/processing/scenes.py),
    a keyframe per window a chunk spans; the one in its middle is what the image models see."""
    try:
        cuts = scenes_mod.detect(source, start, end)
    except InvalidObjectError as exc:  # the keyframes may still decode: fixed windows, and why
        m.metadata["scene_error"] = str(exc)
        cuts = []
    m.metadata["scene_threshold"] = scenes_mod.THRESHOLD
    plan = scenes_mod.plan(start, end, cuts, chunk_seconds, open_start=start > 0, open_end=end < duration - 1e-6)
    times = [scenes_mod.keyframe_times(p.range, chunk_seconds) for p in plan]
    frames = iter(media.keyframes(source, [t for ts in times for t in ts]))
    planned: list[_PlannedChunk] = []
    for ordinal, (p, chunk_times) in enumerate(zip(plan, times)):
        r = p.range
        chunk = Chunk(ordinal=ordinal, kind="video_segment", time_start=r.start, time_end=r.end, duration=r.duration,
                      metadata={"scene_change": p.at_change})
        # Named by start time, not ordinal: a segment numbers its chunks from 0, and its keys
        # must not overwrite another segment's.
        name = f"{round(r.start * 1000):09d}"
        staged: list[tuple[float, StagedFile]] = []
        for k, t in enumerate(chunk_times):
            jpeg = next(frames)
            if jpeg is not None:
                staged.append((t, _stage(staging, f"keyframes/{name}_{k}.jpg", jpeg, "image/jpeg")))
        if staged:
            shown_time, chunk.image = staged[(len(staged) - 1) // 2]
            chunk.metadata["keyframe_time"] = shown_time
            chunk.metadata["keyframes"] = [{"time": t, "key": f.key} for t, f in staged]
        planned.append((chunk, name, [f for _, f in staged]))
    return planned


def _read_keyframes(ctx: Context, staging: Staging, m: ExtractManifest, planned: list[_PlannedChunk]) -> None:
    """OCR of every keyframe; the words found go into the chunk's text (embedded, searchable)
    after its transcript, and into its metadata (`ocr_text`). One batched call: at most
    scenes.MAX_KEYFRAMES per chunk, and a segment's chunks are bounded by its length."""
    items = [(chunk, frame) for chunk, _, frames in planned for frame in frames]
    outputs = _call(ctx.models, staging, m, MODEL_OCR, [_blob(staging, frame, "image") for _, frame in items])
    if not outputs:
        return
    found: dict[int, list[str]] = {}
    for (chunk, _), output in zip(items, outputs):
        text = _keyframe_text(output)
        lines = found.setdefault(id(chunk), [])
        if text and text not in lines:  # a still scene shows the same words in every keyframe
            lines.append(text)
    for chunk, _, _ in planned:
        lines = found.get(id(chunk))
        if lines:
            chunk.metadata["ocr_text"] = "\n".join(lines)
            chunk.text = "\n".join(t for t in (chunk.text, *lines) if t)


# Video frames are pictures first: tesseract reads textures and small print as words of low
# confidence (0-100; Florence-2 gives none, and its words are kept).
_KEYFRAME_OCR_MIN_CONF = 60.0


def _keyframe_text(output: dict[str, Any]) -> str:
    words = output.get("words")
    if words is None:
        return _ocr_text(output)
    kept = (str(w.get("text", "")) for w in words if w.get("conf") is None or float(w["conf"]) >= _KEYFRAME_OCR_MIN_CONF)
    return " ".join(" ".join(kept).split())


def _extract_audio(source: Path, workdir: Path, ctx: Context, staging: Staging, m: ExtractManifest) -> None:
    info = media.probe(source)
    if not info.has_audio:
        raise InvalidObjectError("the file has no audio stream")
    _check_duration("audio", info.duration)
    start, end = _window(m, info.duration)
    wav = workdir / "audio.wav"
    seconds = media.decode_audio_16k(source, wav, max_seconds=(end - start) if m.segment else info.duration + 1,
                                     start=start)
    m.metadata.update(info.metadata(), decoded_seconds=round(seconds, 3), resampled_to_hz=media.SAMPLE_RATE)
    # Windows in the object's time; window i has the same name in a segment as in the whole.
    first = round(start / audio_mod.WINDOW_SECONDS)
    windows = [media.TimeRange(start + w.start, start + w.end) for w in media.plan_chunks(seconds, audio_mod.WINDOW_SECONDS)]
    staged = [
        _stage(staging, f"audio/{first + i:05d}.wav", media.wav_slice(wav, w.start - start, w.end - start), "audio/wav")
        for i, w in enumerate(windows)
    ]
    outputs = _call(ctx.models, staging, m, MODEL_SPEECH, [_blob(staging, s, "audio") for s in staged])
    if outputs is None:
        # No speech model: keep the time structure, no invented transcript.
        m.chunks = [
            Chunk(ordinal=i, kind="audio_window", time_start=w.start, time_end=w.end, duration=w.duration, audio=s)
            for i, (w, s) in enumerate(zip(windows, staged))
        ]
        return
    segments: list[dict[str, Any]] = []
    for w, output in zip(windows, outputs):
        segments.extend(audio_mod.offset_segments(output, w.start, w.end))
        m.metadata.setdefault("language", output.get("language"))
    groups = audio_mod.group_segments(segments, ctx.settings.text_chunk_tokens, text_mod.count_tokens)
    m.chunks = [
        Chunk(
            ordinal=i,
            kind="audio_segment",
            text=g["text"],
            time_start=g["start"],
            time_end=g["end"],
            duration=round(g["end"] - g["start"], 3),
            metadata={"segments": g["segments"]},
        )
        for i, g in enumerate(groups)
    ]
    transcript = " ".join(g["text"] for g in groups)
    m.metadata["transcript_words"] = len(transcript.split())
    if transcript:
        m.artefacts["text"] = _stage(staging, _text_name(m, "transcript.txt"), transcript.encode("utf-8"), "text/plain; charset=utf-8")


_HTML_EXTENSIONS = (".html", ".htm", ".xhtml")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def _claims_html(m: ExtractManifest) -> bool:
    """HTML by its sniffed content or by its claim: a fragment without <html> is still read as
    HTML when the uploader says it is."""
    claimed_type = (m.object.content_type or "").split(";", 1)[0].strip().lower()
    return m.detected_format == "html" or m.object.key.lower().endswith(_HTML_EXTENSIONS) or claimed_type in _HTML_TYPES


def _read_text_bytes(source: Path, ctx: Context, what: str) -> bytes:
    size, limit = source.stat().st_size, ctx.settings.max_text_bytes
    if size > limit:
        raise InvalidObjectError(f"the {what} is {size} bytes, above the {limit}-byte limit for text "
                                 "(the MAX_TEXT_BYTES setting, max_text_mb in cdk.json)")
    return source.read_bytes()


def _extract_text(source: Path, workdir: Path, ctx: Context, staging: Staging, m: ExtractManifest) -> None:
    data = _read_text_bytes(source, ctx, "text file")
    claims_html = _claims_html(m)
    decoded = text_mod.decode(data, declared=html_mod.declared_charset(data) if claims_html else None)
    del data  # a large file's bytes and its text need not both stay in memory
    page: html_mod.HtmlText | None = None
    # HTML in UTF-16 shows its <html> only once decoded.
    if claims_html or sniff(decoded.text[:1024].encode("utf-8")).format == "html":
        m.detected_format = "html"
        page = html_mod.extract(decoded.text)
        text = page.text
        if not text:
            raise InvalidObjectError("the HTML file holds no visible text (only markup, scripts or styles)")
    else:
        text = text_mod.normalise(decoded.text)
        if not text:
            raise InvalidObjectError("the text file holds no text after normalisation")
    m.metadata.update(encoding=decoded.encoding, characters=len(text), words=text_mod.count_words(text),
                      lines=text.count("\n") + 1)
    if page is not None:
        m.metadata.update(title=page.title, headings=page.outline)
    with ChunkWriter(staging, m, ctx.settings.max_chunks) as chunks:
        for piece in text_mod.iter_chunks(text, ctx.settings.text_chunk_tokens, ctx.settings.text_chunk_overlap):
            metadata = _span(piece)
            if page is not None:
                metadata["headings"] = page.headings_at(piece.char_start)
            chunks.add("text", text=piece.text, metadata=metadata)
    m.artefacts["text"] = _stage(staging, "text.txt", text.encode("utf-8"), "text/plain; charset=utf-8")


_PAGED_DOCUMENTS = {"pdf": document_mod.extract_pdf, "docx": document_mod.extract_docx, "pptx": document_mod.extract_pptx,
                    "rtf": office_mod.extract_rtf, "odt": office_mod.extract_odt, "ods": office_mod.extract_ods}


def _extract_document(source: Path, workdir: Path, ctx: Context, staging: Staging, m: ExtractManifest) -> None:
    if m.detected_format in ("xlsx", "csv"):
        _extract_sheets(source, ctx, staging, m)
        return
    if m.detected_format == "eml":
        doc = _extract_email(source, workdir, ctx, m)
    elif m.segment is not None and m.segment.first_page is not None:
        doc = document_mod.extract_pdf(source, m.segment.first_page, m.segment.last_page)
    else:
        doc = _PAGED_DOCUMENTS[m.detected_format](source)
    m.metadata.update(doc.metadata)
    m.metadata["scanned_pages"] = [p.number for p in doc.pages if p.scanned]
    scanned = [p for p in doc.pages if p.scanned and p.images]
    items: list[tuple[int, Blob]] = []
    for page in scanned:
        for j, data in enumerate(page.images):
            staged = _stage(staging, f"pages/{page.number:05d}_{j}.png", data, "image/png")
            items.append((page.number, _blob(staging, staged, "image")))
    ocr_pages: set[int] = set()
    if items:
        outputs = _call(ctx.models, staging, m, MODEL_OCR, [blob for _, blob in items])
        if outputs is not None:
            by_page: dict[int, list[str]] = {}
            for (number, _), output in zip(items, outputs):
                by_page.setdefault(number, []).append(_ocr_text(output))
            for page in scanned:
                page.text = "\n".join(t for t in by_page.get(page.number, []) if t)
                ocr_pages.add(page.number)
    m.metadata["ocr_pages"] = sorted(ocr_pages)
    full: list[str] = []
    with ChunkWriter(staging, m, ctx.settings.max_chunks) as chunks:
        for page in doc.pages:
            text = text_mod.normalise(page.text)
            full.append(text)
            table_rows = _table_rows(text, page.tables)
            for c in text_mod.iter_chunks(text, ctx.settings.text_chunk_tokens, ctx.settings.text_chunk_overlap):
                metadata: dict[str, Any] = {**_span(c), "ocr": page.number in ocr_pages}
                in_chunk = _tables_in(table_rows, c.char_start, c.char_end)
                if in_chunk:
                    metadata["tables"] = in_chunk
                chunks.add("page_text", text=c.text, page=page.number, metadata=metadata)
    joined = "\n\f\n".join(full).strip()
    if joined:
        m.artefacts["text"] = _stage(staging, _text_name(m, "text.txt"), joined.encode("utf-8"), "text/plain; charset=utf-8")


def _table_rows(text: str, tables: list[tables_mod.Table]) -> list[tuple[int, int, tables_mod.Table, int]]:
    """Where each table row's line lies in the page's normalised text: (start, end, table, row
    index in table.rows), in text order."""
    found: list[tuple[int, int, tables_mod.Table, int]] = []
    cursor = 0
    for table in tables:
        first = 1 if table.header else 0
        for i, row in enumerate(table.rows[first:], start=first):
            line = text_mod.normalise(tables_mod.row_text(row, table.labels))
            at = text.find(line, cursor) if line else -1
            if at >= 0:
                found.append((at, at + len(line), table, i))
                cursor = at + len(line)
    return found


def _tables_in(rows: list[tuple[int, int, tables_mod.Table, int]], start: int, end: int) -> list[dict[str, Any]]:
    """The tables a chunk [start, end) holds rows of: each table's index, header and those rows
    (cells as text), with their 0-based positions in the table."""
    by_table: dict[int, dict[str, Any]] = {}
    for row_start, row_end, table, i in rows:
        if row_start < end and row_end > start:
            entry = by_table.setdefault(table.index, {"table": table.index, "header": table.labels, "rows": [],
                                                      "row_indexes": []})
            entry["rows"].append(table.rows[i])
            entry["row_indexes"].append(i)
    return list(by_table.values())


def _extract_sheets(source: Path, ctx: Context, staging: Staging, m: ExtractManifest) -> None:
    """XLSX sheets or a CSV file as tables: chunks of whole rows (header cells as labels), each
    naming its sheet and rows."""
    if m.detected_format == "xlsx":
        sheets = tables_mod.read_xlsx(source)
        m.metadata["sheets"] = [s.name for s in sheets]
    else:
        decoded = text_mod.decode(_read_text_bytes(source, ctx, "CSV file"))
        claimed = (m.object.content_type or "").split(";", 1)[0].strip().lower()
        tab = m.object.key.lower().endswith(".tsv") or claimed == TABLE_TEXT_TYPES[1]
        sheets = [tables_mod.read_csv(decoded.text, tab_separated=tab)]
        m.metadata["encoding"] = decoded.encoding
    rows = 0
    texts: list[str] = []
    with ChunkWriter(staging, m, ctx.settings.max_chunks) as chunks:
        for sheet in tables_mod.capped(sheets):
            for piece in tables_mod.chunk_rows(sheet.rows, ctx.settings.text_chunk_tokens, text_mod.count_tokens, sheet.name):
                chunks.add("table_rows", text=piece.text, metadata=piece.metadata())
                rows += len(piece.rows)
                texts.append(piece.text)
    if not chunks.count:
        raise InvalidObjectError("the table holds no cells with content")
    m.metadata["rows"] = rows
    joined = "\n\n".join(t for t in texts if t)
    m.artefacts["text"] = _stage(staging, "text.txt", joined.encode("utf-8"), "text/plain; charset=utf-8")


def _extract_email(source: Path, workdir: Path, ctx: Context, m: ExtractManifest) -> document_mod.DocumentExtract:
    """The message as a one-page document; each attachment written to the ingest bucket under
    ATTACHMENTS_PREFIX, where its S3 notification starts its own processing."""
    found = email_mod.read_eml(source, m.object.key, workdir)
    for attachment in found.attachments:
        if attachment.path is not None and attachment.key is not None:
            _publish_attachment(ctx.s3, m.object, attachment)
    return found.document


def _publish_attachment(s3: Any, obj: ObjectRef, attachment: email_mod.Attachment) -> None:
    """PutObject of one attachment beside its message, unless that exact content is already
    there: a re-run of extract must not make a new version (and a second notification)."""
    import hashlib
    from urllib.parse import quote

    data = attachment.path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        try:
            current = s3.head_object(Bucket=obj.bucket, Key=attachment.key)
            if current.get("Metadata", {}).get("sha256") == digest:
                return
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) not in ("404", "NoSuchKey", "NotFound"):
                raise
        # S3 user metadata is US-ASCII: the message's key is percent-encoded.
        s3.put_object(Bucket=obj.bucket, Key=attachment.key, Body=data, ContentType=attachment.content_type,
                      Metadata={"sha256": digest, "source-key": quote(obj.key, safe="/"),
                                "source-version": obj.version_id or "null"})
    except ClientError as exc:
        if is_retryable(exc):
            raise StagingUnavailableError(f"cannot write s3://{obj.bucket}/{attachment.key}: {exc}") from exc
        raise
    except BotoCoreError as exc:
        raise StagingUnavailableError(f"cannot write s3://{obj.bucket}/{attachment.key}: {exc}") from exc


EXTRACTORS: dict[str, Callable[[Path, Path, Context, Staging, ExtractManifest], None]] = {
    "image": _extract_image,
    "video": _extract_video,
    "audio": _extract_audio,
    "text": _extract_text,
    "document": _extract_document,
}


