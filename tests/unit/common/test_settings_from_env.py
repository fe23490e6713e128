"""Settings read from the environment (functions/common/settings.py, DbConfig, SearchSettings):
a missing or unusable variable fails with its name; what the local run sets still works."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.common import constants as c
from functions.common.db import DbConfig
from functions.common.settings import ConfigurationError, Settings
from functions.search.settings import SearchConfigError, SearchSettings

REPO_ROOT = Path(__file__).resolve().parents[3]

# What local/results.py start_postgres and local/run.py put in the environment of the local run.
LOCAL_DB_ENV = {
    c.ENV_DB_HOST: "/tmp/pg/socket", c.ENV_DB_PORT: "5432", c.ENV_DB_NAME: c.DB_NAME,
    c.ENV_DB_USER: "postgres", c.ENV_DB_PASSWORD: "", c.ENV_DB_AUTH: "password",
}
LOCAL_RUN_ENV = {
    c.ENV_PIPELINE_VERSION: "local-1", c.ENV_STAGING_BUCKET: "local-staging", c.ENV_FAILED_BUCKET: "local-failed",
    c.ENV_MODEL_ENDPOINTS: json.dumps({"text_embedding": "local-text-embedding", "ocr": "local-ocr"}),
    c.ENV_MODEL_BATCH_ITEMS: json.dumps({"text_embedding": 32, "ocr": 8}),
    c.ENV_SAGEMAKER_RUNTIME_ENDPOINT_URL: "http://127.0.0.1:9999",
    c.ENV_KAFKA_BOOTSTRAP: "127.0.0.1:9092", c.ENV_KAFKA_TOPIC: "object-events", c.ENV_KAFKA_AUTH: "none",
    c.ENV_VIDEO_CHUNK_SECONDS: "4", c.ENV_MAX_OBJECT_BYTES: str(512 * 1024 * 1024),
    **LOCAL_DB_ENV,
}


def test_the_local_run_environment_gives_its_settings():
    settings = Settings.from_env(LOCAL_RUN_ENV)
    config = DbConfig.from_env(LOCAL_RUN_ENV)

    assert settings.staging_bucket == "local-staging" and settings.video_chunk_seconds == 4.0
    assert settings.model_endpoints == {"text_embedding": "local-text-embedding", "ocr": "local-ocr"}
    assert (config.host, config.port, config.name, config.user, config.auth) == (
        "/tmp/pg/socket", 5432, c.DB_NAME, "postgres", "password")


def test_unset_variables_take_the_values_the_cdk_app_deploys():
    deployed = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["pipeline"]

    settings = Settings.from_env({})

    assert settings.text_chunk_tokens == deployed["text_chunk_tokens"]
    assert settings.text_chunk_overlap == deployed["text_chunk_overlap"]
    assert settings.video_chunking == deployed["video_chunking"]


def test_a_missing_required_variable_is_named():
    with pytest.raises(ConfigurationError, match="^DbConfig: DB_AUTH is required but not set$"):
        DbConfig.from_env({c.ENV_DB_HOST: "proxy", c.ENV_DB_USER: "app"})


def test_every_missing_variable_is_named_at_once():
    with pytest.raises(ValueError) as raised:  # ConfigurationError is a ValueError, as before
        DbConfig.from_env({})

    assert str(raised.value) == ("DbConfig: DB_HOST is required but not set; DB_USER is required but not set; "
                                 "DB_AUTH is required but not set")


def test_an_unusable_value_is_named_with_what_it_was():
    with pytest.raises(ConfigurationError, match=r"^Settings: MAX_CHUNKS is invalid \('many'\): Input should be a valid integer"):
        Settings.from_env({c.ENV_MAX_CHUNKS: "many"})


def test_a_rule_between_variables_names_both():
    with pytest.raises(ConfigurationError, match=f"{c.ENV_DB_AUTH}=secret needs {c.ENV_DB_SECRET_ARN}"):
        DbConfig.from_env({**LOCAL_DB_ENV, c.ENV_DB_AUTH: "secret"})


def test_the_database_password_is_never_shown():
    env = {**LOCAL_DB_ENV, c.ENV_DB_PASSWORD: "s3cret-pw", c.ENV_DB_PORT: "not-a-port"}

    with pytest.raises(ConfigurationError, match=c.ENV_DB_PORT) as raised:
        DbConfig.from_env(env)

    assert "s3cret-pw" not in str(raised.value)
    assert "s3cret-pw" not in repr(DbConfig.from_env({**env, c.ENV_DB_PORT: "5432"}))


def test_the_staging_bucket_is_required_where_it_is_used():
    settings = Settings.from_env({})  # the search function has none

    with pytest.raises(ConfigurationError, match=f"{c.ENV_STAGING_BUCKET} is required but not set"):
        settings.staging_bucket  # noqa: B018 - reading the setting is what raises


def test_an_empty_variable_counts_as_unset():
    settings = Settings.from_env({c.ENV_MODEL_ENDPOINTS: "", c.ENV_MAX_CHUNKS: "", c.ENV_VIDEO_CHUNKING: ""})

    assert settings == Settings.from_env({})


def test_a_given_mapping_is_the_whole_environment(monkeypatch):
    monkeypatch.setenv(c.ENV_VIDEO_CHUNKING, c.VIDEO_CHUNKING_FIXED)

    assert Settings.from_env({}).video_chunking == c.VIDEO_CHUNKING_SCENES
    assert Settings.from_env().video_chunking == c.VIDEO_CHUNKING_FIXED


def test_search_settings_fail_with_their_own_error_naming_the_variable():
    with pytest.raises(SearchConfigError, match=f"^SearchSettings: {c.ENV_SEARCH_BUCKETS} is required but not set$"):
        SearchSettings.from_env({c.ENV_SEARCH_ACCESS: "{}"})
    assert issubclass(SearchConfigError, ConfigurationError)
