"""Typed events between the pipeline's steps: what each Lambda receives and returns.

Only pointers cross states (bulk data lives in the staging bucket), so every payload
stays far below the 256 KiB Step Functions limit.

Flow of one object through its modality's Map iteration:

    WorkItem --extract--> StepResult --generate--> StepResult --embed--> StepResult
             --store--> StoreResult
    A long object: WorkItem --extract--> StepResult(segments=[...]);
             each SegmentItem --extract--> SegmentResult;
             StepResult(segments=[...]) --extract (assemble)--> StepResult --generate--> ...
    (any failure)  FailureInput --record_failure--> StoreResult(status="failed")

The dispatcher starts one execution per Kafka batch with an ExecutionInput.
"""
from __future__ import annotations

from typing import Literal, Optional, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions.common.constants import MODALITIES, UNSUPPORTED

Modality = Literal["image", "video", "audio", "text", "document", "unsupported"]
assert set(get_args(Modality)) == set(MODALITIES) | {UNSUPPORTED}  # keep in sync


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectRef(_Event):
    """One version of one S3 object. `key` is decoded (S3 events URL-encode it)."""

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    version_id: Optional[str] = None  # None for unversioned buckets ("null" in S3)
    etag: Optional[str] = None
    size: int = Field(ge=0)
    sequencer: Optional[str] = None  # orders events for the same key
    content_type: Optional[str] = None  # what the uploader claimed; extract verifies it
    modality: Modality


class S3Pointer(_Event):
    bucket: str
    key: str


class ExecutionInput(_Event):
    """Input of one state machine execution: the work of one Kafka batch, per modality."""

    batch_id: str
    pipeline_version: str
    image: list[ObjectRef] = []
    video: list[ObjectRef] = []
    audio: list[ObjectRef] = []
    text: list[ObjectRef] = []
    document: list[ObjectRef] = []
    unsupported: list[ObjectRef] = []


class WorkItem(_Event):
    """Input of a Map iteration (built by the Map's ItemSelector) and of `extract`."""

    object: ObjectRef
    pipeline_version: str


class Segment(_Event):
    """A part of a long object that extract processes in an invocation of its own: a time
    window of audio or video, or a range of PDF pages (functions/processing/staging/segments.py)."""

    number: int = Field(ge=0)
    time_start: Optional[float] = Field(default=None, ge=0)
    time_end: Optional[float] = None
    first_page: Optional[int] = Field(default=None, ge=1)  # 1-based, inclusive
    last_page: Optional[int] = None

    @model_validator(mode="after")
    def _one_kind(self) -> Segment:
        timed = self.time_start is not None and self.time_end is not None and self.time_end > self.time_start
        paged = self.first_page is not None and self.last_page is not None and self.last_page >= self.first_page
        if timed == paged:
            raise ValueError("a segment is either a time window (time_start < time_end) or a page range")
        return self


class SegmentItem(_Event):
    """Input of `extract` for one segment (built by the segments Map's ItemSelector)."""

    object: ObjectRef
    pipeline_version: str
    segment: Segment


class SegmentResult(_Event):
    """What `extract` returns for one segment (the Map discards it: the chunks are staged)."""

    number: int
    chunks: int
    from_checkpoint: bool = False  # an earlier attempt had staged this segment already


class ReuseSource(_Event):
    """An object whose succeeded result store copies for an object of the same bytes
    (functions/processing/results/reuse.py): same content_sha256, pipeline version, modality and
    detected format. Named by identity, not by row id (a reprocessed object gets new ids)."""

    bucket: str
    key: str
    version_id: Optional[str] = None
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class StepResult(_Event):
    """Output of extract, scan, generate and embed; input of scan, generate, embed and store.

    `manifest` points at the JSON the step wrote to the staging area. Staging keys are
    derived from (pipeline_version, bucket, key, version_id, step), so a re-run of a step
    overwrites its own output instead of adding to it.
    """

    object: ObjectRef
    pipeline_version: str
    step: Literal["extract", "scan", "generate", "embed"]
    manifest: S3Pointer
    # True when the object version already has a complete result for this pipeline
    # version: later steps pass it through and store does nothing (duplicate delivery).
    up_to_date: bool = False
    # Set by extract when a succeeded result of the same bytes exists for this pipeline version:
    # generate and embed pass it through without calling a model, store copies that object's rows.
    reuse_from: Optional[ReuseSource] = None
    # Set by extract for a long object: the state machine runs extract once per segment,
    # then once more with this result to assemble them (and the manifest is then extract.json).
    segments: Optional[list[Segment]] = None


class FailureInput(_Event):
    """Input of record_failure: the Map iteration's Catch adds the error to the WorkItem."""

    object: ObjectRef
    pipeline_version: str
    failed_step: Literal["extract", "scan", "generate", "embed", "store"]
    error: CaughtError


class CaughtError(_Event):
    """The shape Step Functions puts at the Catch's ResultPath."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    Error: str
    Cause: Optional[str] = None


FailureInput.model_rebuild()


class StoreResult(_Event):
    """Output of a Map iteration: one line of the execution's summary."""

    bucket: str
    key: str
    version_id: Optional[str] = None
    modality: Modality
    status: Literal["succeeded", "failed", "up_to_date"]
    chunks: int = 0
    embeddings: int = 0
    # True when the rows are a copy of another object's result of the same bytes (the database
    # names that object in objects.reused_from; kept out of here: up to 100 of these per execution
    # output, whose limit is 256 KiB).
    reused: bool = False
    reason: Optional[str] = None


# --- CloudFormation custom resources (through the CDK Provider framework) -------------------
# The framework hands onEvent the CloudFormation request (its ResponseURL masked), so these
# models check only what our handlers use; CloudFormation adds ServiceToken to the properties.


class _ResourceProperties(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ServiceToken: Optional[str] = None


class TopicProperties(_ResourceProperties):
    Topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")
    Partitions: int = Field(ge=1, le=1000)  # CloudFormation sends numbers as strings; pydantic coerces


class MigrationProperties(_ResourceProperties):
    MigrationsDigest: str = Field(pattern=r"^[0-9a-f]{64}$")


class _CustomResourceEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    RequestType: Literal["Create", "Update", "Delete"]
    PhysicalResourceId: Optional[str] = None

    @model_validator(mode="after")
    def _properties_unless_delete(self):
        if self.RequestType != "Delete" and getattr(self, "ResourceProperties", None) is None:
            raise ValueError(f"{self.RequestType} needs ResourceProperties")
        return self


class TopicResourceEvent(_CustomResourceEvent):
    ResourceProperties: Optional[TopicProperties] = None


class MigrationResourceEvent(_CustomResourceEvent):
    ResourceProperties: Optional[MigrationProperties] = None
