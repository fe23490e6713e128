"""Runtime settings of the functions, read once per container from the environment.

Typed with pydantic-settings: each field is read from the variable its `validation_alias`
names (functions/common/constants.py) and validated when the settings are made, which every
handler does when its container starts, so that a misconfigured function fails its first
invocation with a ConfigurationError naming the variable instead of somewhere deep in a step.
Defaults are for what the CDK app always sets (from cdk.json) and the local run and the tests
may leave out; a variable with no sensible default has none.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Optional, Self

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from functions.common.constants import (
    ENV_MAX_CHUNKS,
    ENV_MAX_OBJECT_BYTES,
    ENV_MAX_TEXT_BYTES,
    ENV_MODEL_BATCH_ITEMS,
    ENV_MODEL_CAPACITY_WAIT_SECONDS,
    ENV_MODEL_COMPONENTS,
    ENV_MODEL_ENDPOINTS,
    ENV_PIPELINE_VERSION,
    ENV_SEGMENT_PAGES,
    ENV_SEGMENT_SECONDS,
    ENV_STAGING_BUCKET,
    ENV_TEXT_CHUNK_OVERLAP,
    ENV_TEXT_CHUNK_TOKENS,
    ENV_VIDEO_CHUNK_SECONDS,
    ENV_VIDEO_CHUNKING,
    MODEL_ROLES,
    TEXT_CHUNK_MAX_TOKENS,
    VIDEO_CHUNKING_SCENES,
    VideoChunking,
)

DEFAULT_MAX_OBJECT_BYTES = 2 * 1024**3  # 2 GiB: fits Lambda's 10 GiB ephemeral /tmp with room
DEFAULT_VIDEO_CHUNK_SECONDS = 10.0
# A text file is decoded whole (about four bytes of memory per byte of text at the peak, well
# within extract's 3,008 MB); its chunks are written to staging in pages as they are cut.
DEFAULT_MAX_TEXT_BYTES = 128 * 1024**2
# Some 150,000 chunks come from 100 MB of log lines; embed and store take them page by page
# (functions/processing/staging/chunks.py) within their 15-minute Lambda timeouts.
DEFAULT_MAX_CHUNKS = 300_000
# Long media and PDFs are extracted in segments, each an invocation of its own with Lambda's
# 15 minutes: 10 minutes of media (decoding, keyframes, speech for 10 minutes) or 100 pages
# (text, tables, OCR of scanned pages) take a few minutes at most.
DEFAULT_SEGMENT_SECONDS = 600.0
DEFAULT_SEGMENT_PAGES = 100
# Tokens of the text_embedding model's own tokenizer (functions/processing/formats/text.py), as in cdk.json.
DEFAULT_TEXT_CHUNK_TOKENS = TEXT_CHUNK_MAX_TOKENS
DEFAULT_TEXT_CHUNK_OVERLAP = 32
# SageMaker endpoint names: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_SHOWN_CHARS = 120


class ConfigurationError(ValueError):
    """A variable of the function's environment is missing or unusable.

    The message is `<Settings class>: <problem>; <problem>...`, one problem per variable:
    `NAME is required but not set`, `NAME is invalid ('value'): why`, or, for a rule between
    variables, a sentence that names them.
    """


class EnvironmentSettings(BaseSettings):
    """Base of the functions' settings: one field per environment variable (its validation_alias).

    `from_env(env)` hands the variables of `env` (os.environ when None) to the model; they are
    the whole environment, never merged with the process's, so `from_env({})` is the defaults
    whatever the process holds. An empty variable counts as not set. Raises `config_error` (a
    ConfigurationError) listing every missing or unusable variable by name.
    """

    model_config = SettingsConfigDict(frozen=True, validate_by_name=True, validate_by_alias=True)
    config_error: ClassVar[type[ConfigurationError]] = ConfigurationError

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # from_env passes the variables in as init values: a mapping given to it must not be
        # completed from os.environ, and a function reads no .env file or secrets directory.
        return (init_settings,)

    @classmethod
    def variables(cls) -> tuple[str, ...]:
        """The names of the environment variables these settings read."""
        return tuple(f.validation_alias for f in cls.model_fields.values() if isinstance(f.validation_alias, str))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        values: dict[str, Any] = {name: env[name] for name in cls.variables() if env.get(name)}
        try:
            return cls(**values)
        except ValidationError as exc:
            raise cls.config_error(describe(cls, exc)) from None


def describe(settings_cls: type[BaseSettings], exc: ValidationError) -> str:
    """The ConfigurationError message for `exc`: one problem per variable, by its name."""
    hidden = {f.validation_alias for f in settings_cls.model_fields.values() if not f.repr}
    problems = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        name = ".".join(str(part) for part in loc)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            problems.append(f"{name} is required but not set")
        elif not loc:
            problems.append(message)
        else:
            shown = "(hidden)" if loc[0] in hidden else _shown(error.get("input"))
            problems.append(f"{name} is invalid ({shown}): {message}")
    return f"{settings_cls.__name__}: " + "; ".join(problems)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def parse_json(raw: Any) -> Any:
    """`raw` decoded as JSON when it is a string (a variable); raises ValueError saying why not."""
    if not isinstance(raw, str):
        return raw  # constructed in code, not read from the environment
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"is not JSON: {exc}") from None


class Settings(EnvironmentSettings):
    """What the steps need to know about their environment.

    `from_env(env=None)` raises ConfigurationError (a ValueError) naming the variable when one is
    set to something unusable. STAGING_BUCKET is needed by the pipeline steps only (the search
    function shares these settings): reading `staging_bucket` raises when it is not set.
    """

    pipeline_version: str = Field("", validation_alias=ENV_PIPELINE_VERSION)
    staging_bucket_name: Optional[str] = Field(None, validation_alias=ENV_STAGING_BUCKET)
    # {role: endpoint name}; a role left out, or with "", is not deployed ("model not available").
    model_endpoints: dict[str, str] = Field(default_factory=dict, validation_alias=ENV_MODEL_ENDPOINTS)
    # Roles whose endpoint hosts an inference component (it scales to zero): every request names it.
    model_components: dict[str, str] = Field(default_factory=dict, validation_alias=ENV_MODEL_COMPONENTS)
    # How long one call polls a model scaled to zero before the state machine's Retrier takes over.
    model_capacity_wait_seconds: float = Field(60.0, ge=0, le=600, allow_inf_nan=False,
                                               validation_alias=ENV_MODEL_CAPACITY_WAIT_SECONDS)
    max_object_bytes: int = Field(DEFAULT_MAX_OBJECT_BYTES, gt=0, validation_alias=ENV_MAX_OBJECT_BYTES)
    video_chunk_seconds: float = Field(DEFAULT_VIDEO_CHUNK_SECONDS, gt=0, allow_inf_nan=False,
                                       validation_alias=ENV_VIDEO_CHUNK_SECONDS)
    video_chunking: VideoChunking = Field(VIDEO_CHUNKING_SCENES, validation_alias=ENV_VIDEO_CHUNKING)
    max_text_bytes: int = Field(DEFAULT_MAX_TEXT_BYTES, gt=0, validation_alias=ENV_MAX_TEXT_BYTES)
    max_chunks: int = Field(DEFAULT_MAX_CHUNKS, gt=0, validation_alias=ENV_MAX_CHUNKS)
    segment_seconds: float = Field(DEFAULT_SEGMENT_SECONDS, allow_inf_nan=False, validation_alias=ENV_SEGMENT_SECONDS)
    segment_pages: int = Field(DEFAULT_SEGMENT_PAGES, gt=0, validation_alias=ENV_SEGMENT_PAGES)
    text_chunk_tokens: int = Field(DEFAULT_TEXT_CHUNK_TOKENS, validation_alias=ENV_TEXT_CHUNK_TOKENS)
    text_chunk_overlap: int = Field(DEFAULT_TEXT_CHUNK_OVERLAP, ge=0, validation_alias=ENV_TEXT_CHUNK_OVERLAP)
    # {role: items per request} (the catalog's client_batch_items)
    model_batch_items: dict[str, int] = Field(default_factory=dict, validation_alias=ENV_MODEL_BATCH_ITEMS)

    @property
    def staging_bucket(self) -> str:
        """The staging bucket's name. Raises ConfigurationError when STAGING_BUCKET is not set."""
        if not self.staging_bucket_name:
            raise ConfigurationError(f"{type(self).__name__}: {ENV_STAGING_BUCKET} is required but not set")
        return self.staging_bucket_name

    @field_validator("model_endpoints", "model_components", mode="before")
    @classmethod
    def _names_by_role(cls, raw: Any, info: ValidationInfo) -> dict[str, str]:
        # An empty string means "not deployed", the same as leaving the role out.
        names = {role: str(name) for role, name in _roles_object(raw).items() if name}
        bad = {role: name for role, name in names.items() if not _ENDPOINT_NAME.match(name)}
        if bad:
            what = "SageMaker endpoints" if info.field_name == "model_endpoints" else "inference components"
            raise ValueError(f"must name {what}, not {bad}")
        return names

    @field_validator("model_batch_items", mode="before")
    @classmethod
    def _batch_items(cls, raw: Any) -> dict[str, Any]:
        return _roles_object(raw)

    @field_validator("model_batch_items")
    @classmethod
    def _positive_batch_items(cls, value: dict[str, int]) -> dict[str, int]:
        if any(n <= 0 for n in value.values()):
            raise ValueError("values must be positive")
        return value

    @field_validator("text_chunk_tokens")
    @classmethod
    def _chunk_fits_the_model(cls, value: int) -> int:
        if not 0 < value <= TEXT_CHUNK_MAX_TOKENS:
            raise ValueError(f"must be 1..{TEXT_CHUNK_MAX_TOKENS} (the embedding model's limit)")
        return value

    @model_validator(mode="after")
    def _between_variables(self) -> Settings:
        if self.segment_seconds < self.video_chunk_seconds:
            raise ValueError(f"{ENV_SEGMENT_SECONDS} must be at least {ENV_VIDEO_CHUNK_SECONDS}")
        if not self.text_chunk_overlap < self.text_chunk_tokens:
            raise ValueError(f"need 0 <= {ENV_TEXT_CHUNK_OVERLAP} < {ENV_TEXT_CHUNK_TOKENS}")
        return self


def _roles_object(raw: Any) -> dict[str, Any]:
    value = parse_json(raw) if not (isinstance(raw, str) and not raw.strip()) else {}
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object {role: value}")
    unknown = set(value) - set(MODEL_ROLES)
    if unknown:
        raise ValueError(f"names unknown roles {sorted(unknown)}")
    return value
