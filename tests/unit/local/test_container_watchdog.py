"""local/sagemaker_container/serve.py finds its own multi-model-server frontend when several
containers share the machine (the toolkit's lookup refused: "multiple mms model servers", and the
entry point, with its exit-with-parent watchdog, ended after SAGEMAKER_STARTUP_TIMEOUT)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SERVE = Path(__file__).resolve().parents[3] / "local" / "sagemaker_container" / "serve.py"


def _serve_module():
    spec = importlib.util.spec_from_file_location("container_serve", SERVE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_frontend(own_group: bool) -> subprocess.Popen:
    """A process whose command line names the MMS frontend class, as the Java frontend's does."""
    from sagemaker_inference.model_server import MMS_NAMESPACE

    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", MMS_NAMESPACE],
                            start_new_session=not own_group)


def test_the_frontend_of_this_container_is_found_beside_another_containers():
    serve = _serve_module()
    other, own = _fake_frontend(own_group=False), _fake_frontend(own_group=True)
    try:
        # Given two frontends on the machine, one in another container's process group
        # When this container looks for its own, it finds the one of its process group
        assert serve._own_mms_server_process().pid == own.pid
    finally:
        for p in (other, own):
            p.kill()
            p.wait()


def test_no_frontend_in_this_container_is_an_error_the_toolkit_retries():
    serve = _serve_module()
    other = _fake_frontend(own_group=False)
    try:
        with pytest.raises(Exception, match="0 mms model servers"):
            serve._own_mms_server_process()
    finally:
        other.kill()
        other.wait()
