"""Key-policy statements that CDK adds for AWS services without naming whose requests they are.

CDK's state machine logging adds `kms:Decrypt*` for `delivery.logs.amazonaws.com` with no
condition: any account's log delivery could use the key. AWS's guidance for vended logs is to
limit such a statement to this account and its log resources with `aws:SourceAccount` and
`aws:SourceArn` (the confused-deputy conditions), which the service sends on every request
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-and-resource-policy.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
"""
from __future__ import annotations

import jsii
from aws_cdk import Aws, IAspect, Stack
from aws_cdk import aws_kms as kms
from constructs import IConstruct

# Service principals that act for this account's resources and send aws:SourceAccount/SourceArn.
_SOURCE_ARNS = {
    "delivery.logs.amazonaws.com": f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:*",
}


def _services(statement: dict) -> list[str]:
    principal = statement.get("Principal", {})
    service = principal.get("Service", []) if isinstance(principal, dict) else []
    return service if isinstance(service, list) else [service]


@jsii.implements(IAspect)
class ConditionServiceStatements:
    """Adds the confused-deputy conditions to every unconditioned key-policy statement of a
    service in `_SOURCE_ARNS` (an Aspect: it sees the statements every construct added)."""

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, kms.CfnKey):
            return
        document = Stack.of(node).resolve(node.key_policy)
        for index, statement in enumerate(document.get("Statement", [])):
            for service in _services(statement):
                if isinstance(service, str) and service in _SOURCE_ARNS and "Condition" not in statement:
                    node.add_property_override(f"KeyPolicy.Statement.{index}.Condition", {
                        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                        "ArnLike": {"aws:SourceArn": _SOURCE_ARNS[service]},
                    })
