"""local/sagemaker_container/hf_toolkit_compat.py: the one compatibility shim between the
Hugging Face inference toolkit on PyPI and transformers 5, kept only while it is needed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

COMPAT = Path(__file__).resolve().parents[3] / "local" / "sagemaker_container"


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(COMPAT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


def test_the_toolkit_release_still_needs_the_shim():
    """Fails once the toolkit imports beside transformers 5 by itself: then delete the shim."""
    plain = _python("import sagemaker_huggingface_inference_toolkit.handler_service")
    assert plain.returncode != 0 and "is_tf_available" in plain.stderr


def test_the_handler_module_is_the_toolkit_class_unchanged():
    shimmed = _python(
        "import inspect, hf_toolkit_compat as c\n"
        "from sagemaker_huggingface_inference_toolkit import handler_service as t\n"
        "own = [m for m in vars(c.HuggingFaceHandlerService) if not m.startswith('_')]\n"
        "print(issubclass(c.HuggingFaceHandlerService, t.HuggingFaceHandlerService), own)\n"
        # multi-model-server instantiates the one class the handler module defines
        "print([n for n, o in inspect.getmembers(c, inspect.isclass) if o.__module__ == c.__name__])")
    assert shimmed.returncode == 0, shimmed.stderr
    assert shimmed.stdout.splitlines() == ["True []", "['HuggingFaceHandlerService']"]
