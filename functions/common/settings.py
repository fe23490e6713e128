"""Runtime settings of the processing functions, read once per container from the environment.

Names of the variables live in functions/common/constants.py; defaults here are the ones
the local run and the tests use when a variable is not set.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Mapping

from functions.common.constants import (
    ENV_MAX_OBJECT_BYTES,
    ENV_MODEL_BATCH_SIZE,
    ENV_MODEL_ENDPOINTS,
    ENV_PIPELINE_VERSION,
    ENV_STAGING_BUCKET,
    ENV_TEXT_CHUNK_OVERLAP,
    ENV_TEXT_CHUNK_TOKENS,
    ENV_VIDEO_CHUNK_SECONDS,
    MODEL_ROLES,
)

DEFAULT_MAX_OBJECT_BYTES = 2 * 1024**3  # 2 GiB: fits Lambda's 10 GiB ephemeral /tmp with room
DEFAULT_VIDEO_CHUNK_SECONDS = 10.0
DEFAULT_TEXT_CHUNK_TOKENS = 180  # words; all-MiniLM-L6-v2 truncates at 256 word pieces
DEFAULT_TEXT_CHUNK_OVERLAP = 30
DEFAULT_MODEL_BATCH_SIZE = 8


@dataclass(frozen=True)
class Settings:
    """What the steps need to know about their environment.

    Raises ValueError from `from_env` when a variable is set to something unusable, so a
    misconfigured function fails on its first invocation with a clear message.
    """

    staging_bucket: str = ""
    pipeline_version: str = ""
    model_endpoints: Mapping[str, str] = field(default_factory=dict)
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES
    video_chunk_seconds: float = DEFAULT_VIDEO_CHUNK_SECONDS
    text_chunk_tokens: int = DEFAULT_TEXT_CHUNK_TOKENS
    text_chunk_overlap: int = DEFAULT_TEXT_CHUNK_OVERLAP
    model_batch_size: int = DEFAULT_MODEL_BATCH_SIZE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        endpoints = _endpoints(env.get(ENV_MODEL_ENDPOINTS, ""))
        settings = cls(
            staging_bucket=env.get(ENV_STAGING_BUCKET, ""),
            pipeline_version=env.get(ENV_PIPELINE_VERSION, ""),
            model_endpoints=endpoints,
            max_object_bytes=int(env.get(ENV_MAX_OBJECT_BYTES) or DEFAULT_MAX_OBJECT_BYTES),
            video_chunk_seconds=float(env.get(ENV_VIDEO_CHUNK_SECONDS) or DEFAULT_VIDEO_CHUNK_SECONDS),
            text_chunk_tokens=int(env.get(ENV_TEXT_CHUNK_TOKENS) or DEFAULT_TEXT_CHUNK_TOKENS),
            text_chunk_overlap=int(env.get(ENV_TEXT_CHUNK_OVERLAP) or DEFAULT_TEXT_CHUNK_OVERLAP),
            model_batch_size=int(env.get(ENV_MODEL_BATCH_SIZE) or DEFAULT_MODEL_BATCH_SIZE),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.max_object_bytes <= 0:
            raise ValueError(f"{ENV_MAX_OBJECT_BYTES} must be positive")
        if self.video_chunk_seconds <= 0:
            raise ValueError(f"{ENV_VIDEO_CHUNK_SECONDS} must be positive")
        if self.text_chunk_tokens <= 0 or not 0 <= self.text_chunk_overlap < self.text_chunk_tokens:
            raise ValueError(f"need 0 <= {ENV_TEXT_CHUNK_OVERLAP} < {ENV_TEXT_CHUNK_TOKENS}")
        if self.model_batch_size <= 0:
            raise ValueError(f"{ENV_MODEL_BATCH_SIZE} must be positive")


def _endpoints(raw: str) -> dict[str, str]:
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"{ENV_MODEL_ENDPOINTS} must be a JSON object {{role: endpoint}}")
    unknown = set(value) - set(MODEL_ROLES)
    if unknown:
        raise ValueError(f"{ENV_MODEL_ENDPOINTS} names unknown roles {sorted(unknown)}")
    # An empty string means "not deployed", the same as leaving the role out.
    return {role: str(target) for role, target in value.items() if target}
