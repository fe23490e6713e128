"""Embedded stand-ins for the local run and the integration tests (a library, no CLI).

* `MockKafkaCluster` / `start_kafka` (local.kafka_broker): librdkafka's mock Kafka broker.
* `MotoServer` (local.aws): moto in server mode, Step Functions executing the real ASL.
* `create_pipeline_functions`, `create_state_machine`, `setup_pipeline` (local.aws): the
  pipeline's Lambdas in moto, routed in-process to functions.<step>.handler.
* `KafkaEventSourceMapping` (local.esm): polls the topic and feeds the dispatcher MSK-shaped
  batches with the deployed mapping's error handling (partial batch responses, retry attempts,
  maximum record age, the S3 on-failure destination), committing offsets once a batch is resolved.
"""
from local.aws import (
    LOCAL_REGION,
    MotoServer,
    create_edge_functions,
    create_pipeline_functions,
    create_state_machine,
    local_function_name,
    setup_pipeline,
)
from local.esm import KafkaEventSourceMapping, msk_event
from local.kafka_broker import LOCAL_KAFKA_API_VERSION, MockKafkaCluster, start_kafka
from local.lambda_dispatch import FakeLambdaContext, register, step_handler

__all__ = [
    "LOCAL_KAFKA_API_VERSION",
    "LOCAL_REGION",
    "FakeLambdaContext",
    "KafkaEventSourceMapping",
    "MockKafkaCluster",
    "MotoServer",
    "create_edge_functions",
    "create_pipeline_functions",
    "create_state_machine",
    "local_function_name",
    "msk_event",
    "register",
    "setup_pipeline",
    "start_kafka",
    "step_handler",
]
