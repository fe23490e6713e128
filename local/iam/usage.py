"""What a local run used of each role's permissions, and what the roles hold that nothing used.

`usage_table(authorizer)` is the Markdown table (role -> actions -> resources actually called)
written to docs/permissions.md by `python -m local permissions`; resources are generalised
where they name one object or one execution (`bucket/prefix/*`, `execution:<machine>:*`), so the
table stays the same from run to run. `unused_grants(...)` lists, per role, the granted
actions no call of the run needed and that no AWS service uses for the role either
(`SERVICE_USED`, each with its reason).
"""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping

from local.iam.authorizer import Authorizer

# Actions a role holds for the AWS service that runs it, not for our code's calls; the local
# run cannot see them used. Each with why.
SERVICE_USED: dict[str, str] = {
    "logs:CreateLogGroup": "Lambda writes the function's logs with its role",
    "logs:CreateLogStream": "Lambda writes the function's logs with its role",
    "logs:PutLogEvents": "Lambda writes the function's logs with its role",
    "xray:PutTraceSegments": "Lambda's X-Ray integration sends the function's traces with its role",
    "xray:PutTelemetryRecords": "Lambda's X-Ray integration sends the function's traces with its role",
    "xray:GetSamplingRules": "Step Functions' X-Ray tracing",
    "xray:GetSamplingTargets": "Step Functions' X-Ray tracing",
    "ec2:CreateNetworkInterface": "Lambda attaches the function to its VPC with its role",
    "ec2:DescribeNetworkInterfaces": "Lambda attaches the function to its VPC with its role",
    "ec2:DescribeSubnets": "Lambda attaches the function to its VPC with its role",
    "ec2:DeleteNetworkInterface": "Lambda attaches the function to its VPC with its role",
    "ec2:AssignPrivateIpAddresses": "Lambda attaches the function to its VPC with its role",
    "ec2:UnassignPrivateIpAddresses": "Lambda attaches the function to its VPC with its role",
    "logs:CreateLogDelivery": "Step Functions delivers the execution log with its role",
    "logs:GetLogDelivery": "Step Functions delivers the execution log with its role",
    "logs:UpdateLogDelivery": "Step Functions delivers the execution log with its role",
    "logs:DeleteLogDelivery": "Step Functions delivers the execution log with its role",
    "logs:ListLogDeliveries": "Step Functions delivers the execution log with its role",
    "logs:PutResourcePolicy": "Step Functions delivers the execution log with its role",
    "logs:DescribeResourcePolicies": "Step Functions delivers the execution log with its role",
    "logs:DescribeLogGroups": "Step Functions delivers the execution log with its role",
    "rds-db:connect": "the IAM database token: checked by RDS Proxy, which the local run replaces with a password",
    "kafka-cluster:Connect": "MSK IAM auth: the local broker (librdkafka mock) has no IAM",
    "kafka-cluster:DescribeTopic": "MSK IAM auth: the local broker has no IAM",
    "kafka-cluster:WriteData": "MSK IAM auth: the local broker has no IAM",
    "kafka-cluster:ReadData": "MSK IAM auth: the local broker has no IAM",
    "kafka-cluster:DescribeGroup": "MSK IAM auth: the local broker has no IAM",
    "kafka-cluster:AlterGroup": "MSK IAM auth: the local broker has no IAM",
    "kafka-cluster:DescribeCluster": "MSK IAM auth: the local broker has no IAM",
    "kafka:DescribeClusterV2": "the MSK event source mapping reads the cluster with the function's role",
    "kafka:GetBootstrapBrokers": "the MSK event source mapping reads the cluster with the function's role",
    "sqs:SendMessage": "Lambda sends failed asynchronous invocations to the DLQ with the function's role",
    "kafka:DescribeCluster": "the MSK event source mapping reads the cluster with the function's role",
    "kafka:ListScramSecrets": "the MSK event source mapping reads the cluster with the function's role",
    "kafka-cluster:DescribeClusterDynamicConfiguration": "the MSK event source mapping reads the cluster",
    "ec2:DescribeVpcs": "the MSK event source mapping reaches the cluster's VPC with the function's role",
    "ec2:DescribeSecurityGroups": "the MSK event source mapping reaches the cluster's VPC with the function's role",
}

_OBJECT = re.compile(r"^(arn:aws:s3:::[^/]+)/(.+)$")
_EXECUTION = re.compile(r"^(arn:aws:states:[^:]+:[^:]+:execution:[^:]+):.+$")


def general(resource: str) -> str:
    """One object -> bucket/first-prefix/* (or bucket/*); one execution -> execution:<machine>:*."""
    match = _OBJECT.match(resource)
    if match:
        bucket, key = match.groups()
        return f"{bucket}/{key.split('/', 1)[0]}/*" if "/" in key else f"{bucket}/*"
    match = _EXECUTION.match(resource)
    if match:
        return f"{match.group(1)}:*"
    return resource


def usage_table(authorizer: Authorizer) -> str:
    """Markdown: one row per (role, action) a run used, with the resources it used it on."""
    rows = ["| role | action | resources |", "|---|---|---|"]
    for (label, role_arn), actions in sorted(authorizer.usage().items()):
        for action, resources in sorted(actions.items()):
            used = sorted({general(r) for r in resources})
            rows.append(f"| {label} (`{role_arn.rsplit('/', 1)[-1]}`) | `{action}` | "
                        + "<br>".join(f"`{r}`" for r in used) + " |")
    return "\n".join(rows) + "\n"


def _actions(statement: Mapping) -> list[str]:
    action = statement.get("Action", [])
    return action if isinstance(action, list) else [action]


def unused_grants(authorizer: Authorizer, roles: Iterable[str]) -> dict[str, list[str]]:
    """{role ARN: granted action patterns that no allowed call of the run matched and no service
    uses (SERVICE_USED)} for each of `roles`."""
    used: dict[str, set[str]] = {}
    for (_, role_arn), actions in authorizer.usage().items():
        used.setdefault(role_arn, set()).update(a.lower() for a in actions)
    unused: dict[str, list[str]] = {}
    for role_arn in roles:
        for _, document in authorizer.policies.identity_policies(role_arn):
            statements = document.get("Statement", [])
            for statement in statements if isinstance(statements, list) else [statements]:
                if statement.get("Effect") != "Allow":
                    continue
                for pattern in _actions(statement):
                    if pattern in SERVICE_USED:
                        continue
                    if not any(fnmatch.fnmatchcase(a, pattern.lower()) for a in used.get(role_arn, ())):
                        unused.setdefault(role_arn, []).append(pattern)
    return {role: sorted(set(patterns)) for role, patterns in unused.items()}
