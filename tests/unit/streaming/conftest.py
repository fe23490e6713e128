"""Unit tests of the streaming modules run with network sockets off."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    real_connect = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise RuntimeError(f"unit tests must not open network connections (tried {address!r})")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture
def load_event():
    """A fresh copy of a JSON sample from tests/events/ (tests may mutate it)."""

    def _load(name: str) -> dict:
        return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))

    return _load
