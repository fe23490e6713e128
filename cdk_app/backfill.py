"""Backfill: the backfill state machine (a Distributed Map over the ingest bucket) with its batch
Lambda, and what runs it: Amazon MWAA (Airflow), whose DAG bucket receives dags/ and its
requirements, when `backfill.mwaa` is on; otherwise an EventBridge Scheduler schedule that starts
the nightly reconciliation on the same state machine (backfills on demand: README, "Backfill")."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TypedDict

from aws_cdk import Aws, Duration, Fn, RemovalPolicy, SecretValue
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_mwaa as mwaa
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.config import PipelineConfig
from cdk_app.database import Database
from cdk_app.house.log_retention import retention
from cdk_app.house.nag import BUCKET_OBJECTS, GRANT_ACTIONS, suppress
from cdk_app.house.python_function import PipelineFunction, PipelineLayers
from cdk_app.house.state_machine import (
    grant_child_executions,
    grant_start_execution,
    key_use_statement,
    pipeline_state_machine,
)
from cdk_app.network import Network
from cdk_app.storage import Storage
from functions.common import constants as c
from functions.reprocess import names
from step_functions import backfill as backfill_asl

ROOT = Path(__file__).resolve().parents[1]
# MWAA writes to airflow-<environment>-<kind>, one group per kind of log it exports.
# https://docs.aws.amazon.com/mwaa/latest/userguide/monitoring-airflow.html
MWAA_LOG_KINDS = ("DAGProcessing", "Scheduler", "Task", "WebServer", "Worker")
DAGS_DIR = ROOT / "dags"
# The plain modules the DAGs import from functions/ (names, ObjectRef/ExecutionInput, modality
# classification, execution size limits): shipped beside the DAGs so nothing is repeated.
DAG_SHARED_MODULES = (
    "functions/__init__.py",
    "functions/common/__init__.py",
    "functions/common/aws_errors.py",
    "functions/common/constants.py",
    "functions/common/errors.py",
    "functions/common/events.py",
    "functions/streaming/__init__.py",
    "functions/streaming/classify.py",
    "functions/processing/__init__.py",  # the format registry classify reads
    "functions/processing/formats/__init__.py",
    "functions/processing/formats/registry.py",
    "functions/streaming/executions.py",
    "functions/streaming/messages.py",
    "functions/streaming/msk_batch.py",
    "functions/reprocess/__init__.py",
    "functions/reprocess/core.py",
    "functions/reprocess/cost.py",
    "functions/reprocess/distributed.py",
    "functions/reprocess/links.py",
    "functions/reprocess/listing.py",
    "functions/reprocess/names.py",
    "functions/reprocess/params.py",
    "functions/reprocess/plan.py",
    "functions/reprocess/results.py",
    "functions/reprocess/send.py",
    "functions/reprocess/tally.py",
)
SHARED_STAGE = ROOT / ".build" / "airflow-shared"
DB_CONN_ID = names.DB_CONN_ID
# Objects the backfill's ResultWriter writes, in the staging bucket (a nag finding).
RESULTS_OBJECTS = {"regex": "/^Resource::<StorageStaging[A-Za-z0-9]+\\.Arn>\\/%s\\/\\*$/" % names.RESULTS_PREFIX}
SECRETS_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"


def stage_shared_modules() -> Path:
    """Copy DAG_SHARED_MODULES to .build/airflow-shared/ (same relative paths); return it."""
    if SHARED_STAGE.exists():
        shutil.rmtree(SHARED_STAGE)
    for relative in DAG_SHARED_MODULES:
        target = SHARED_STAGE / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / relative, target)
    return SHARED_STAGE


class BackfillStateMachine(Construct):
    """The backfill state machine (step_functions/backfill.asl.json) and its batch Lambda.

    A Distributed Map reads the ingest bucket's listing itself (ListObjectsV2), batches it and
    runs each batch as a Standard child execution of the reprocess_batch Lambda, which starts
    pipeline executions. Results go to the staging bucket under backfill-results/.
    Exposes `state_machine` and `function`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, network: Network,
                 storage: Storage, layers: PipelineLayers, database: Database, pipeline: sfn.IStateMachine) -> None:
        super().__init__(scope, construct_id)
        self.function = PipelineFunction(
            self, "ReprocessBatch", name=names.FN_REPROCESS_BATCH, config=config, network=network, layers=[layers.core],
            description="Backfill batch: filter listed objects, resolve versions, check the DB, start pipeline executions",
            memory_mb=512, timeout=Duration.minutes(5),
            environment={c.ENV_STATE_MACHINE_ARN: pipeline.state_machine_arn, **database.connection_env},
        )
        fn_role = self.function.role
        # HeadObject (current version ids) on the ingest bucket's objects.
        storage.ingest_bucket.grant_read(fn_role)
        database.grant_connect(fn_role)
        grant_start_execution(pipeline, storage.key, fn_role)
        suppress(fn_role, "AwsSolutions-IAM5",
                 "Object-level wildcards inside the ingest bucket and KMS GenerateDataKey*/ReEncrypt* from the "
                 "CDK bucket read grant (HeadObject on any listed object); ENI and X-Ray actions have no "
                 "resource-level permissions.",
                 [GRANT_ACTIONS, BUCKET_OBJECTS])

        self.state_machine = pipeline_state_machine(
            self,
            "StateMachine",
            config=config,
            definition=backfill_asl.load(),
            substitutions={
                backfill_asl.FUNCTION_ARN_KEY: self.function.function.function_arn,
                backfill_asl.RESULTS_BUCKET_KEY: storage.staging_bucket.bucket_name,
            },
            key=storage.key,
            timeout=Duration.days(7),
        )
        sm_role = self.state_machine.role
        self.function.function.grant_invoke(sm_role)
        # The ItemReader lists the ingest bucket (ListObjectsV2 = s3:ListBucket), nothing more.
        sm_role.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[storage.ingest_bucket.bucket_arn]))
        # The ResultWriter writes the batches' results (multipart for large files).
        # https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html#resultwriter-iam-policies
        sm_role.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
            resources=[storage.staging_bucket.arn_for_objects(f"{names.RESULTS_PREFIX}/*")]))
        storage.key.grant_encrypt_decrypt(sm_role)
        grant_child_executions(self, self.state_machine, storage.key)
        suppress(self.state_machine, "AwsSolutions-IAM5",
                 "lambda:InvokeFunction on the batch function's ARN and its versions (ARN:*); ResultWriter "
                 "objects under backfill-results/ in the staging bucket; KMS data-key actions on our key; "
                 "X-Ray/log delivery actions have no resource-level permissions.",
                 [GRANT_ACTIONS, BUCKET_OBJECTS, RESULTS_OBJECTS, "Resource::*",
                  {"regex": "/^Resource::<BackfillBatchesReprocessBatch[A-Za-z0-9]+\\.Arn>:\\*$/"}])


