"""Every function's code and layers stay under Lambda's unzipped size limit with a margin; synth
refuses a function that does not (cdk_app/house/bundling.py: check_package_size)."""
from __future__ import annotations

import pytest

from cdk_app.house import bundling
from cdk_app.house.python_function import PipelineFunction


def _functions(stack) -> list[PipelineFunction]:
    return [c for c in stack.node.find_all() if isinstance(c, PipelineFunction)]


def test_every_function_fits_the_unzipped_limit_with_the_margin(stack):
    functions = _functions(stack)
    assert len(functions) >= 8
    ceiling = bundling.LAMBDA_UNZIPPED_LIMIT_BYTES - bundling.LAMBDA_SIZE_MARGIN_BYTES
    sizes = {f.node.path: f.unzipped_bytes for f in functions}
    print({path: f"{size / 1e6:.1f} MB" for path, size in sizes.items()})
    assert all(0 < size <= ceiling for size in sizes.values()), sizes


def test_the_extract_function_counts_both_layers(stack):
    extract = next(f for f in _functions(stack) if f.node.path.endswith("/Extract"))
    media = next(size for path, size in bundling.LAYER_BYTES.items() if path.endswith("/Media"))
    core = next(size for path, size in bundling.LAYER_BYTES.items() if path.endswith("/Core"))
    assert extract.unzipped_bytes == bundling.function_code_bytes() + media + core


def test_synth_refuses_a_function_too_close_to_the_limit():
    code = bundling.function_code_bytes()
    with pytest.raises(bundling.PackageTooLarge, match=r"extract: .* MB unzipped \(code .*, media 200\.0 MB\)"):
        bundling.check_package_size("extract", {"media": 200_000_000}, limit=code + 210_000_000, margin=15_000_000)
    assert bundling.check_package_size("extract", {"media": 1}, limit=code + 100, margin=10) == code + 1
