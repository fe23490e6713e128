"""The compliance CloudWatch metrics (EMF through Powertools), one set per scanned file: published
by the scan step, and by store for a file that copies a stored result's findings (identical
bytes). The dashboard's flag widgets and the flagged-rate alarm read them (cdk_app/observability.py)."""
from __future__ import annotations

from collections.abc import Iterable

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from functions.common.constants import (
    METRIC_DIMENSION_FLAG,
    METRIC_FILES_SCANNED,
    METRIC_FILES_WITH_FLAGS,
    METRIC_FLAGGED_FILES,
    METRICS_NAMESPACE,
)


def publish_scan(flags: Iterable[str]) -> None:
    """FilesScanned 1, FilesWithFlags 1 when `flags` is not empty, FlaggedFiles 1 per flag.
    Published at once (single_metric): a metric per flag type is one EMF document per flag."""
    flags = sorted(set(flags))
    with single_metric(name=METRIC_FILES_SCANNED, unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE):
        pass
    with single_metric(name=METRIC_FILES_WITH_FLAGS, unit=MetricUnit.Count, value=1 if flags else 0,
                       namespace=METRICS_NAMESPACE):
        pass
    for flag in flags:
        with single_metric(name=METRIC_FLAGGED_FILES, unit=MetricUnit.Count, value=1,
                           namespace=METRICS_NAMESPACE) as metric:
            metric.add_dimension(METRIC_DIMENSION_FLAG, flag)
