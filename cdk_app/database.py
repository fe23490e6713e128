"""Database: Aurora PostgreSQL Serverless v2 with pgvector, RDS Proxy (IAM auth), and a
migration custom resource that applies the versioned files in migrations/."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk_app.config import PipelineConfig
from cdk_app.house.custom_resource import function_custom_resource
from cdk_app.house.log_retention import retention
from cdk_app.house.nag import suppress
from cdk_app.house.python_function import PipelineFunction, PipelineLayers
from cdk_app.network import Network
from cdk_app.storage import Storage
from functions.common import constants as c

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
DB_PORT = 5432
ADMIN_USER = "pipeline_admin"
# Log types the cluster exports, each to /aws/rds/cluster/<cluster identifier>/<type>
# (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_LogAccess.Procedural.UploadtoCloudWatch.html).
LOG_EXPORTS = ("postgresql",)


def cluster_identifier(config: PipelineConfig) -> str:
    """The cluster's explicit identifier, `<prefix>-aurora` in lower case (RDS stores identifiers in
    lower case, and its log groups carry the stored one): letters, digits and single hyphens."""
    return re.sub(r"-+", "-", f"{config.prefix}-aurora".lower())


def cluster_log_group_name(identifier: str, log_type: str) -> str:
    """Where Aurora exports `log_type` of cluster `identifier`."""
    return f"/aws/rds/cluster/{identifier}/{log_type}"


def migrations_digest() -> str:
    """Hash of every migration file: a changed digest re-runs the migration resource."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class Database(Construct):
    """Exposes `cluster` (identifier `cluster_identifier(config)`), `log_groups` ({log type: the
    group the cluster exports it to}), `proxy`, `admin_secret`, `app_secret`, `security_group`, and
    `connection_env` (the environment a function needs to reach the database as the app
    user through the proxy with an IAM token; grant with `grant_connect`)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, network: Network,
                 storage: Storage, layers: PipelineLayers) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self, "DbSg", vpc=network.vpc, description="Aurora and RDS Proxy", allow_all_outbound=False
        )
        self.security_group.add_ingress_rule(
            network.lambda_security_group, ec2.Port.tcp(DB_PORT), "PostgreSQL from functions"
        )
        self.security_group.add_ingress_rule(self.security_group, ec2.Port.tcp(DB_PORT), "Proxy to cluster")
        self.security_group.add_egress_rule(self.security_group, ec2.Port.tcp(DB_PORT), "Proxy to cluster")
        network.lambda_security_group.add_egress_rule(
            self.security_group, ec2.Port.tcp(DB_PORT), "PostgreSQL to the proxy and cluster"
        )

        self.admin_secret = rds.DatabaseSecret(self, "AdminSecret", username=ADMIN_USER, encryption_key=storage.key)
        # The app user (DML only) is created by the migration with this secret's password;
        # RDS Proxy holds both secrets and lets functions in with IAM tokens instead.
        self.app_secret = rds.DatabaseSecret(self, "AppSecret", username=c.DB_APP_USER, encryption_key=storage.key)

        removal = RemovalPolicy.SNAPSHOT if config.retain_data else RemovalPolicy.DESTROY
        identifier = cluster_identifier(config)
        # Made before the cluster, with our key (EncryptLogGroups) and retention: the export would
        # otherwise create them unencrypted and never expiring.
        self.log_groups = {
            log_type: logs.LogGroup(self, f"ClusterLogs{log_type.title()}",
                                    log_group_name=cluster_log_group_name(identifier, log_type),
                                    retention=retention(config.log_retention_days),
                                    removal_policy=RemovalPolicy.DESTROY)
            for log_type in LOG_EXPORTS
        }
        readers = [
            rds.ClusterInstance.serverless_v2(f"Reader{i + 1}", scale_with_writer=True)
            for i in range(config.database.readers)
        ]
        self.cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            cluster_identifier=identifier,
            engine=rds.DatabaseClusterEngine.aurora_postgres(version=rds.AuroraPostgresEngineVersion.VER_17_5),
            credentials=rds.Credentials.from_secret(self.admin_secret),
            default_database_name=c.DB_NAME,
            writer=rds.ClusterInstance.serverless_v2("Writer"),
            readers=readers,
            serverless_v2_min_capacity=config.database.min_acu,
            serverless_v2_max_capacity=config.database.max_acu,
            vpc=network.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[self.security_group],
            port=DB_PORT,
            storage_encrypted=True,
            storage_encryption_key=storage.key,
            iam_authentication=True,
            deletion_protection=config.database.deletion_protection,
            backup=rds.BackupProps(retention=Duration.days(config.database.backup_retention_days)),
            cloudwatch_logs_exports=list(LOG_EXPORTS),
            monitoring_interval=Duration.seconds(60),
            enable_performance_insights=True,
            performance_insight_encryption_key=storage.key,
            parameters={"rds.force_ssl": "1"},  # TLS in transit, always
            removal_policy=removal,
        )
        cluster_resource = self.cluster.node.default_child
        if cluster_resource is None:
            raise TypeError("the database cluster has no CloudFormation resource")
        for log_group in self.log_groups.values():
            cluster_resource.node.add_dependency(log_group)
        suppress(self.cluster, "AwsSolutions-RDS11",
                 "Default port 5432 kept: the cluster is reachable only from the functions' security group "
                 "in isolated subnets; a non-default port adds no protection there.")
        suppress(self.cluster, "AwsSolutions-IAM4",
                 "Enhanced Monitoring requires the AWS-managed AmazonRDSEnhancedMonitoringRole policy.",
                 ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"])

        self.proxy = self.cluster.add_proxy(
            "Proxy",
            secrets=[self.admin_secret, self.app_secret],
            vpc=network.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[self.security_group],
            iam_auth=True,
            require_tls=True,
            debug_logging=False,
            # Lambdas open and close connections in bursts; the proxy pools them.
            max_connections_percent=90,
            idle_client_timeout=Duration.minutes(30),
        )
        rotations = self._rotate(config, network)
        self.connection_env = {
            c.ENV_DB_HOST: self.proxy.endpoint,
            c.ENV_DB_PORT: str(DB_PORT),
            c.ENV_DB_NAME: c.DB_NAME,
            c.ENV_DB_USER: c.DB_APP_USER,
            c.ENV_DB_AUTH: "iam",
        }

        # --- migrations: applied on every deploy that changes a file in migrations/
        self.migrate = PipelineFunction(
            self, "MigrateFunction", name=c.FN_MIGRATE, config=config, network=network, layers=[layers.core],
            description="Custom resource: applies versioned SQL migrations (pgvector, schema, app user)",
            timeout=Duration.minutes(10),
            environment={
                c.ENV_DB_HOST: self.cluster.cluster_endpoint.hostname,
                c.ENV_DB_PORT: str(DB_PORT),
                c.ENV_DB_NAME: c.DB_NAME,
                c.ENV_DB_USER: ADMIN_USER,
                c.ENV_DB_AUTH: "secret",
                c.ENV_DB_SECRET_ARN: self.admin_secret.secret_arn,
                c.ENV_DB_APP_SECRET_ARN: self.app_secret.secret_arn,
            },
        )
        self.admin_secret.grant_read(self.migrate.role)
        self.app_secret.grant_read(self.migrate.role)
        self.migration = function_custom_resource(
            self, "Migration", handler=self.migrate, properties={"MigrationsDigest": migrations_digest()}
        )
        self.migration.node.add_dependency(self.cluster)
        # A rotation can start as soon as its schedule exists; before the migration has created
        # the app user (or while it connects with the admin password) it would fail or pull the
        # password from under it. So the schedules come after the migration.
        for rotation in rotations:
            rotation.node.add_dependency(self.migration)

    def _rotate(self, config: PipelineConfig, network: Network) -> list[secretsmanager.RotationSchedule]:
        """Rotate both passwords with Secrets Manager's hosted PostgreSQL single-user rotation.

        Nothing holds these passwords for long: functions sign in to the proxy with IAM tokens and
        the proxy and the migration read the secrets when they connect, so a rotation needs no
        deploy. Single-user, not multi-user: IAM sign-in through the proxy is bound to the user
        name, which multi-user rotation would alternate. The rotation Lambda runs in the isolated
        subnets with the functions' security group (PostgreSQL to the cluster, HTTPS to the
        Secrets Manager and KMS endpoints); the secrets are attached to the cluster so that it
        finds the host. Returns the two rotation schedules.
        """
        admin_attached = self.cluster.secret  # from the admin secret it was made with
        if admin_attached is None:
            raise TypeError("the database cluster has no admin secret")
        app_attached = self.app_secret.attach(self.cluster)
        return [
            secret.add_rotation_schedule(
                name,
                hosted_rotation=secretsmanager.HostedRotation.postgre_sql_single_user(
                    vpc=network.vpc,
                    vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
                    security_groups=[network.lambda_security_group],
                ),
                automatically_after=Duration.days(config.database.secret_rotation_days),
            )
            for name, secret in (("AdminRotation", admin_attached), ("AppRotation", app_attached))
        ]

    def grant_connect(self, grantee: iam.IGrantable) -> None:
        """Let `grantee` connect through the proxy as the app user with an IAM token."""
        self.proxy.grant_connect(grantee, c.DB_APP_USER)
