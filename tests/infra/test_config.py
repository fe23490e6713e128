"""The cdk.json configuration is validated into a typed object with clear errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdk_app.config import ConfigError, load_config

RAW = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]["pipeline"]


def test_the_committed_config_is_valid():
    config = load_config(RAW)
    assert config.prefix == "mmpipe-dev"
    assert set(config.modalities) == {"image", "video", "audio", "text", "document"}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"modalities": ["image", "hologram"]}, "modalities"),
        ({"log_retention_days": 42}, "log_retention_days"),
        ({"text_chunk_overlap": 999}, "text_chunk_overlap"),
        ({"text_chunk_tokens": 256}, "text_chunk_tokens"),  # MiniLM's 256 include [CLS]/[SEP]
        ({"map_max_concurrency": {"smell": 3}}, "map_max_concurrency"),
        ({"models": {"image_embedding": {"min_instances": 3, "max_instances": 1}}}, "max_instances"),
        ({"models": {"telepathy": {}}}, "unknown roles"),
        ({"environment": "Prod!"}, "environment"),
    ],
)
def test_a_bad_value_names_the_field(change, message):
    with pytest.raises(ConfigError, match=message):
        load_config({**RAW, **change})


def test_json_string_context_from_the_command_line_is_accepted():
    assert load_config(json.dumps(RAW)).environment == "dev"


def test_missing_context_is_a_clear_error():
    with pytest.raises(ConfigError, match="no context key"):
        load_config(None)
