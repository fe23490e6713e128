"""The cost model of bench/cost.py: arithmetic on hand-made figures, no network."""
from __future__ import annotations

import pytest

from bench import cost
from functions.common import constants as c

PRICES = {**cost.PRICES, "sagemaker_per_hour": {"gpu": 3.6, "cpu": 0.36}}
MEMORY = {c.STEP_EXTRACT: 2048, c.STEP_STORE: 1024, c.FN_FORWARDER: 512, c.FN_DISPATCHER: 512}


def _figures(**kw) -> cost.FileFigures:
    base = dict(transitions=4.0, lambda_invocations={c.STEP_EXTRACT: 1.0, c.STEP_STORE: 1.0},
                lambda_seconds={c.STEP_EXTRACT: 2.0, c.STEP_STORE: 1.0, c.FN_FORWARDER: 0.5, c.FN_DISPATCHER: 1.0},
                endpoint_items={c.MODEL_TEXT_EMBEDDING: 10.0}, dispatcher_per_file=0.01)
    return cost.FileFigures(**{**base, **kw})


def test_state_transitions_are_priced_per_thousand():
    given = _figures(transitions=8.0)
    when = cost.file_cost(given, "design", MEMORY, {c.MODEL_TEXT_EMBEDDING: "cpu"}, PRICES)
    assert when["step_functions"] == pytest.approx(8 * 0.025 / 1000)


def test_lambda_cost_is_gb_seconds_plus_requests_including_forwarder_and_dispatcher_share():
    when = cost.file_cost(_figures(), "design", MEMORY, {c.MODEL_TEXT_EMBEDDING: "cpu"}, PRICES)
    gb_s = 2.0 * 2 + 1.0 * 1 + 0.5 * 0.5 + 0.01 * 1.0 * 0.5
    requests = 1 + 1 + 1 + 0.01
    assert when["lambda"] == pytest.approx(gb_s * PRICES["lambda_per_gb_s"] + requests * PRICES["lambda_per_request"])


def test_sagemaker_hours_follow_items_over_throughput_at_target_utilisation():
    when = cost.endpoint_hours(_figures(endpoint_items={c.MODEL_TEXT_EMBEDDING: 3600.0}), "naive")
    expected = 3600 / (cost.THROUGHPUT["naive"][c.MODEL_TEXT_EMBEDDING] * cost.TARGET_UTILISATION) / 3600
    assert when[c.MODEL_TEXT_EMBEDDING] == pytest.approx(expected)


def test_batched_throughput_makes_the_same_items_cheaper_than_naive():
    figures = _figures(endpoint_items={c.MODEL_TEXT_EMBEDDING: 100.0, c.MODEL_IMAGE_EMBEDDING: 1.0})
    instances = {c.MODEL_TEXT_EMBEDDING: "cpu", c.MODEL_IMAGE_EMBEDDING: "gpu"}
    design = cost.file_cost(figures, "design", MEMORY, instances, PRICES)["sagemaker"]
    naive = cost.file_cost(figures, "naive", MEMORY, instances, PRICES)["sagemaker"]
    assert design < naive


def test_month_charges_at_least_the_minimum_instance_of_every_endpoint():
    per_file = {"text": {k: 0.0 for k in ("step_functions", "lambda", "msk", "aurora")}}
    hours = {"text": {c.MODEL_TEXT_EMBEDDING: 0.0}}
    baseline = cost.Baseline(endpoint_instances={c.MODEL_TEXT_EMBEDDING: "cpu", c.MODEL_OCR: "gpu"})
    when = cost.monthly_total(per_file, hours, 1000, {"text": 1.0}, baseline, PRICES)
    assert when["sagemaker"] == pytest.approx(cost.HOURS_PER_MONTH * (0.36 + 3.6))
    assert when["total"] == pytest.approx(sum(v for k, v in when.items() if k != "total"))


def test_month_charges_usage_when_it_exceeds_the_minimum_instance():
    per_file = {"text": {k: 0.0 for k in ("step_functions", "lambda", "msk", "aurora")}}
    hours = {"text": {c.MODEL_TEXT_EMBEDDING: 0.01}}  # 10,000 instance-hours for a million files
    baseline = cost.Baseline(endpoint_instances={c.MODEL_TEXT_EMBEDDING: "cpu"})
    when = cost.monthly_total(per_file, hours, 1_000_000, {"text": 1.0}, baseline, PRICES)
    assert when["sagemaker"] == pytest.approx(10_000 * 0.36)
