"""Runtime settings of the processing functions, read once per container from the environment.

Names of the variables live in functions/common/constants.py; defaults here are the ones
the local run and the tests use when a variable is not set.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Mapping

from functions.common.constants import (
    ENV_MAX_CHUNKS,
    ENV_MAX_OBJECT_BYTES,
    ENV_MAX_TEXT_BYTES,
    ENV_SEGMENT_PAGES,
    ENV_SEGMENT_SECONDS,
    ENV_MODEL_BATCH_ITEMS,
    ENV_MODEL_ENDPOINTS,
    ENV_PIPELINE_VERSION,
    ENV_STAGING_BUCKET,
    ENV_TEXT_CHUNK_OVERLAP,
    ENV_TEXT_CHUNK_TOKENS,
    ENV_VIDEO_CHUNK_SECONDS,
    ENV_VIDEO_CHUNKING,
    MODEL_ROLES,
    TEXT_CHUNK_MAX_TOKENS,
    VIDEO_CHUNKING_SCENES,
    VIDEO_CHUNKINGS,
)

DEFAULT_MAX_OBJECT_BYTES = 2 * 1024**3  # 2 GiB: fits Lambda's 10 GiB ephemeral /tmp with room
DEFAULT_VIDEO_CHUNK_SECONDS = 10.0
# A text file is decoded whole (about four bytes of memory per byte of text at the peak, well
# within extract's 3,008 MB); its chunks are written to staging in pages as they are cut.
DEFAULT_MAX_TEXT_BYTES = 128 * 1024**2
# Some 150,000 chunks come from 100 MB of log lines; embed and store take them page by page
# (functions/processing/chunk_pages.py) within their 15-minute Lambda timeouts.
DEFAULT_MAX_CHUNKS = 300_000
# Long media and PDFs are extracted in segments, each an invocation of its own with Lambda's
# 15 minutes: 10 minutes of media (decoding, keyframes, speech for 10 minutes) or 100 pages
# (text, tables, OCR of scanned pages) take a few minutes at most.
DEFAULT_SEGMENT_SECONDS = 600.0
DEFAULT_SEGMENT_PAGES = 100
# Tokens of the text_embedding model's own tokenizer (functions/processing/text.py), as in cdk.json.
DEFAULT_TEXT_CHUNK_TOKENS = TEXT_CHUNK_MAX_TOKENS
DEFAULT_TEXT_CHUNK_OVERLAP = 32
# SageMaker endpoint names: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


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
    video_chunking: str = VIDEO_CHUNKING_SCENES
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES
    max_chunks: int = DEFAULT_MAX_CHUNKS
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    segment_pages: int = DEFAULT_SEGMENT_PAGES
    text_chunk_tokens: int = DEFAULT_TEXT_CHUNK_TOKENS
    text_chunk_overlap: int = DEFAULT_TEXT_CHUNK_OVERLAP
    model_batch_items: Mapping[str, int] = field(default_factory=dict)

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
            video_chunking=env.get(ENV_VIDEO_CHUNKING) or VIDEO_CHUNKING_SCENES,
            max_text_bytes=int(env.get(ENV_MAX_TEXT_BYTES) or DEFAULT_MAX_TEXT_BYTES),
            max_chunks=int(env.get(ENV_MAX_CHUNKS) or DEFAULT_MAX_CHUNKS),
            segment_seconds=float(env.get(ENV_SEGMENT_SECONDS) or DEFAULT_SEGMENT_SECONDS),
            segment_pages=int(env.get(ENV_SEGMENT_PAGES) or DEFAULT_SEGMENT_PAGES),
            text_chunk_tokens=int(env.get(ENV_TEXT_CHUNK_TOKENS) or DEFAULT_TEXT_CHUNK_TOKENS),
            text_chunk_overlap=int(env.get(ENV_TEXT_CHUNK_OVERLAP) or DEFAULT_TEXT_CHUNK_OVERLAP),
            model_batch_items=_batch_items(env.get(ENV_MODEL_BATCH_ITEMS, "")),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.max_object_bytes <= 0:
            raise ValueError(f"{ENV_MAX_OBJECT_BYTES} must be positive")
        if self.video_chunk_seconds <= 0:
            raise ValueError(f"{ENV_VIDEO_CHUNK_SECONDS} must be positive")
        if self.video_chunking not in VIDEO_CHUNKINGS:
            raise ValueError(f"{ENV_VIDEO_CHUNKING} must be one of {', '.join(VIDEO_CHUNKINGS)}")
        if self.max_text_bytes <= 0:
            raise ValueError(f"{ENV_MAX_TEXT_BYTES} must be positive")
        if self.max_chunks <= 0:
            raise ValueError(f"{ENV_MAX_CHUNKS} must be positive")
        if self.segment_seconds < self.video_chunk_seconds:
            raise ValueError(f"{ENV_SEGMENT_SECONDS} must be at least {ENV_VIDEO_CHUNK_SECONDS}")
        if self.segment_pages <= 0:
            raise ValueError(f"{ENV_SEGMENT_PAGES} must be positive")
        if not 0 < self.text_chunk_tokens <= TEXT_CHUNK_MAX_TOKENS:
            raise ValueError(f"{ENV_TEXT_CHUNK_TOKENS} must be 1..{TEXT_CHUNK_MAX_TOKENS} (the embedding model's limit)")
        if not 0 <= self.text_chunk_overlap < self.text_chunk_tokens:
            raise ValueError(f"need 0 <= {ENV_TEXT_CHUNK_OVERLAP} < {ENV_TEXT_CHUNK_TOKENS}")
        if any(n <= 0 for n in self.model_batch_items.values()):
            raise ValueError(f"{ENV_MODEL_BATCH_ITEMS} values must be positive")


def _roles_object(raw: str, name: str) -> dict:
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object {{role: value}}")
    unknown = set(value) - set(MODEL_ROLES)
    if unknown:
        raise ValueError(f"{name} names unknown roles {sorted(unknown)}")
    return value


def _endpoints(raw: str) -> dict[str, str]:
    # An empty string means "not deployed", the same as leaving the role out.
    endpoints = {role: str(name) for role, name in _roles_object(raw, ENV_MODEL_ENDPOINTS).items() if name}
    bad = {role: name for role, name in endpoints.items() if not _ENDPOINT_NAME.match(name)}
    if bad:
        raise ValueError(f"{ENV_MODEL_ENDPOINTS} must name SageMaker endpoints, not {bad}")
    return endpoints


def _batch_items(raw: str) -> dict[str, int]:
    return {role: int(n) for role, n in _roles_object(raw, ENV_MODEL_BATCH_ITEMS).items()}
