"""Audio and video with PyAV (FFmpeg): probe, time chunks, keyframes, 16 kHz mono audio.

Everything streams from a file on disk: memory stays bounded by one decoded frame / audio
packet, whatever the size of the object.
"""
from __future__ import annotations

import io
import math
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from functions.common.errors import InvalidObjectError

SAMPLE_RATE = 16_000
KEYFRAME_SIDE = 768
_BYTES_PER_SAMPLE = 2  # s16 mono


@dataclass
class MediaInfo:
    duration: float
    container: str
    has_video: bool
    has_audio: bool
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bit_rate: int | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class TimeRange:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return round(self.end - self.start, 6)


def _open(path: Path) -> Any:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, OSError) as exc:
        raise InvalidObjectError(f"cannot open as audio/video: {exc}") from exc


def probe(path: Path) -> MediaInfo:
    """Streams, codecs, duration and rate. Raises InvalidObjectError for unreadable files."""
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = _duration(container, video, audio)
        info = MediaInfo(
            duration=duration,
            container=container.format.name,
            has_video=video is not None,
            has_audio=audio is not None,
            bit_rate=container.bit_rate or None,
            tags={str(k): str(v)[:200] for k, v in (container.metadata or {}).items()},
        )
        if video is not None:
            info.video_codec = video.codec_context.name
            info.width = video.codec_context.width
            info.height = video.codec_context.height
            rate = video.average_rate or video.guessed_rate
            info.fps = round(float(rate), 3) if rate else None
        if audio is not None:
            info.audio_codec = audio.codec_context.name
            info.sample_rate = audio.codec_context.sample_rate
            info.channels = audio.codec_context.channels if hasattr(audio.codec_context, "channels") else audio.codec_context.layout.nb_channels
    if not (duration > 0):
        raise InvalidObjectError("media has no duration (empty or truncated stream)")
    return info


def _duration(container: Any, video: Any, audio: Any) -> float:
    if container.duration:
        return container.duration / av.time_base
    for stream in (video, audio):
        if stream is not None and stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
    return 0.0


def plan_chunks(duration: float, chunk_seconds: float) -> list[TimeRange]:
    """[0, L), [L, 2L), ... covering the duration; the last chunk is the remainder."""
    if duration <= 0:
        return []
    count = max(1, math.ceil(duration / chunk_seconds - 1e-9))
    return [
        TimeRange(round(i * chunk_seconds, 6), round(min((i + 1) * chunk_seconds, duration), 6)) for i in range(count)
    ]


def keyframes(path: Path, times: list[float], max_side: int = KEYFRAME_SIDE) -> list[bytes | None]:
    """A JPEG of the frame shown at each time (None where none can be decoded).

    Seeks to the keyframe before each time and decodes forward, so the cost per time is at
    most one group of pictures, not the whole video.
    """
    from functions.processing.formats.image import to_jpeg

    out: list[bytes | None] = []
    with _open(path) as container:
        if not container.streams.video:
            return [None] * len(times)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = stream.time_base or Fraction(1, 1000)
        for t in times:
            frame_image = None
            try:
                container.seek(int(t / base), stream=stream, backward=True, any_frame=False)
                for frame in container.decode(stream):
                    frame_image = frame.to_image()
                    if frame.time is None or frame.time >= t - 1e-3:
                        break
            except av.FFmpegError:
                frame_image = None
            out.append(to_jpeg(frame_image, max_side) if frame_image is not None else None)
    return out


def decode_audio_16k(path: Path, out_path: Path, max_seconds: float | None = None, start: float = 0.0) -> float:
    """Write the first audio stream, from `start` seconds on (a segment), as 16 kHz mono 16-bit
    WAV; returns its length in seconds.

    The stream is decoded from its beginning and the samples before `start` dropped: exact to
    the sample, and decoding audio is cheap next to transcribing it.
    Raises InvalidObjectError when there is no audio or it cannot be decoded.
    """
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    samples = 0
    skip = int(round(start * SAMPLE_RATE))  # samples still to drop before the segment
    limit = int(max_seconds * SAMPLE_RATE) if max_seconds else None
    with _open(path) as container, wave.open(str(out_path), "wb") as wav:
        if not container.streams.audio:
            raise InvalidObjectError("no audio stream")
        wav.setnchannels(1)
        wav.setsampwidth(_BYTES_PER_SAMPLE)
        wav.setframerate(SAMPLE_RATE)
        stream = container.streams.audio[0]
        try:
            for frame in _frames(container, stream):
                for resampled in resampler.resample(frame):
                    n, skip = _write_between(wav, resampled, skip, None if limit is None else limit - samples)
                    samples += n
                if limit and samples >= limit:
                    break
            else:
                for resampled in resampler.resample(None):
                    n, skip = _write_between(wav, resampled, skip, None if limit is None else limit - samples)
                    samples += n
        except av.FFmpegError as exc:
            if samples == 0:
                raise InvalidObjectError(f"audio cannot be decoded: {exc}") from exc
            # A damaged tail: keep what decoded (the manifest records the decoded duration).
    if samples == 0:
        raise InvalidObjectError("the audio stream holds no samples")
    return samples / SAMPLE_RATE


def _write_between(wav: Any, resampled: Any, skip: int, room: int | None) -> tuple[int, int]:
    """Write the frame's samples after the first `skip`, at most `room` of them (None: all);
    returns (written, still to skip). A segment's audio thus ends exactly where the next starts."""
    dropped = min(skip, resampled.samples)
    kept = resampled.samples - dropped if room is None else max(0, min(resampled.samples - dropped, room))
    if kept:
        data = bytes(resampled.planes[0])[: resampled.samples * _BYTES_PER_SAMPLE]
        wav.writeframes(data[dropped * _BYTES_PER_SAMPLE:(dropped + kept) * _BYTES_PER_SAMPLE])
    return kept, skip - dropped


def _frames(container: Any, stream: Any) -> Iterator[Any]:
    for packet in container.demux(stream):
        yield from packet.decode()


def wav_slice(wav_path: Path, start: float, end: float) -> bytes:
    """The [start, end) seconds of a 16 kHz mono WAV as a WAV file of their own."""
    with wave.open(str(wav_path), "rb") as src:
        rate = src.getframerate()
        first = max(0, int(round(start * rate)))
        last = min(src.getnframes(), int(round(end * rate)))
        src.setpos(min(first, src.getnframes()))
        frames = src.readframes(max(0, last - first))
        out = io.BytesIO()
        with wave.open(out, "wb") as dst:
            dst.setnchannels(src.getnchannels())
            dst.setsampwidth(src.getsampwidth())
            dst.setframerate(rate)
            dst.writeframes(frames)
    return out.getvalue()

