"""The local model server's workers: N loaded copies, N predictions at once, no copy shared.

Real HTTP against ModelServer with a tiny inference module (no model weights needed), so what is
asserted is the server's scheduling, as a SageMaker container with N model workers behaves.
"""
from __future__ import annotations

import json
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from model_artifacts import local_server
from model_artifacts.local_server import LocalModel, ModelServer


def _recording_inference(hold_s: float) -> tuple[types.ModuleType, dict]:
    seen = {"loads": 0, "active": 0, "max_active": 0, "overlap": False}
    lock = threading.Lock()
    module = types.ModuleType("fake_inference")

    def model_fn(model_dir):
        with lock:
            seen["loads"] += 1
            return {"copy": seen["loads"], "busy": threading.Lock()}

    def predict_fn(data, model):
        if not model["busy"].acquire(blocking=False):
            seen["overlap"] = True  # two threads inside one copy
            model["busy"].acquire()
        with lock:
            seen["active"] += 1
            seen["max_active"] = max(seen["max_active"], seen["active"])
        time.sleep(hold_s)
        with lock:
            seen["active"] -= 1
        model["busy"].release()
        return {"copy": model["copy"], "n": len(data["inputs"])}

    module.model_fn = model_fn
    module.input_fn = lambda body, content_type: json.loads(body)
    module.predict_fn = predict_fn
    module.output_fn = lambda prediction, accept: (json.dumps(prediction), "application/json")
    return module, seen


@pytest.mark.parametrize("workers", [1, 2])
def test_at_most_workers_predictions_run_at_once_and_no_copy_is_shared(monkeypatch, workers):
    module, seen = _recording_inference(hold_s=0.3)
    monkeypatch.setattr(local_server, "load_inference", lambda folder: module)
    server = ModelServer(LocalModel("ocr", "fake", None), workers=workers).start()
    try:
        def call(i):
            return requests.post(f"{server.url}/invocations", data=json.dumps({"inputs": [i]}),
                                 headers={"Content-Type": "application/json"}, timeout=30).json()

        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(call, range(4)))
    finally:
        server.stop()
    assert seen["loads"] == workers  # model_fn once per worker, as each toolkit worker loads its own
    assert seen["max_active"] == workers
    assert not seen["overlap"]
    assert {a["copy"] for a in answers} == set(range(1, workers + 1))
    assert all(a["n"] == 1 for a in answers)


def test_default_workers_follow_the_sagemaker_variable_else_the_cpu_count(monkeypatch):
    monkeypatch.setenv(local_server.ENV_WORKERS, "3")
    assert local_server.default_workers() == 3
    monkeypatch.delenv(local_server.ENV_WORKERS)
    monkeypatch.setattr(local_server.os, "cpu_count", lambda: 4)
    assert local_server.default_workers() == 4
