"""Fixtures for the model tests: tiny random-weight checkpoints, offline hub.

The checkpoints are built once per session with model_artifacts.random_models (no network)
and loaded through each model's real ``model_fn``.
"""
from __future__ import annotations

import pytest

from model_artifacts import random_models


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may reach the Hugging Face hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv("HF_MODEL_ID", raising=False)


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    """{role: folder} of tiny checkpoints, built lazily on first use."""
    cache: dict[str, str] = {}

    def build(role: str) -> str:
        if role not in cache:
            cache[role] = str(random_models.BUILDERS[role](tmp_path_factory.mktemp(role), size="tiny"))
        return cache[role]

    return build
