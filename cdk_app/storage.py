"""Storage: the ingest bucket, the staging area between steps, and the failed-items location."""
from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_app.config import PipelineConfig
from cdk_app.house import checkov
from cdk_app.house.nag import suppress
from functions.common.constants import FAILED_PREFIX, STAGING_PREFIX


class Storage(Construct):
    """Buckets and queues, all private, encrypted with one customer-managed key, TLS-only.

    - `ingest_bucket`: where users upload; versioned (results are keyed by object version).
    - `staging_bucket`: intermediate results of extract/generate/embed; expires.
    - `failed_bucket`: poison Kafka records and events that could not be forwarded.
    - `forwarder_dlq`: S3 events the forwarder could not publish after its retries.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig) -> None:
        super().__init__(scope, construct_id)
        data_policy = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.key = kms.Key(
            self,
            "DataKey",
            description="Multimodal pipeline data at rest",
            enable_key_rotation=True,
            removal_policy=data_policy,
        )
        self._allow_cloudwatch_logs()
        # Server access logs cannot be delivered to a bucket encrypted with a KMS key.
        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=data_policy,
        )
        suppress(self.access_logs_bucket, "AwsSolutions-S1", "This is the access-log bucket itself; logging it to itself would loop.")
        checkov.skip(self.access_logs_bucket, "CKV_AWS_18", "This is the access-log bucket itself; logging it to itself would loop.")
        checkov.skip(self.access_logs_bucket, "CKV_AWS_21",
                     "Server access logs are written once by the S3 log delivery service and expire after a year.")

        self.ingest_bucket = self._bucket("Ingest", "ingest/", data_policy, versioned=True)
        self.staging_bucket = self._bucket(
            "Staging",
            "staging/",
            RemovalPolicy.DESTROY,
            lifecycle=[
                s3.LifecycleRule(
                    prefix=f"{STAGING_PREFIX}/",
                    expiration=Duration.days(config.staging_expiry_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        self.failed_bucket = self._bucket(
            "FailedItems",
            "failed/",
            data_policy,
            lifecycle=[
                s3.LifecycleRule(prefix=f"{FAILED_PREFIX}/", expiration=Duration.days(config.failed_items_expiry_days)),
                # Where the Kafka event source mapping's on-failure destination writes its records
                # (aws/lambda/<mapping>/...): https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html
                s3.LifecycleRule(prefix="aws/lambda/", expiration=Duration.days(config.failed_items_expiry_days)),
            ],
        )
        checkov.skip(self.staging_bucket, "CKV_AWS_21",
                     "Scratch space between steps: a re-run overwrites its own deterministic keys on purpose and "
                     "everything expires in days; versions would only keep superseded intermediate results.")
        checkov.skip(self.failed_bucket, "CKV_AWS_21",
                     "Write-once records under unique keys (poison Kafka records, the event source mapping's "
                     "on-failure records), expired by lifecycle; nothing overwrites them.")
        self.forwarder_dlq = sqs.Queue(
            self,
            "ForwarderDlq",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        suppress(self.forwarder_dlq, "AwsSolutions-SQS3", "This queue is itself the dead-letter queue of the forwarder's async invocations.")

    def _allow_cloudwatch_logs(self) -> None:
        """CloudWatch Logs encrypts with the key itself, as its service principal, so only the key
        policy can allow it (MWAA's task and scheduler logs, our encrypted log groups), limited
        to log groups of this account and region by the encryption context it always sends.
        https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
        https://docs.aws.amazon.com/mwaa/latest/userguide/custom-keys-certs.html"""
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchLogsOfThisAccount",
            principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],  # in a key policy, "*" is this key
            conditions={"ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"}},
        ))

    def allow_cloudwatch_alarms(self) -> None:
        """CloudWatch alarms publish to our encrypted SNS topic as the CloudWatch service, which
        needs Decrypt and GenerateDataKey* in the key policy (nothing more).
        https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarm-sns-kms"""
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
        ))

    def _bucket(self, construct_id: str, log_prefix: str, removal: RemovalPolicy, *, versioned: bool = False,
                lifecycle: list[s3.LifecycleRule] | None = None) -> s3.Bucket:
        return self.private_bucket(self, construct_id, log_prefix, removal, versioned=versioned, lifecycle=lifecycle)

    def private_bucket(self, scope: Construct, construct_id: str, log_prefix: str, removal: RemovalPolicy, *,
                       versioned: bool = False, lifecycle: list[s3.LifecycleRule] | None = None,
                       auto_delete_objects: bool = False) -> s3.Bucket:
        """A bucket of the pipeline in `scope`: encrypted with its key, no public access, TLS only,
        bucket-owner objects, access logs under `log_prefix` in the access-log bucket."""
        return s3.Bucket(
            scope,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,  # fewer KMS calls per object: cheaper at volume
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=versioned,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix=log_prefix,
            lifecycle_rules=lifecycle,
            removal_policy=removal,
            auto_delete_objects=auto_delete_objects,
        )
