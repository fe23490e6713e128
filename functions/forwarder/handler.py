"""forwarder Lambda: S3 event notification -> one Kafka message per created object version.

Env: KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC, KAFKA_AUTH ("iam" on MSK, "none" locally),
AWS_REGION (set by Lambda; signs the MSK IAM token), KAFKA_API_VERSION (local run only).
Layers: core only. Invoked asynchronously by S3: an exception means Lambda retries the
event and then sends it to the function's on-failure destination.
"""
from __future__ import annotations

import os
from collections import Counter
from typing import Any, Optional

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from functions.common.constants import (
    ENV_KAFKA_TOPIC,
    METRIC_DIMENSION_MODALITY,
    METRIC_FILES_IN,
    METRICS_NAMESPACE,
    POWERTOOLS_SERVICE,
)
from functions.common.lazy import PerContainer, aws_client
from functions.common.observability import logger, tracer
from functions.streaming import s3_events
from functions.streaming.kafka_config import create_producer
from functions.streaming.publish import publish

producer = PerContainer(create_producer)
s3 = PerContainer(lambda: aws_client("s3"))


def _content_type(bucket: str, key: str, version_id: Optional[str]) -> Optional[str]:
    """The uploader's Content-Type; None when the object is gone or unreadable (extract decides)."""
    kwargs = {"Bucket": bucket, "Key": key}
    if version_id:
        kwargs["VersionId"] = version_id
    try:
        return s3.get().head_object(**kwargs).get("ContentType")
    except (ClientError, BotoCoreError) as exc:
        logger.warning("no content type", extra={"bucket": bucket, "key": key, "error": str(exc)})
        return None


def _emit_files_in(counts: Counter) -> None:
    for modality, count in sorted(counts.items()):
        with single_metric(
            name=METRIC_FILES_IN,
            unit=MetricUnit.Count,
            value=count,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"service": POWERTOOLS_SERVICE},
        ) as metric:
            metric.add_dimension(name=METRIC_DIMENSION_MODALITY, value=modality)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    refs, skipped = s3_events.object_refs(event, content_type_of=_content_type)
    for item in skipped:
        logger.info("record skipped", extra={"bucket": item.bucket, "key": item.key, "reason": item.reason})
    if refs:
        placed = publish(producer.get(), os.environ[ENV_KAFKA_TOPIC], refs)
        for ref, (partition, offset) in zip(refs, placed):
            logger.info(
                "object forwarded",
                extra={"bucket": ref.bucket, "key": ref.key, "version_id": ref.version_id,
                       "modality": ref.modality, "size": ref.size, "partition": partition, "offset": offset},
            )
        _emit_files_in(Counter(ref.modality for ref in refs))
    return {"forwarded": len(refs), "skipped": len(skipped)}
