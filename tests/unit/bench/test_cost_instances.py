"""bench/cost.py chooses each role's instance by cost per item from bench/models.py's figures file."""
from __future__ import annotations

import pytest

from bench import cost
from functions.common import constants as c


def _doc(cpu_text: float = 100.0, gpu_text_model: float = 40_000.0, gpu_measured: bool = False) -> dict:
    return {
        "sources": {"cpu": {"cpus": 2, "measured": True, "device": "2-core CPU", "date": "d"},
                    "gpu": {"accelerator": "H200", "measured": gpu_measured, "device": "H200", "date": "d"}},
        "figures": {"cpu": {c.MODEL_TEXT_EMBEDDING: {"chain_items_per_s": cpu_text, "batch_1_items_per_s": 10.0}},
                    "gpu": {c.MODEL_TEXT_EMBEDDING: {"chain_items_per_s": 2_000.0, "model_items_per_s": gpu_text_model}}},
    }


def test_measured_basis_uses_only_measured_figures_and_scales_cpu_by_vcpus():
    choices = cost.candidates(_doc(), "cpu", "gpu", basis="measured")
    assert {ch.instance for ch in choices} == {i for i, spec in cost.INSTANCES.items() if spec.gpu is None}
    xlarge = next(ch for ch in choices if ch.instance == "ml.c6i.xlarge")
    assert xlarge.items_per_s == pytest.approx(100.0 * 4 / 2) and xlarge.measured


def test_projected_gpu_figures_are_labelled_projections_scaled_from_the_h200():
    choices = cost.candidates(_doc(), "cpu", "gpu", basis="projected")
    g5 = next(ch for ch in choices if ch.instance == "ml.g5.xlarge")
    assert not g5.measured and g5.how.startswith("PROJECTION")
    assert g5.items_per_s == pytest.approx(40_000.0 * cost.GPU_VS_H200["A10G"])


def test_the_cheapest_instance_per_item_wins():
    slow_gpu = cost.choose_instances(_doc(gpu_text_model=100.0), "projected", "cpu", "gpu")[c.MODEL_TEXT_EMBEDDING]
    fast_gpu = cost.choose_instances(_doc(gpu_text_model=1e6), "projected", "cpu", "gpu")[c.MODEL_TEXT_EMBEDDING]
    assert cost.INSTANCES[slow_gpu.instance].gpu is None
    assert cost.INSTANCES[fast_gpu.instance].gpu == "A10G"
    price = cost.SAGEMAKER_INSTANCE_HOUR[fast_gpu.instance].usd
    assert fast_gpu.usd_per_million_items == pytest.approx(price / (fast_gpu.items_per_s * cost.TARGET_UTILISATION * 3600) * 1e6)


def test_the_committed_figures_file_feeds_the_design_and_naive_throughputs():
    doc = cost.load_model_figures()
    modes = cost.throughput_modes(doc, cost.DESIGN_SOURCE)
    assert modes["design"][c.MODEL_TEXT_EMBEDDING] == doc["figures"][cost.DESIGN_SOURCE][c.MODEL_TEXT_EMBEDDING]["chain_items_per_s"]
    assert modes["design"][c.MODEL_OCR] == pytest.approx(cost.OCR_VS_CAPTION * modes["design"][c.MODEL_GENERATION])
    # The H200 figures are in the file as quoted, never as a measurement of ours.
    assert doc["sources"][cost.GPU_SOURCE]["measured"] is False


def test_a_cheaper_chosen_instance_lowers_the_sagemaker_share_per_file():
    figures = cost.FileFigures(transitions=4.0, lambda_invocations={}, lambda_seconds={},
                               endpoint_items={c.MODEL_TEXT_EMBEDDING: 10.0})
    sizing = {c.FN_FORWARDER: (512, "x86_64"), c.FN_DISPATCHER: (512, "x86_64")}
    key = "SageMaker instance-hours while busy"
    template_way = cost.file_cost(figures, "design", sizing, {c.MODEL_TEXT_EMBEDDING: "ml.g5.xlarge"})[key]
    chosen = cost.file_cost(figures, "design", sizing, {c.MODEL_TEXT_EMBEDDING: "ml.c6i.large"}, 0.0,
                            {c.MODEL_TEXT_EMBEDDING: cost.THROUGHPUT["design"][c.MODEL_TEXT_EMBEDDING]})[key]
    assert 0 < chosen < template_way
