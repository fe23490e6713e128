"""Narrow cdk-nag suppressions: each names the rule, the findings it covers, and why."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Union

from aws_cdk import Stack
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct

AppliesTo = Union[str, Mapping[str, str]]  # a finding, or {"regex": "/.../"}

BASIC_EXECUTION_ROLE = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
ENI_REASON = (
    "Lambda in a VPC must create and delete its network interfaces; EC2 does not support "
    "resource-level permissions for ec2:CreateNetworkInterface/Describe*"
    " (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#configuration-vpc-permissions)."
)
XRAY_REASON = "X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions."
# CDK's bucket/key grants: wildcard actions such as s3:GetObject* and kms:GenerateDataKey*.
GRANT_ACTIONS: AppliesTo = {"regex": "/^Action::(s3|kms):[A-Za-z]+\\*$/"}
# Objects inside one named bucket (optionally under one prefix): "<Bucket.Arn>/*".
BUCKET_OBJECTS: AppliesTo = {"regex": "/^Resource::(<[A-Za-z0-9]+\\.Arn>|arn:<AWS::Partition>:s3:::[^*]+)\\/([a-z]+\\/)?\\*$/"}


def _applies(item: AppliesTo):
    return RegexAppliesTo(regex=item["regex"]) if isinstance(item, Mapping) else item


def suppress(construct: IConstruct, rule: str, reason: str, applies_to: Sequence[AppliesTo] | None = None) -> None:
    """Suppress `rule` on `construct` and its children, for the named findings only when given."""
    NagSuppressions.add_resource_suppressions(
        construct,
        [NagPackSuppression(id=rule, reason=reason,
                            applies_to=[_applies(a) for a in applies_to] if applies_to else None)],
        apply_to_children=True,
    )


# Singleton functions CDK itself adds at stack level, by construct-id prefix.
_CDK_SINGLETONS = {
    "Custom::CDKBucketDeployment": "CDK BucketDeployment handler (copies dags/ into the MWAA bucket and each model.tar.gz into the model-artefact bucket)",
    "BucketNotificationsHandler": "CDK handler that configures the ingest bucket's event notifications",
    "AWS679f53fac002430cb0da5b7982bd2287": "CDK AwsCustomResource handler (reads the MSK bootstrap brokers)",
}


def suppress_cdk_singletons(stack: Stack) -> None:
    """Reasoned suppressions for the framework functions CDK adds; we do not control their code."""
    for child in stack.node.children:
        what = next((w for prefix, w in _CDK_SINGLETONS.items() if child.node.id.startswith(prefix)), None)
        if what is None:
            continue
        suppress(child, "AwsSolutions-IAM4", f"{what} uses the Lambda basic execution role.", [BASIC_EXECUTION_ROLE])
        suppress(child, "AwsSolutions-L1", f"{what}: CDK chooses and updates its runtime.")
        suppress(
            child,
            "AwsSolutions-IAM5",
            f"{what}: CDK's grants use object-level wildcards inside the asset and destination buckets "
            "and KMS data-key actions on our key.",
            [GRANT_ACTIONS, BUCKET_OBJECTS],
        )
