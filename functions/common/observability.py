"""The Powertools utilities every handler shares: one service name, one metrics namespace.

Each Lambda runs one handler, so one Logger, Tracer and Metrics per container is what a module
per handler would make anyway; sharing them keeps the names in one place."""
from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from functions.common.constants import METRIC_DIMENSION_MODALITY, METRICS_NAMESPACE, POWERTOOLS_SERVICE

logger = Logger(service=POWERTOOLS_SERVICE)
tracer = Tracer(service=POWERTOOLS_SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=POWERTOOLS_SERVICE)


def count_file(metric: str, modality: str) -> None:
    """One file of `modality` counted in `metric` (published when the handler returns)."""
    metrics.add_dimension(name=METRIC_DIMENSION_MODALITY, value=modality)
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
