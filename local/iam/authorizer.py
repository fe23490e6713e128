"""The stand-ins' IAM: every call a deployed role would make is authorized against the
synthesized template's own policies (identity, resource and key policies, with their
conditions), and every decision is recorded.

Who calls: each Lambda container signs with an access key of its function's role (local/lambda_dispatch.py
gives each container its credentials, as Lambda does); Step Functions' interpreter signs as the
state machine's role. `ADMIN_KEY` is the local harness itself (it creates the buckets, uploads
the files, reads results back), which no deployed role stands for: its calls are not checked.

What the services do on the caller's behalf is checked as the caller too, as AWS does: S3 asks KMS
for a data key (PutObject) or a decryption (GetObject) of an SSE-KMS bucket with the encryption
context `aws:s3:arn` (the bucket's ARN with S3 Bucket Keys)
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context);
Step Functions encrypts an execution's input with the caller's kms:GenerateDataKey and reads it
back with the state machine role's kms:Decrypt, under `aws:states:stateMachineArn`
(https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html).
"""
from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from local.iam.evaluator import Request
from local.iam.template import TemplatePolicies
from local.iam.wire import Call

ADMIN_KEY = "testing"
STATES_SERVICE_KEY = "ak"  # the key moto's Step Functions interpreter signs its task calls with


class AccessDenied(Exception):
    """A call the deployed role would be denied. `call` and `reason` say which and why."""

    def __init__(self, principal: str, call: Call, reason: str) -> None:
        self.principal, self.call, self.reason = principal, call, reason
        super().__init__(f"User: {principal} is not authorized to perform: {call.action} on resource: "
                         f"{call.resource} ({reason})")


@dataclass(frozen=True)
class Identity:
    role_arn: str
    label: str  # what the role is for, in the usage table (e.g. "function extract")
    state_machine_arn: Optional[str] = None  # set when the role is a state machine's


@dataclass(frozen=True)
class Decision:
    label: str
    role_arn: str
    action: str
    resource: str
    allowed: bool
    reason: str
    context: Mapping[str, Any] = field(default_factory=dict)  # the request's condition keys


class TemplateResources:
    """What the authorizer needs to know of the template's resources to add the KMS calls a
    service makes for the caller: which key encrypts each bucket and each state machine."""

    def __init__(self, template: Mapping[str, Any], policies: TemplatePolicies) -> None:
        self.bucket_keys: dict[str, tuple[str, bool]] = {}  # bucket name -> (key ARN, bucket key on)
        self.state_machine_keys: dict[str, str] = {}  # state machine ARN -> key ARN
        for logical_id, resource in template.get("Resources", {}).items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::S3::Bucket":
                for rule in props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
                    default = rule.get("ServerSideEncryptionByDefault", {})
                    if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
                        name = str(policies.resolve({"Ref": logical_id}))
                        self.bucket_keys[name] = (str(policies.resolve(default["KMSMasterKeyID"])),
                                                  bool(rule.get("BucketKeyEnabled")))
            elif resource["Type"] == "AWS::StepFunctions::StateMachine":
                config = props.get("EncryptionConfiguration", {})
                if config.get("Type") == "CUSTOMER_MANAGED_KMS_KEY":
                    arn = str(policies.resolve({"Ref": logical_id}))
                    self.state_machine_keys[arn] = str(policies.resolve(config["KmsKeyId"]))

    def kms_calls(self, call: Call, region: str, account: str) -> list[Call]:
        """The KMS calls the service makes with the caller's credentials to serve `call`."""
        service, _, operation = call.action.partition(":")
        if service == "s3" and call.resource.startswith("arn:aws:s3:::"):
            bucket, _, _ = call.resource[len("arn:aws:s3:::"):].partition("/")
            if bucket not in self.bucket_keys or operation not in _S3_KMS:
                return []
            key_arn, bucket_key = self.bucket_keys[bucket]
            context = {"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{bucket}" if bucket_key else call.resource,
                       "kms:ViaService": f"s3.{region}.amazonaws.com", "kms:CallerAccount": account}
            return [Call(action, key_arn, context) for action in _S3_KMS[operation]]
        if service == "states" and operation in _STATES_KMS:
            machine = _state_machine_of(call.resource)
            if machine not in self.state_machine_keys:
                return []
            return [Call(_STATES_KMS[operation], self.state_machine_keys[machine], self.states_context(machine, region, account))]
        return []

    @staticmethod
    def states_context(machine_arn: str, region: str, account: str) -> dict[str, str]:
        return {"kms:EncryptionContext:aws:states:stateMachineArn": machine_arn,
                "kms:ViaService": f"states.{region}.amazonaws.com", "kms:CallerAccount": account}


