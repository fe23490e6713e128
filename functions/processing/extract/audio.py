"""Audio: decoded to 16 kHz mono, sent to the speech model in windows, the transcript's timed
phrases grouped into chunks of the embedding model's token budget."""
from __future__ import annotations

from typing import Any

from functions.common.constants import MODEL_SPEECH
from functions.processing.chunking import transcript
from functions.processing.chunking.text import count_tokens
from functions.processing.extract.job import ExtractJob, probe
from functions.processing.formats import media
from functions.processing.staging.manifest import Chunk


def extract(job: ExtractJob) -> None:
    m = job.manifest
    info = probe(job)
    start, end = job.window(info.duration)
    wav = job.workdir / "audio.wav"
    seconds = media.decode_audio_16k(job.source, wav, max_seconds=(end - start) if m.segment else info.duration + 1,
                                     start=start)
    m.metadata.update(info.metadata(), decoded_seconds=round(seconds, 3), resampled_to_hz=media.SAMPLE_RATE)
    # Windows in the object's time; window i has the same name in a segment as in the whole.
    first = round(start / transcript.WINDOW_SECONDS)
    windows = [media.TimeRange(start + w.start, start + w.end)
               for w in media.plan_chunks(seconds, transcript.WINDOW_SECONDS)]
    staged = [job.stage(f"audio/{first + i:05d}.wav", media.wav_slice(wav, w.start - start, w.end - start), "audio/wav")
              for i, w in enumerate(windows)]
    outputs = job.call(MODEL_SPEECH, [job.blob(s, "audio") for s in staged])
    if outputs is None:
        # No speech model: keep the time structure, no invented transcript.
        m.chunks = [
            Chunk(ordinal=i, kind="audio_window", time_start=w.start, time_end=w.end, duration=w.duration, audio=s)
            for i, (w, s) in enumerate(zip(windows, staged))
        ]
        return
    phrases: list[dict[str, Any]] = []
    for w, output in zip(windows, outputs):
        phrases.extend(transcript.place_phrases(output, w.start, w.end))
        m.metadata.setdefault("language", output.get("language"))
    groups = transcript.group_phrases(phrases, job.settings.text_chunk_tokens, count_tokens)
    m.chunks = [
        Chunk(ordinal=i, kind="audio_segment", text=g["text"], time_start=g["start"], time_end=g["end"],
              duration=round(g["end"] - g["start"], 3), metadata={"segments": g["segments"]})
        for i, g in enumerate(groups)
    ]
    text = " ".join(g["text"] for g in groups)
    m.metadata["transcript_words"] = len(text.split())
    if text:
        m.artefacts["text"] = job.stage_text("transcript.txt", text)
