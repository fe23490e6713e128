"""Network: a VPC with private subnets only, and the endpoints that make a NAT unnecessary."""
from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_app.config import PipelineConfig
from cdk_app.house.log_retention import retention


class Network(Construct):
    """Two AZs of isolated subnets; S3 gateway and interface endpoints for the services the
    functions and MWAA call. Exposes `vpc`,
    `lambda_security_group` (every function) and `endpoint_security_group`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=20)
            ],
        )
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))

        self.lambda_security_group = ec2.SecurityGroup(
            self, "FunctionsSg", vpc=self.vpc, description="Pipeline Lambda functions", allow_all_outbound=False
        )
        self.endpoint_security_group = ec2.SecurityGroup(
            self, "EndpointsSg", vpc=self.vpc, description="Interface VPC endpoints", allow_all_outbound=False
        )
        # Callers open the endpoints to their own groups (functions here; MSK pollers, MWAA).
        self.endpoint_security_group.add_ingress_rule(
            self.lambda_security_group, ec2.Port.tcp(443), "HTTPS from the functions"
        )
        # HTTPS out may go anywhere: the subnets have no route to the internet, so it can only
        # reach the interface endpoints and S3 through the gateway endpoint (whose prefix
        # list id is region-specific and unknown at synth time).
        self.lambda_security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "AWS APIs via VPC endpoints (no internet route)"
        )
        self.s3_endpoint = self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)

        # Only what a caller in these subnets calls (an endpoint nothing calls costs about
        # $15 a month for nothing). Not STS or Lambda: the Kafka event source mapping runs in
        # provisioned mode, which needs no PrivateLink endpoints
        # (https://docs.aws.amazon.com/lambda/latest/dg/with-msk-cluster-network.html), and no
        # function calls STS or Lambda. Not Logs, X-Ray or KMS for the functions: Lambda ships
        # their logs and traces, and S3 / Step Functions call KMS on the caller's behalf.
        services = {
            # Processing steps call endpoints; the dispatcher starts executions.
            "SageMakerRuntime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
            "StepFunctions": ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
            # The migration reads the admin secret.
            "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
        }
        if config.backfill.enabled and config.backfill.mwaa:
            # MWAA in private subnets without a NAT: its workers write logs and use the key
            # themselves (https://docs.aws.amazon.com/mwaa/latest/userguide/vpc-vpe-create-access.html).
            services.update(
                {
                    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
                    "Kms": ec2.InterfaceVpcEndpointAwsService.KMS,
                    "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
                    "Monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
                    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
                    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
                    "AirflowApi": ec2.InterfaceVpcEndpointAwsService.AIRFLOW_API,
                    "AirflowEnv": ec2.InterfaceVpcEndpointAwsService.AIRFLOW_ENV,
                    "AirflowOps": ec2.InterfaceVpcEndpointAwsService.AIRFLOW_OPS,
                }
            )
        self.interface_endpoints = {
            name: self.vpc.add_interface_endpoint(
                name,
                service=service,
                private_dns_enabled=True,
                security_groups=[self.endpoint_security_group],
                open=False,
            )
            for name, service in services.items()
        }