_S3_KMS = {"GetObject": ("kms:Decrypt",), "GetObjectVersion": ("kms:Decrypt",),
           "PutObject": ("kms:GenerateDataKey",)}
_STATES_KMS = {"StartExecution": "kms:GenerateDataKey", "StartSyncExecution": "kms:GenerateDataKey",
               "DescribeExecution": "kms:Decrypt", "GetExecutionHistory": "kms:Decrypt",
               "DescribeStateMachine": "kms:Decrypt"}


def _state_machine_of(arn: str) -> str:
    """arn:aws:states:r:a:execution:MACHINE:NAME -> arn:aws:states:r:a:stateMachine:MACHINE."""
    parts = arn.split(":")
    if len(parts) >= 7 and parts[5] in ("execution", "express"):
        return ":".join(parts[:5] + ["stateMachine", parts[6]])
    return arn


class Authorizer:
    """Authorizes the calls of registered access keys against `policies`; thread-safe."""

    def __init__(self, policies: TemplatePolicies, resources: TemplateResources, *, region: str, account: str) -> None:
        self.policies, self.resources = policies, resources
        self.region, self.account = region, account
        self._identities: dict[str, Identity] = {}
        self._lock = threading.Lock()
        self.decisions: list[Decision] = []

    def register(self, access_key: str, identity: Identity) -> None:
        with self._lock:
            self._identities[access_key] = identity

    def identity(self, access_key: Optional[str]) -> Optional[Identity]:
        return self._identities.get(access_key or "")

    def check(self, access_key: Optional[str], calls: Iterable[Call]) -> None:
        """Raise AccessDenied for the first call (or KMS call made for it) the caller's role may
        not make; the harness's own key passes. An unknown key is denied: a stand-in answers
        only the principals the template defines."""
        if access_key == ADMIN_KEY:
            return
        identity = self.identity(access_key)
        if identity is None:
            raise AccessDenied(f"access key {access_key}", next(iter(calls), Call("unknown", "*")),
                               "the access key belongs to no role of the template")
        for call in calls:
            extra = self.resources.kms_calls(call, self.region, self.account)
            if call.action == "lambda:InvokeFunction" and identity.state_machine_arn:
                # Running a task reads and writes the execution's data with the role's key use.
                key = self.resources.state_machine_keys.get(identity.state_machine_arn)
                if key:
                    context = self.resources.states_context(identity.state_machine_arn, self.region, self.account)
                    extra += [Call("kms:Decrypt", key, context), Call("kms:GenerateDataKey", key, context)]
            for one in (call, *extra):
                self._decide(identity, one)

    def _decide(self, identity: Identity, call: Call) -> None:
        context = {"aws:SecureTransport": True, "aws:PrincipalArn": identity.role_arn,
                   "aws:PrincipalAccount": self.account, "aws:RequestedRegion": self.region, **call.context}
        decision = self.policies.authorize(Request(principal=identity.role_arn, action=call.action,
                                                   resource=call.resource, context=context))
        with self._lock:
            self.decisions.append(Decision(identity.label, identity.role_arn, call.action, call.resource,
                                           decision.allowed, decision.reason, context))
        if not decision.allowed:
            raise AccessDenied(identity.role_arn, call, decision.reason)

    def denials(self) -> list[Decision]:
        with self._lock:
            return [d for d in self.decisions if not d.allowed]

    def usage(self) -> dict[tuple[str, str], dict[str, set[str]]]:
        """{(label, role ARN): {action: {resources}}} of every allowed call."""
        table: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        with self._lock:
            for d in self.decisions:
                if d.allowed:
                    table[(d.label, d.role_arn)][d.action].add(d.resource)
        return table
