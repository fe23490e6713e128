"""Video: chunks of fixed windows or from scene change to scene change, each with its keyframes,
its slice of the soundtrack transcribed and the words its keyframes show (OCR)."""
from __future__ import annotations

from typing import Any

from functions.common.constants import MODEL_OCR, MODEL_SPEECH, VIDEO_CHUNKING_SCENES
from functions.common.errors import InvalidObjectError
from functions.processing.chunking import scenes, transcript
from functions.processing.extract.job import ExtractJob, ocr_text, probe
from functions.processing.formats import media
from functions.processing.staging.manifest import Chunk, StagedFile

# A chunk's keyframes: (chunk, its name in staging keys, its keyframes in time order).
_PlannedChunk = tuple[Chunk, str, list[StagedFile]]
# Video frames are pictures first: tesseract reads textures and small print as words of low
# confidence (0-100; Florence-2 gives none, and its words are kept).
_KEYFRAME_OCR_MIN_CONF = 60.0


def extract(job: ExtractJob) -> None:
    m = job.manifest
    info = probe(job)
    chunk_seconds = job.settings.video_chunk_seconds
    chunking = job.settings.video_chunking
    m.metadata.update(info.metadata(), chunk_seconds=chunk_seconds, chunking=chunking)
    start, end = job.window(info.duration)
    if chunking == VIDEO_CHUNKING_SCENES:
        planned = _scene_chunks(job, info.duration, chunk_seconds, start, end)
    else:
        planned = _fixed_chunks(job, info.duration, chunk_seconds, start, end)
    if info.has_audio:
        _transcribe(job, planned, start, end)
    _read_keyframes(job, planned)
    m.chunks = [chunk for chunk, _, _ in planned]


def _transcribe(job: ExtractJob, planned: list[_PlannedChunk], start: float, end: float) -> None:
    """Each chunk's slice of the soundtrack, staged and transcribed; a soundtrack that does not
    decode is recorded in the metadata (the pictures are still worth keeping)."""
    wav = job.workdir / "audio.wav"
    try:
        media.decode_audio_16k(job.source, wav, max_seconds=end - start + 1, start=start)
    except InvalidObjectError as exc:
        job.manifest.metadata["audio_error"] = str(exc)
        return
    for chunk, name, _ in planned:
        data = media.wav_slice(wav, (chunk.time_start or 0.0) - start, (chunk.time_end or 0.0) - start)
        chunk.audio = job.stage(f"audio/{name}.wav", data, "audio/wav")
    with_audio = [chunk for chunk, _, _ in planned if chunk.audio is not None]
    outputs = job.call(MODEL_SPEECH, [job.blob(c.audio, "audio") for c in with_audio if c.audio is not None])
    if outputs is None:
        return
    for chunk, output in zip(with_audio, outputs):
        phrases = transcript.place_phrases(output, chunk.time_start or 0.0, chunk.time_end or 0.0)
        chunk.text = " ".join(p["text"] for p in phrases) or None
        chunk.metadata["segments"] = phrases
        chunk.metadata["language"] = output.get("language")


def _fixed_chunks(job: ExtractJob, duration: float, chunk_seconds: float, start: float, end: float) -> list[_PlannedChunk]:
    """Windows of chunk_seconds, a keyframe in the middle of each (VIDEO_CHUNKING=fixed)."""
    # Chunk i is the same window whether the video is extracted whole or in segments.
    ranges = [(i, r) for i, r in enumerate(media.plan_chunks(duration, chunk_seconds)) if start <= r.start < end]
    frames = media.keyframes(job.source, [(r.start + r.end) / 2 for _, r in ranges])
    planned: list[_PlannedChunk] = []
    for (i, r), jpeg in zip(ranges, frames):
        chunk = Chunk(ordinal=i, kind="video_segment", time_start=r.start, time_end=r.end, duration=r.duration)
        chunk.metadata["keyframe_time"] = round((r.start + r.end) / 2, 3)
        if jpeg is not None:
            chunk.image = job.stage(f"keyframes/{i:05d}.jpg", jpeg, "image/jpeg")
        planned.append((chunk, f"{i:05d}", [chunk.image] if chunk.image else []))
    return planned


def _scene_chunks(job: ExtractJob, duration: float, chunk_seconds: float, start: float, end: float) -> list[_PlannedChunk]:
    """Chunks from scene change to scene change (VIDEO_CHUNKING=scenes, chunking/scenes.py), a
    keyframe per window a chunk spans; the one in its middle is what the image models see."""
    m = job.manifest
    try:
        cuts = scenes.detect(job.source, start, end)
    except InvalidObjectError as exc:  # the keyframes may still decode: fixed windows, and why
        m.metadata["scene_error"] = str(exc)
        cuts = []
    m.metadata["scene_threshold"] = scenes.THRESHOLD
    plan = scenes.plan(start, end, cuts, chunk_seconds, open_start=start > 0, open_end=end < duration - 1e-6)
    times = [scenes.keyframe_times(p.range, chunk_seconds) for p in plan]
    frames = iter(media.keyframes(job.source, [t for ts in times for t in ts]))
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
                staged.append((t, job.stage(f"keyframes/{name}_{k}.jpg", jpeg, "image/jpeg")))
        if staged:
            shown_time, chunk.image = staged[(len(staged) - 1) // 2]
            chunk.metadata["keyframe_time"] = shown_time
            chunk.metadata["keyframes"] = [{"time": t, "key": f.key} for t, f in staged]
        planned.append((chunk, name, [f for _, f in staged]))
    return planned


def _read_keyframes(job: ExtractJob, planned: list[_PlannedChunk]) -> None:
    """OCR of every keyframe; the words found go into the chunk's text (embedded, searchable)
    after its transcript, and into its metadata (`ocr_text`). One batched call: at most
    scenes.MAX_KEYFRAMES per chunk, and a segment's chunks are bounded by its length."""
    items = [(chunk, frame) for chunk, _, frames in planned for frame in frames]
    outputs = job.call(MODEL_OCR, [job.blob(frame, "image") for _, frame in items])
    if not outputs:
        return
    found: dict[int, list[str]] = {}
    for (chunk, _), output in zip(items, outputs):
        text = _keyframe_text(output)
        lines = found.setdefault(id(chunk), [])
        if text and text not in lines:  # a still scene shows the same words in every keyframe
            lines.append(text)
    for chunk, _, _ in planned:
        read = found.get(id(chunk))
        if read:
            chunk.metadata["ocr_text"] = "\n".join(read)
            chunk.text = "\n".join(t for t in (chunk.text, *read) if t)


def _keyframe_text(output: dict[str, Any]) -> str:
    words = output.get("words")
    if words is None:
        return ocr_text(output)
    kept = (str(w.get("text", "")) for w in words if w.get("conf") is None or float(w["conf"]) >= _KEYFRAME_OCR_MIN_CONF)
    return " ".join(" ".join(kept).split())
