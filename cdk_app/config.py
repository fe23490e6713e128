"""Typed, validated configuration read from cdk.json context (key "pipeline").

Override any value on the command line, e.g.
`npx cdk deploy -c pipeline='{"environment": "prod", ...}'`, or edit cdk.json.
A bad value stops synth with a message that names the field.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cdk_app.house.log_retention import RETENTION_BY_DAYS
from functions.common.constants import (
    MODALITIES,
    MODEL_PII,
    MODEL_ROLES,
    TEXT_CHUNK_MAX_TOKENS,
    VIDEO_CHUNKING_SCENES,
    VideoChunking,
)
from model_artifacts.catalog import MODERATION_THRESHOLD, PROFANITY_MIN_SCORE, PROFANITY_THRESHOLD

CONTEXT_KEY = "pipeline"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Strict):
    """Overrides for one SageMaker endpoint; unset fields take model_artifacts.catalog's
    defaults (instance type, autoscaling bounds, target derived from measured throughput)."""

    enabled: bool = True
    instance_type: Optional[str] = Field(default=None, pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    # 0 (the catalog's default): the endpoint scales to zero instances while no work arrives and
    # starts one when a request finds none (minutes; the pipeline waits, nothing is lost).
    min_instances: Optional[int] = Field(default=None, ge=0, le=20)
    max_instances: Optional[int] = Field(default=None, ge=1, le=40)
    # Target tracking on SageMakerVariantInvocationsPerInstance (invocations per instance
    # per minute); see model_artifacts/<model>/README.md for how each default was chosen.
    target_invocations_per_instance: Optional[int] = Field(default=None, ge=1)
    # Hub commit to pin (HF_MODEL_REVISION), overriding the catalog's; required in practice for
    # roles the catalog cannot pin (generation, ocr) unless weights_dir is set.
    hub_revision: Optional[str] = Field(default=None, pattern=r"^[0-9a-f]{40}$")
    # A folder with the model's weights (save_pretrained layout) to package into model.tar.gz:
    # the endpoint then serves them from model_dir and downloads nothing.
    weights_dir: Optional[str] = None
    scale_in_cooldown_seconds: int = Field(default=600, ge=0, le=3600)
    scale_out_cooldown_seconds: int = Field(default=60, ge=0, le=3600)

    @model_validator(mode="after")
    def _bounds(self) -> ModelConfig:
        if self.min_instances is not None and self.max_instances and self.max_instances < self.min_instances:
            raise ValueError(f"max_instances ({self.max_instances}) < min_instances ({self.min_instances})")
        return self


class KafkaConfig(_Strict):
    topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")
    # Partitions bound how many dispatcher invocations run at once (one poller per partition).
    partitions: int = Field(ge=1, le=1000)
    batch_size: int = Field(ge=1, le=10000)
    batching_window_seconds: int = Field(ge=0, le=300)
    min_pollers: int = Field(ge=1, le=200)
    max_pollers: int = Field(ge=1, le=2000)
    retry_attempts: int = Field(ge=0, le=10)


class DatabaseConfig(_Strict):
    min_acu: float = Field(ge=0, le=256)
    max_acu: float = Field(ge=1, le=256)
    readers: int = Field(ge=0, le=15)
    backup_retention_days: int = Field(ge=1, le=35)
    deletion_protection: bool
    secret_rotation_days: int = Field(default=30, ge=1, le=1000)  # Secrets Manager's limits


class BackfillConfig(_Strict):
    enabled: bool
    # Airflow on MWAA runs the backfill and reconciliation DAGs; off, an EventBridge Scheduler
    # schedule starts the nightly reconciliation on the backfill state machine (no MWAA to pay for).
    mwaa: bool = True
    airflow_version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    environment_class: Literal["mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge"]
    max_workers: int = Field(ge=1, le=25)
    reconcile_schedule: str


class ComplianceConfig(_Strict):
    """Compliance scanning (functions/compliance): the scores from which a moderation label flags
    an image and a profane sentence its file, and when the share of scanned files that carry any
    flag raises the alarm (cdk_app/observability.py)."""

    moderation_threshold: float = Field(default=MODERATION_THRESHOLD, ge=0, le=1)
    # The profanity classifier's score from which a sentence flags its file (moderation:PROFANITY);
    # the pii endpoint sends no sentence below 0.5 (its decision boundary), so no lower setting.
    profanity_threshold: float = Field(default=PROFANITY_THRESHOLD, ge=PROFANITY_MIN_SCORE, le=1)
    # Alarm when more than this share of the files scanned in alarm_period_minutes carry a flag
    # (personal data of any type or an unsafe label), once at least alarm_min_files were scanned.
    flagged_rate_alarm: float = Field(default=0.2, gt=0, le=1)
    alarm_period_minutes: int = Field(default=60, ge=5, le=1440)
    alarm_min_files: int = Field(default=20, ge=1)
    # Replace every value found by <TYPE> in stored chunk text, the lexical index, embeddings and
    # summaries (functions/compliance/redaction.py). Off by default: the original text stays searchable.
    redact: bool = False


class PipelineConfig(_Strict):
    environment: str = Field(pattern=r"^[a-z][a-z0-9-]{1,15}$")
    pipeline_version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,32}$")
    modalities: tuple[str, ...]
    lambda_architecture: Literal["x86_64", "arm64"]
    log_retention_days: int
    max_object_mb: int = Field(ge=1, le=10240)
    video_chunk_seconds: int = Field(ge=1, le=600)
    # "scenes": video chunks from scene change to scene change (at most two windows of
    # video_chunk_seconds, long scenes in windows); "fixed": windows only (functions/processing/chunking/scenes.py).
    video_chunking: VideoChunking = VIDEO_CHUNKING_SCENES
    # Text and CSV files are decoded whole in extract (3,008 MB): about 4 bytes of memory per byte.
    max_text_mb: int = Field(default=128, ge=1, le=512)
    # Chunks of one object at most (embed and store page through them in one invocation each).
    max_chunks: int = Field(default=300_000, ge=1, le=1_000_000)
    # Longer media / PDFs with more pages are extracted in segments of this size, each in an
    # invocation of its own, up to segment_max_concurrency of one object at a time.
    segment_seconds: int = Field(default=600, ge=60, le=1800)
    segment_pages: int = Field(default=100, ge=10, le=500)
    segment_max_concurrency: int = Field(default=10, ge=1, le=40)
    # Tokens of the text_embedding model's tokenizer per chunk, [CLS]/[SEP] not counted: at most
    # its 256-token input less those two, or the model truncates the chunk (functions/processing/formats/text.py).
    text_chunk_tokens: int = Field(ge=16, le=TEXT_CHUNK_MAX_TOKENS)
    text_chunk_overlap: int = Field(ge=0)
    map_max_concurrency: Mapping[str, int]
    staging_expiry_days: int = Field(ge=1, le=365)
    failed_items_expiry_days: int = Field(ge=1, le=3650)
    retain_data: bool
    alarm_email: str | None = None
    kafka: KafkaConfig
    database: DatabaseConfig
    models: Mapping[str, ModelConfig]
    backfill: BackfillConfig
    compliance: ComplianceConfig = Field(default_factory=ComplianceConfig)

    @field_validator("modalities")
    @classmethod
    def _known_modalities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(value) - set(MODALITIES)
        if unknown or not value:
            raise ValueError(f"modalities must be a non-empty subset of {list(MODALITIES)}; unknown: {sorted(unknown)}")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in RETENTION_BY_DAYS:
            raise ValueError(f"log_retention_days must be one of {sorted(RETENTION_BY_DAYS)}")
        return value

    @field_validator("map_max_concurrency")
    @classmethod
    def _concurrency(cls, value: Mapping[str, int]) -> Mapping[str, int]:
        for modality, limit in value.items():
            if modality not in MODALITIES:
                raise ValueError(f"map_max_concurrency: unknown modality {modality!r}")
            if not 1 <= int(limit) <= 1000:
                raise ValueError(f"map_max_concurrency[{modality}] must be 1..1000 (inline Map limit is 40 effective)")
        return value

    @field_validator("models")
    @classmethod
    def _roles(cls, value: Mapping[str, ModelConfig]) -> Mapping[str, ModelConfig]:
        unknown = set(value) - set(MODEL_ROLES)
        if unknown:
            raise ValueError(f"models: unknown roles {sorted(unknown)}; known: {list(MODEL_ROLES)}")
        return value

    @model_validator(mode="after")
    def _overlap(self) -> PipelineConfig:
        if self.text_chunk_overlap >= self.text_chunk_tokens:
            raise ValueError("text_chunk_overlap must be smaller than text_chunk_tokens")
        return self

    @model_validator(mode="after")
    def _redaction_needs_pii(self) -> PipelineConfig:
        pii = self.models.get(MODEL_PII)
        if self.compliance.redact and pii is not None and not pii.enabled:
            raise ValueError("compliance.redact needs the pii model role (models.pii.enabled is false)")
        return self

    @property
    def prefix(self) -> str:
        """Prefix for physical names that must be unique per account and region."""
        return f"mmpipe-{self.environment}"


class ConfigError(ValueError):
    """The cdk.json context does not describe a valid pipeline."""


def load_config(context: Any) -> PipelineConfig:
    """Validate the raw `pipeline` context (a dict, or a JSON string from `-c`).

    Raises ConfigError naming each bad field.
    """
    if context is None:
        raise ConfigError(f"cdk.json has no context key {CONTEXT_KEY!r}")
    if isinstance(context, str):
        try:
            context = json.loads(context)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"context {CONTEXT_KEY!r} is not valid JSON: {exc}") from exc
    try:
        return PipelineConfig.model_validate(context)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid {CONTEXT_KEY!r} configuration in cdk.json: {problems}") from exc
