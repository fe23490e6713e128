"""What every step needs from its environment: S3, settings, the model client, the database."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from functions.common.constants import METRIC_DIMENSION_ROLE, METRIC_MODEL_CAPACITY_WAIT, METRICS_NAMESPACE
from functions.common.db import Database
from functions.common.events import ObjectRef
from functions.common.lazy import aws_client
from functions.common.model_client import ModelClient
from functions.common.observability import logger
from functions.common.settings import Settings
from functions.taxonomy.ingest import Labeller


@dataclass
class Context:
    s3: Any
    settings: Settings
    models: ModelClient
    db: Database | None = None
    _labeller: Labeller | None = field(default=None, repr=False)

    def labeller(self) -> Labeller:
        """The taxonomy labeller of this container (store), made on first use: the taxonomy is
        read once and its label vectors embedded once per container, not per object."""
        if self._labeller is None:
            self._labeller = Labeller(s3_client=self.s3)
        return self._labeller

    @classmethod
    def from_env(cls, with_db: bool = True) -> Context:
        """Clients for one container; a handler keeps them in a PerContainer
        (functions/common/lazy.py) and reuses them. Raises what Settings.from_env raises."""
        settings = Settings.from_env()
        # Standard-mode retries (aws_client) absorb S3's 5xx/SlowDown before we see them.
        s3 = aws_client("s3")
        models = ModelClient(settings.model_endpoints, components=settings.model_components,
                             batch_items=settings.model_batch_items, s3_client=s3,
                             capacity_wait=settings.model_capacity_wait_seconds, on_capacity_wait=publish_capacity_wait)
        return cls(s3=s3, settings=settings, models=models, db=Database() if with_db else None)


def publish_capacity_wait(role: str, seconds: float) -> None:
    """Each wait for an endpoint scaled to zero, as an EMF metric at once (the dashboard's
    "waiting for model capacity" widget): a wait is what a file's latency is made of after a
    quiet night, and it must show even if the invocation then fails."""
    with single_metric(name=METRIC_MODEL_CAPACITY_WAIT, unit=MetricUnit.Seconds, value=seconds,
                       namespace=METRICS_NAMESPACE) as metric:
        metric.add_dimension(METRIC_DIMENSION_ROLE, role)


def log_object(obj: ObjectRef, **extra: object) -> None:
    """Every log line of this invocation names the object it is about."""
    logger.thread_safe_append_keys(bucket=obj.bucket, key=obj.key, modality=obj.modality, **extra)