class Backfill(Construct):
    """The backfill state machine and what starts it: the MWAA environment (private web server,
    all logs on) and its source bucket when `backfill.mwaa` is on, else a schedule.

    Exposes `batches` (BackfillStateMachine) and either `environment`, `source_bucket`,
    `execution_role` (Airflow) or `schedule` (EventBridge Scheduler); the others are None.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, network: Network,
                 storage: Storage, database: Database, layers: PipelineLayers,
                 state_machine: sfn.IStateMachine, relabel: lambda_.IFunction | None = None) -> None:
        super().__init__(scope, construct_id)
        env_name = f"{config.prefix}-airflow"
        self._relabel = relabel
        self.batches = BackfillStateMachine(
            self, "Batches", config=config, network=network, storage=storage, layers=layers, database=database,
            pipeline=state_machine,
        )
        backfill_machine = self.batches.state_machine
        self.environment: mwaa.CfnEnvironment | None = None
        self.source_bucket: s3.Bucket | None = None
        self.execution_role: iam.Role | None = None
        self.schedule: scheduler.Schedule | None = None
        if config.backfill.mwaa:
            self._airflow(config, network, storage, database, state_machine, backfill_machine, env_name)
        else:
            self.schedule = self._reconcile_schedule(config, storage, backfill_machine)

    def _reconcile_schedule(self, config: PipelineConfig, storage: Storage,
                            backfill_machine: sfn.StateMachine) -> scheduler.Schedule:
        """Airflow off: the nightly reconciliation (what the reconcile DAG starts for a large
        bucket) as an EventBridge Scheduler schedule on the backfill state machine. The input
        is the one the DAG would build, from the same function."""
        from functions.reprocess.distributed import backfill_input
        from functions.reprocess.params import RunParams

        run = backfill_input(RunParams(bucket=storage.ingest_bucket.bucket_name, pipeline_version=config.pipeline_version))
        role = iam.Role(self, "ReconcileRole", assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}),
            description="EventBridge Scheduler: start the nightly reconciliation")
        grant_start_execution(backfill_machine, storage.key, role)
        # The Scheduler's StartExecution also decrypts under the machine's key (review of the
        # template, issue 23), with the same encryption context.
        role.add_to_policy(key_use_statement("kms:Decrypt", storage.key, backfill_machine.state_machine_arn))
        return scheduler.Schedule(
            self, "Reconcile",
            description="Nightly reconciliation: resend what is missing, stale or failed with a retryable error",
            schedule=scheduler.ScheduleExpression.cron(**airflow_cron_to_scheduler(config.backfill.reconcile_schedule)),
            target=scheduler_targets.StepFunctionsStartExecution(
                backfill_machine, input=scheduler.ScheduleTargetInput.from_text(_json_with(run, "bucket")), role=role,
                retry_attempts=3,
            ),
        )

    def _airflow(self, config: PipelineConfig, network: Network, storage: Storage, database: Database,
                 state_machine: sfn.IStateMachine, backfill_machine: sfn.StateMachine, env_name: str) -> None:
        self.source_bucket = s3.Bucket(
            self,
            "Source",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=storage.key,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,  # MWAA requires a versioned source bucket
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=storage.access_logs_bucket,
            server_access_logs_prefix="airflow/",
            removal_policy=RemovalPolicy.DESTROY,
        )
        deployment = s3deploy.BucketDeployment(
            self,
            "Dags",
            sources=[
                s3deploy.Source.asset(str(DAGS_DIR), exclude=["__pycache__", "*.pyc", "tests", "tests/*"]),
                s3deploy.Source.asset(str(stage_shared_modules())),
            ],
            destination_bucket=self.source_bucket,
            destination_key_prefix="dags",
            prune=True,
            memory_limit=512,
        )
        requirements = s3deploy.BucketDeployment(
            self,
            "Requirements",
            sources=[s3deploy.Source.asset(str(DAGS_DIR), exclude=["*", "!requirements.txt"])],
            destination_bucket=self.source_bucket,
            prune=False,
            extract=True,
        )

        self.security_group = ec2.SecurityGroup(
            self, "AirflowSg", vpc=network.vpc, description="MWAA workers and web server", allow_all_outbound=True
        )
        # MWAA components talk to each other on all ports within their security group.
        self.security_group.add_ingress_rule(self.security_group, ec2.Port.all_traffic(), "MWAA internal")
        network.endpoint_security_group.add_ingress_rule(self.security_group, ec2.Port.tcp(443), "MWAA to AWS APIs")
        database.security_group.add_ingress_rule(self.security_group, ec2.Port.tcp(5432), "Reconciliation queries")

        # The DAGs' database connection, read by Airflow's Secrets Manager backend. It holds no
        # password: the hook signs in to the RDS Proxy with an IAM token of the execution role.
        # https://airflow.apache.org/docs/apache-airflow-providers-amazon/stable/secrets-backends/aws-secrets-manager.html
        connections_prefix = f"{config.prefix}/airflow/connections"
        self.db_connection = secretsmanager.Secret(
            self,
            "DbConnection",
            secret_name=f"{connections_prefix}/{DB_CONN_ID}",
            description="Airflow connection to the pipeline database (IAM auth through the RDS Proxy, no password)",
            encryption_key=storage.key,
            secret_string_value=SecretValue.unsafe_plain_text(json.dumps({
                "conn_type": "postgres",
                "host": database.proxy.endpoint,
                "port": 5432,
                "login": c.DB_APP_USER,
                "schema": c.DB_NAME,
                "extra": {"iam": True, "sslmode": "require", "aws_conn_id": "aws_default"},
            })),
            removal_policy=RemovalPolicy.DESTROY,
        )
        suppress(self.db_connection, "AwsSolutions-SMG4",
                 "Holds a connection descriptor (host, user, IAM auth), no credential: nothing to rotate.")

        stack_arn = f"arn:{Aws.PARTITION}"
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("airflow.amazonaws.com"), iam.ServicePrincipal("airflow-env.amazonaws.com")
            ),
            description="MWAA execution role of the multimodal pipeline",
        )
        role = self.execution_role
        self.source_bucket.grant_read(role)
        storage.ingest_bucket.grant_read(role)
        # The DAGs list current versions (ListObjectVersions), which grant_read does not cover.
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucketVersions"], resources=[storage.ingest_bucket.bucket_arn],
        ))
        self.db_connection.grant_read(role)
        grant_start_execution(state_machine, storage.key, role)
        # Read its own executions (to link and watch them from Airflow); grant_read would add
        # account-wide activity actions on "*".
        state_machine.grant(role, "states:DescribeStateMachine", "states:ListExecutions")
        state_machine.grant_execution(role, "states:DescribeExecution", "states:GetExecutionHistory")
        database.grant_connect(role)
        if self._relabel is not None:  # the pipeline_relabel DAG (dags/relabel_dag.py)
            self._relabel.grant_invoke(role)
        # Large runs: start the backfill state machine, watch it, read its batches' results.
        grant_start_execution(backfill_machine, storage.key, role)
        backfill_machine.grant_execution(role, "states:DescribeExecution")
        storage.staging_bucket.grant_read(role, f"{names.RESULTS_PREFIX}/*")
        role.add_to_policy(iam.PolicyStatement(
            actions=["airflow:PublishMetrics"],
            resources=[f"{stack_arn}:airflow:{Aws.REGION}:{Aws.ACCOUNT_ID}:environment/{env_name}"],
        ))
        role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents",
                     "logs:GetLogRecord", "logs:GetLogGroupFields", "logs:GetQueryResults"],
            resources=[f"{stack_arn}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:airflow-{env_name}-*"],
        ))
        # MWAA's documented execution policy: DescribeLogGroups is a list call that authorizes
        # only against "*", and the environment checks the account's public access block.
        # https://docs.aws.amazon.com/mwaa/latest/userguide/mwaa-create-role.html
        role.add_to_policy(iam.PolicyStatement(
            actions=["logs:DescribeLogGroups", "s3:GetAccountPublicAccessBlock"], resources=["*"]))
        # Its five log groups, made beforehand with our key and retention (the service would
        # create them unencrypted and never expiring).
        log_groups = [logs.LogGroup(self, f"{kind}Logs", log_group_name=f"airflow-{env_name}-{kind}",
                                    retention=retention(config.log_retention_days),
                                    removal_policy=RemovalPolicy.DESTROY)
                      for kind in MWAA_LOG_KINDS]
        role.add_to_policy(iam.PolicyStatement(
            actions=["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
                     "sqs:ReceiveMessage", "sqs:SendMessage"],
            resources=[f"{stack_arn}:sqs:{Aws.REGION}:*:airflow-celery-*"],
        ))
        role.add_to_policy(iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"], resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": "AmazonMWAA"}},
        ))
        storage.key.grant_encrypt_decrypt(role)
        suppress(role, "AwsSolutions-IAM5",
                 "MWAA's documented execution policy: its Celery queues (airflow-celery-*) live in an AWS-owned "
                 "account, its log groups are named airflow-<env>-*, PutMetricData has no resource-level permission "
                 "(namespace-conditioned); bucket object wildcards are CDK grants inside our own buckets "
                 "(including the backfill's results under backfill-results/ in the staging bucket) "
                 "(https://docs.aws.amazon.com/mwaa/latest/userguide/mwaa-create-role.html).",
                 [GRANT_ACTIONS, BUCKET_OBJECTS, RESULTS_OBJECTS, "Resource::*",
                  {"regex": "/^Resource::arn:<AWS::Partition>:(sqs|logs):<AWS::Region>:.*(airflow-celery-|airflow-).*\\*$/"},
                  # grant_read on the state machine: its own executions, to link them in Airflow
                  {"regex": "/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:.*:\\*$/"},
                  # grant_invoke on the relabel function: its ARN and its versions (ARN:*)
                  {"regex": "/^Resource::<TaxonomyRelabel[A-Za-z0-9]+\\.Arn>:\\*$/"}])

        private = network.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        log = mwaa.CfnEnvironment.ModuleLoggingConfigurationProperty(enabled=True, log_level="INFO")
        self.environment = mwaa.CfnEnvironment(
            self,
            "Environment",
            name=env_name,
            airflow_version=config.backfill.airflow_version,
            environment_class=config.backfill.environment_class,
            max_workers=config.backfill.max_workers,
            source_bucket_arn=self.source_bucket.bucket_arn,
            dag_s3_path="dags",
            requirements_s3_path="requirements.txt",
            execution_role_arn=role.role_arn,
            kms_key=storage.key.key_arn,
            webserver_access_mode="PRIVATE_ONLY",
            network_configuration=mwaa.CfnEnvironment.NetworkConfigurationProperty(
                subnet_ids=private.subnet_ids[:2], security_group_ids=[self.security_group.security_group_id]
            ),
            logging_configuration=mwaa.CfnEnvironment.LoggingConfigurationProperty(
                dag_processing_logs=log, scheduler_logs=log, task_logs=log, webserver_logs=log, worker_logs=log
            ),
            airflow_configuration_options={
                "core.load_examples": "False",
                f"{names.CONF_SECTION}.{names.SETTING_STATE_MACHINE_ARN}": state_machine.state_machine_arn,
                f"{names.CONF_SECTION}.{names.SETTING_BACKFILL_STATE_MACHINE_ARN}": backfill_machine.state_machine_arn,
                f"{names.CONF_SECTION}.{names.SETTING_INGEST_BUCKET}": storage.ingest_bucket.bucket_name,
                f"{names.CONF_SECTION}.{names.SETTING_PIPELINE_VERSION}": config.pipeline_version,
                f"{names.CONF_SECTION}.{names.SETTING_RECONCILE_SCHEDULE}": config.backfill.reconcile_schedule,
                **({f"{names.CONF_SECTION}.{names.SETTING_RELABEL_FUNCTION}": self._relabel.function_name}
                   if self._relabel is not None else {}),
                "pipeline.db_host": database.proxy.endpoint,
                "secrets.backend": SECRETS_BACKEND,
                # Connections only: no Variable or config look-ups go to Secrets Manager.
                "secrets.backend_kwargs": json.dumps({
                    "connections_prefix": connections_prefix, "variables_prefix": None, "config_prefix": None,
                }),
            },
        )
        self.environment.node.add_dependency(deployment, requirements, role, *log_groups)


def _json_with(document: dict, token_field: str) -> str:
    """`document` as JSON text with the (deploy-time) value of `token_field` spliced in. Every
    field stays, nulls included: the state machine's JSONPath fails on a missing one, and
    ScheduleTargetInput.from_object drops the fields that are None."""
    marker = "\u0000token\u0000"
    text = json.dumps({**document, token_field: marker})
    before, after = text.split(json.dumps(marker))
    return Fn.join("", [before + '"', document[token_field], '"' + after])


_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class CronFields(TypedDict, total=False):
    """The keyword arguments of scheduler.ScheduleExpression.cron that a cron expression sets."""

    minute: str
    hour: str
    day: str
    month: str
    week_day: str


def airflow_cron_to_scheduler(expression: str) -> CronFields:
    """The keyword arguments of scheduler.ScheduleExpression.cron for a five-field cron
    expression as Airflow reads it (minute hour day-of-month month day-of-week, Sunday 0 or 7):
    EventBridge numbers days 1-7 from Sunday and wants "?" in one of the two day fields.
    https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"backfill.reconcile_schedule must have five cron fields, not {expression!r}")
    minute, hour, day, month, weekday = fields

    def day_name(token: str) -> str:
        return _DAYS[int(token) % 7] if token.isdigit() else token.upper()

    if weekday != "*":
        weekday = ",".join("-".join(day_name(t) for t in part.split("-")) for part in weekday.split(","))
    kwargs: CronFields = {"minute": minute, "hour": hour, "month": month}
    if weekday == "*":
        kwargs["day"] = day
    else:
        if day != "*":
            raise ValueError("EventBridge Scheduler takes a day of the month or a day of the week, not both: "
                             f"{expression!r}")
        kwargs["week_day"] = weekday
    return kwargs
