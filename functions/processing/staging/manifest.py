"""What each step writes to the staging area (`<step>.json`) for the next one.

These documents stay in S3; only a pointer to them crosses the state machine.
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from functions.common.events import ObjectRef, Segment


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelRef(_Doc):
    id: str
    version: str


class StagedFile(_Doc):
    """An artefact in the staging bucket (thumbnail, keyframe, WAV slice, page image)."""

    key: str
    size: int
    content_type: str


class Chunk(_Doc):
    ordinal: int
    kind: str
    text: Optional[str] = None
    time_start: Optional[float] = None
    time_end: Optional[float] = None
    duration: Optional[float] = None
    page: Optional[int] = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    image: Optional[StagedFile] = None  # what the image models see for this chunk
    audio: Optional[StagedFile] = None  # what speech heard for this chunk


class _StepDoc(_Doc):
    object: ObjectRef
    pipeline_version: str
    # Model roles that had no endpoint: their outputs are absent, not invented.
    unavailable: list[str] = Field(default_factory=list)
    models: dict[str, ModelRef] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)


class Page(_Doc):
    """A page of a large object's chunks or vectors, in staging (functions/processing/staging/chunks.py)."""

    key: str
    number: int  # 1-based; page 0 is the manifest's own list
    first_ordinal: int
    count: int


class ExtractManifest(_StepDoc):
    modality: str
    detected_format: str
    content_sha256: Optional[str] = None  # of the object's bytes, hashed while downloading them
    # A long object's plan lists its segments; a segment's own output names its segment.
    segments: Optional[list[Segment]] = None
    segment: Optional[Segment] = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    chunks: list[Chunk] = Field(default_factory=list)  # the first page: every chunk of most objects
    chunk_pages: list[Page] = Field(default_factory=list)  # the rest, in staging
    artefacts: dict[str, StagedFile] = Field(default_factory=dict)

    @property
    def chunk_count(self) -> int:
        return len(self.chunks) + sum(page.count for page in self.chunk_pages)


class Generated(_Doc):
    chunk_ordinal: Optional[int] = None  # None: about the whole object
    task: str  # caption | summarize
    content: dict[str, Any]
    model: ModelRef


class GenerateManifest(_StepDoc):
    generated: list[Generated] = Field(default_factory=list)


class Embedding(_Doc):
    chunk_ordinal: int
    role: str
    model: ModelRef
    dimension: int
    vector: list[float]


class EmbedManifest(_StepDoc):
    embeddings: list[Embedding] = Field(default_factory=list)  # of the chunks in the extract manifest
    embedding_pages: list[Page] = Field(default_factory=list)  # of each chunk page, same numbers
