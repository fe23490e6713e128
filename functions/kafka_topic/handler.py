"""CloudFormation custom resource (through the CDK Provider framework): create the topic.

MSK Serverless has no CloudFormation resource for topics, so the stack creates it through
the Kafka admin API. Create and Update make sure the topic exists with at least the
configured partitions (partitions can only grow); Delete leaves the topic (and its data).
"""
from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import TopicAlreadyExistsError

from functions.common.constants import ENV_KAFKA_BOOTSTRAP
from functions.common.events import TopicResourceEvent
from functions.streaming.kafka_config import client_config

logger = Logger()


def ensure_topic(admin: KafkaAdminClient, topic: str, partitions: int) -> str:
    """Create `topic` or grow it to `partitions`; return what was done."""
    try:
        admin.create_topics([NewTopic(name=topic, num_partitions=partitions, replication_factor=-1)])
        return "created"
    except TopicAlreadyExistsError:
        current = len(admin.describe_topics([topic])[0]["partitions"])
        if current < partitions:
            admin.create_partitions({topic: NewPartitions(total_count=partitions)})
            return f"grown from {current}"
        return "exists"


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    request = parse(event=event, model=TopicResourceEvent)  # before any connection is opened
    if request.RequestType == "Delete":
        return {"PhysicalResourceId": request.PhysicalResourceId or ""}
    props = request.ResourceProperties
    if props is None:  # the model's validator requires it unless Delete
        raise ValueError(f"{request.RequestType} needs ResourceProperties")
    topic, partitions = props.Topic, props.Partitions
    admin = KafkaAdminClient(**client_config(os.environ[ENV_KAFKA_BOOTSTRAP]))
    try:
        outcome = ensure_topic(admin, topic, partitions)
    finally:
        admin.close()
    logger.info("topic ensured", extra={"topic": topic, "partitions": partitions, "outcome": outcome})
    return {"PhysicalResourceId": topic, "Data": {"Topic": topic}}
