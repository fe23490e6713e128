"""Every CloudWatch Logs group of the stack is encrypted with the pipeline's key, ours and the
ones CDK adds (function logs can hold object keys and extracted text). The key policy lets
CloudWatch Logs use the key for this account's log groups (cdk_app/storage.py)."""
from __future__ import annotations

import jsii
from aws_cdk import IAspect
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import IConstruct


@jsii.implements(IAspect)
class EncryptLogGroups:
    def __init__(self, key: kms.IKey) -> None:
        self._key = key

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, logs.CfnLogGroup) and node.kms_key_id is None:
            node.kms_key_id = self._key.key_arn
