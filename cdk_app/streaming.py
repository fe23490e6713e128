"""Streaming: MSK Serverless, the topic, the forwarder (S3 -> Kafka) and the dispatcher
(Kafka batches -> Step Functions executions)."""
from __future__ import annotations

from aws_cdk import Aws, Duration, Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_msk as msk
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_app.config import PipelineConfig
from cdk_app.house.bucket_access import grant_object_writes
from cdk_app.house.custom_resource import function_custom_resource
from cdk_app.house.nag import BUCKET_OBJECTS, GRANT_ACTIONS, suppress
from cdk_app.house.python_function import PipelineFunction, PipelineLayers
from cdk_app.house.state_machine import grant_start_execution
from cdk_app.network import Network
from cdk_app.storage import Storage
from functions.common import constants as c

KAFKA_IAM_PORT = 9098  # SASL/IAM over TLS on MSK Serverless
# How long a record may wait for the dispatcher before the mapping stops retrying it and writes it
# to the failed-items bucket (Kafka mappings accept 60 s to 7 days). local/run.py runs its mapping
# stand-in with the same value; tests/infra/test_template.py checks that.
MAX_RECORD_AGE = Duration.days(1)


class Streaming(Construct):
    """MSK Serverless with IAM auth (TLS only), the topic, and the two functions around it.

    Exposes `cluster_arn`, `topic_arn`, `forwarder`, `dispatcher`, `event_source`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, network: Network,
                 storage: Storage, layers: PipelineLayers, state_machine: sfn.IStateMachine) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self, "KafkaSg", vpc=network.vpc, description="MSK Serverless brokers", allow_all_outbound=True
        )
        self.security_group.add_ingress_rule(
            network.lambda_security_group, ec2.Port.tcp(KAFKA_IAM_PORT), "Kafka IAM/TLS from functions"
        )
        # The event source mapping's pollers run in the cluster's own subnets and group.
        self.security_group.add_ingress_rule(
            self.security_group, ec2.Port.tcp(KAFKA_IAM_PORT), "Kafka IAM/TLS from the event source mapping"
        )
        network.lambda_security_group.add_egress_rule(
            self.security_group, ec2.Port.tcp(KAFKA_IAM_PORT), "Kafka IAM/TLS to MSK"
        )
        # The pollers call STS and Lambda through the interface endpoints.
        network.endpoint_security_group.add_ingress_rule(
            self.security_group, ec2.Port.tcp(443), "Event source mapping pollers to STS/Lambda"
        )
        private = network.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        # MSK Serverless: no brokers to size, IAM auth and TLS are the only options (which is
        # what we want), and it scales partitions' throughput on demand. See README.
        self.cluster = msk.CfnServerlessCluster(
            self,
            "Cluster",
            cluster_name=f"{config.prefix}-events",
            client_authentication=msk.CfnServerlessCluster.ClientAuthenticationProperty(
                sasl=msk.CfnServerlessCluster.SaslProperty(iam=msk.CfnServerlessCluster.IamProperty(enabled=True))
            ),
            vpc_configs=[
                msk.CfnServerlessCluster.VpcConfigProperty(
                    subnet_ids=private.subnet_ids, security_groups=[self.security_group.security_group_id]
                )
            ],
        )
        self.cluster_arn = self.cluster.attr_arn
        cluster_path = Fn.select(1, Fn.split(":cluster/", self.cluster_arn))  # "<name>/<uuid>"
        kafka_arn = f"arn:{Aws.PARTITION}:kafka:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        self.topic_arn = f"{kafka_arn}:topic/{cluster_path}/{config.kafka.topic}"
        self.group_id = f"{config.prefix}-dispatcher"
        group_arn = f"{kafka_arn}:group/{cluster_path}/{self.group_id}"

        brokers = cr.AwsCustomResource(
            self,
            "BootstrapBrokers",
            on_update=cr.AwsSdkCall(
                service="Kafka",
                action="getBootstrapBrokers",
                parameters={"ClusterArn": self.cluster_arn},
                physical_resource_id=cr.PhysicalResourceId.of(self.cluster_arn),
            ),
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[self.cluster_arn]),
            install_latest_aws_sdk=False,
        )
        self.bootstrap_servers = brokers.get_response_field("BootstrapBrokerStringSaslIam")

        kafka_env = {
            c.ENV_KAFKA_BOOTSTRAP: self.bootstrap_servers,
            c.ENV_KAFKA_TOPIC: config.kafka.topic,
            c.ENV_KAFKA_AUTH: "iam",
            c.ENV_KAFKA_PARTITIONS: str(config.kafka.partitions),
        }

        # --- the topic, created through the Kafka admin API (CloudFormation has no resource for it)
        topic_fn = PipelineFunction(
            self, "TopicFunction", name="kafka_topic", config=config, network=network, layers=[layers.core],
            description="Custom resource: creates the pipeline topic on MSK Serverless",
            timeout=Duration.minutes(5), environment=kafka_env,
        )
        topic_fn.role.add_to_policy(
            iam.PolicyStatement(actions=["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"], resources=[self.cluster_arn])
        )
        topic_fn.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic", "kafka-cluster:AlterTopic",
                         "kafka-cluster:DescribeTopicDynamicConfiguration"],
                resources=[self.topic_arn],
            )
        )
        self.topic = function_custom_resource(
            self, "Topic", handler=topic_fn,
            properties={"Topic": config.kafka.topic, "Partitions": config.kafka.partitions},
        )

        # --- forwarder: S3 object events -> one Kafka message per object
        self.forwarder = PipelineFunction(
            self, "Forwarder", name=c.FN_FORWARDER, config=config, network=network, layers=[layers.core],
            description="Publishes each S3 object-created event to the Kafka topic",
            memory_mb=512, timeout=Duration.seconds(60), environment=kafka_env,
        )
        self.forwarder.node.add_dependency(self.topic)
        self.forwarder.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kafka-cluster:Connect", "kafka-cluster:DescribeCluster", "kafka-cluster:WriteDataIdempotently"],
                resources=[self.cluster_arn],
            )
        )
        self.forwarder.role.add_to_policy(
            iam.PolicyStatement(actions=["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"], resources=[self.topic_arn])
        )
        # HeadObject when the extension alone does not tell the modality.
        storage.ingest_bucket.grant_read(self.forwarder.role)
        # S3 invokes the forwarder asynchronously: retry twice, then keep the event in a DLQ.
        self.forwarder.function.configure_async_invoke(
            retry_attempts=2,
            max_event_age=Duration.hours(6),
            on_failure=destinations.SqsDestination(storage.forwarder_dlq),
        )
        storage.ingest_bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED, s3n.LambdaDestination(self.forwarder.function)
        )

        # --- dispatcher: Kafka batches -> Step Functions executions (idempotent names)
        self.dispatcher = PipelineFunction(
            self, "Dispatcher", name=c.FN_DISPATCHER, config=config, network=network, layers=[layers.core],
            description="Starts one Step Functions execution per Kafka batch",
            memory_mb=512, timeout=Duration.seconds(120),
            environment={
                c.ENV_STATE_MACHINE_ARN: state_machine.state_machine_arn,
                c.ENV_PIPELINE_VERSION: config.pipeline_version,
                c.ENV_FAILED_BUCKET: storage.failed_bucket.bucket_name,
            },
        )
        grant_start_execution(state_machine, storage.key, self.dispatcher.role)
        grant_object_writes(storage.failed_bucket, storage.key, self.dispatcher.role, f"{c.FAILED_PREFIX}/*")
        self.dispatcher.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kafka-cluster:Connect", "kafka-cluster:DescribeCluster",
                         "kafka-cluster:DescribeClusterDynamicConfiguration", "kafka:DescribeClusterV2",
                         "kafka:GetBootstrapBrokers"],
                resources=[self.cluster_arn],
            )
        )
        self.dispatcher.role.add_to_policy(
            iam.PolicyStatement(actions=["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"], resources=[self.topic_arn])
        )
        self.dispatcher.role.add_to_policy(
            iam.PolicyStatement(actions=["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"], resources=[group_arn])
        )
        self.dispatcher.role.add_to_policy(
            # The event source mapping's pollers attach to the cluster's VPC.
            iam.PolicyStatement(actions=["ec2:DescribeVpcs", "ec2:DescribeSecurityGroups"], resources=["*"])
        )
        self.event_source = sources.ManagedKafkaEventSource(
            cluster_arn=self.cluster_arn,
            topic=config.kafka.topic,
            consumer_group_id=self.group_id,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=config.kafka.batch_size,
            max_batching_window=Duration.seconds(config.kafka.batching_window_seconds),
            # Provisioned pollers absorb spikes without the cold ramp-up of on-demand polling,
            # and Kafka mappings take the error-handling controls below only in provisioned mode.
            # https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html
            provisioned_poller_config=sources.ProvisionedPollerConfig(
                minimum_pollers=config.kafka.min_pollers, maximum_pollers=config.kafka.max_pollers
            ),
            # The dispatcher returns {"batchItemFailures": [{"itemIdentifier": {"partition":
            # "<topic>-<partition>", "offset": n}}]} for the records a retry can fix (StartExecution
            # throttled); the mapping retries only those. Poison records are parked by the
            # dispatcher itself and never reported, so they are not retried.
            report_batch_item_failures=True,
            # Explicit: -1 (the default) with an on-failure destination would mean 10 retries.
            retry_attempts=config.kafka.retry_attempts,
            # Records that still fail after their retries, or are older than this, go to the
            # failed-items bucket (one JSON invocation record with the records' event as
            # `payload`) and the partition moves on.
            # https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html
            max_record_age=MAX_RECORD_AGE,
            on_failure=sources.S3OnFailureDestination(storage.failed_bucket),
            # BisectBatchOnFunctionError stays off: the function errors only on misconfiguration,
            # which no half of a batch escapes; record-level failures come back as item failures.
        )
        self.dispatcher.function.add_event_source(self.event_source)
        suppress(self.dispatcher.role, "AwsSolutions-IAM4",
                 "CDK attaches AWSLambdaMSKExecutionRole for the MSK event source mapping's pollers "
                 "(ENIs in the cluster's VPC, kafka:Describe*); the data-plane permissions above are scoped.",
                 ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaMSKExecutionRole"])
        suppress(self.dispatcher.role, "AwsSolutions-IAM5",
                 "S3OnFailureDestination grants read/write on the failed-items bucket (CDK grant wildcards on "
                 "object actions inside that one bucket and KMS data-key actions on its key); "
                 "poison records are written under failed/.",
                 [GRANT_ACTIONS, BUCKET_OBJECTS])
        suppress(self.forwarder.role, "AwsSolutions-IAM5",
                 "CDK grants: KMS data-key actions so the async on-failure destination can write to the encrypted "
                 "DLQ, and read-only object actions on the ingest bucket's objects (HeadObject for the type).",
                 [GRANT_ACTIONS, BUCKET_OBJECTS])
        self.dispatcher.node.add_dependency(self.topic)
