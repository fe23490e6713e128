"""ExtractJob: what one modality's extractor works on, and the helpers every extractor uses.

An extractor reads `job.source` (the object's bytes, downloaded), fills `job.manifest` (chunks,
metadata, artefacts) and stages what the next steps read; it calls models only through
`job.call`, which checkpoints each answer in staging (a retry asks only what is missing) and
records a role that is not deployed instead of inventing its output.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.common.errors import InvalidObjectError
from functions.common.events import S3Pointer
from functions.common.model_client import Blob, ModelClient
from functions.common.settings import Settings
from functions.common.staging import Staging
from functions.processing.chunking.text import TextChunk
from functions.processing.formats import media
from functions.processing.staging.checkpoints import StagedCheckpoints
from functions.processing.staging.manifest import ExtractManifest, ModelRef, StagedFile

# Longer media is refused with a reason. Media above SEGMENT_SECONDS is extracted in segments,
# each an invocation with Lambda's 15 minutes (staging/segments.py).
MAX_MEDIA_SECONDS = 4 * 3600
TEXT_PLAIN = "text/plain; charset=utf-8"


@dataclass
class ExtractJob:
    source: Path  # the object's bytes
    workdir: Path  # scratch space beside it, gone when the step ends
    s3: Any  # the S3 client (an e-mail's attachments are written back to the ingest bucket)
    settings: Settings
    models: ModelClient
    staging: Staging
    manifest: ExtractManifest

    def stage(self, name: str, data: bytes, content_type: str) -> StagedFile:
        pointer = self.staging.put_bytes(name, data, content_type)
        return StagedFile(key=pointer.key, size=len(data), content_type=content_type)

    def stage_text(self, whole: str, text: str) -> StagedFile:
        """The object's text (text.txt, transcript.txt); a segment's goes beside its chunks and is
        joined on assembly."""
        return self.stage(self.text_name(whole), text.encode("utf-8"), TEXT_PLAIN)

    def blob(self, staged: StagedFile, kind: str) -> Blob:
        return Blob(kind=kind, pointer=S3Pointer(bucket=self.staging.bucket, key=staged.key),  # type: ignore[arg-type]
                    size=staged.size)

    def call(self, role: str, items: list[Any]) -> list[Any] | None:
        """Outputs of `role` for `items`, or None (recorded in the manifest) when not deployed.
        Each request's answer is checkpointed in staging: a retry asks only what is missing."""
        if not self.models.available(role):
            if role not in self.manifest.unavailable:
                self.manifest.unavailable.append(role)
            return None
        if not items:
            return []
        result = self.models.invoke(role, items, checkpoints=StagedCheckpoints(self.staging))
        self.manifest.models[role] = ModelRef(**result.model)
        return result.outputs

    def text_name(self, whole: str) -> str:
        """Where the object's text goes: a segment's beside its chunks, joined on assembly."""
        segment = self.manifest.segment
        return whole if segment is None else f"segments/{segment.number:04d}.txt"

    def window(self, duration: float) -> tuple[float, float]:
        """The seconds this invocation extracts: the segment's window, or the whole duration."""
        segment = self.manifest.segment
        if segment is None or segment.time_start is None:
            return 0.0, duration
        return segment.time_start, min(segment.time_end or duration, duration)

    def read_text_bytes(self, what: str) -> bytes:
        size, limit = self.source.stat().st_size, self.settings.max_text_bytes
        if size > limit:
            raise InvalidObjectError(f"the {what} is {size} bytes, above the {limit}-byte limit for text "
                                     "(the MAX_TEXT_BYTES setting, max_text_mb in cdk.json)")
        return self.source.read_bytes()


_NO_STREAM = {"audio": "the file has no audio stream",
              "video": "the file has no video stream (an audio file sent as video?)"}


def probe(job: ExtractJob) -> media.MediaInfo:
    """The media's streams and duration. Raises InvalidObjectError without the stream the
    modality needs, or above MAX_MEDIA_SECONDS."""
    modality = job.manifest.modality
    info = media.probe(job.source)
    if not (info.has_video if modality == "video" else info.has_audio):
        raise InvalidObjectError(_NO_STREAM[modality])
    if info.duration > MAX_MEDIA_SECONDS:
        raise InvalidObjectError(f"the {modality} lasts {info.duration:.0f} s, above the limit of {MAX_MEDIA_SECONDS} s")
    return info


def ocr_text(output: dict[str, Any]) -> str:
    return " ".join(str(output.get("text", "")).split())


def span(chunk: TextChunk) -> dict[str, int]:
    """Where a text chunk lies: characters of the normalised text (text.txt, or the page's text
    for documents) and tokens of the text_embedding model, end exclusive."""
    return {"char_start": chunk.char_start, "char_end": chunk.char_end,
            "token_start": chunk.token_start, "token_end": chunk.token_end}
