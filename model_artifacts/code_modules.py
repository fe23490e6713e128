"""Import a model's ``code/inference.py`` from the repository, for unit tests and bench/models.py.

Only the handler functions themselves are exercised this way; every request-level test goes
through the Hugging Face toolkit and multi-model-server (local/model_servers.py).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent


def load_inference(folder: str) -> ModuleType:
    """Import ``model_artifacts/<folder>/code/inference.py`` under a unique module name."""
    path = ROOT / folder / "code" / "inference.py"
    name = f"_mm_inference_{folder}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module
