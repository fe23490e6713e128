"""The policies of a synthesized CloudFormation template, resolved to the names and ARNs the
local run uses, and the decision for one request against them.

`TemplatePolicies.from_template(template, ...)` resolves the template's intrinsic functions:

- ``Ref``: a resource's value from ``physical`` (what Ref returns: a name, or for types whose Ref
  is an ARN or a URL either that or a bare name), else its name property (``BucketName``,
  ``FunctionName``, ``RoleName``...), else a deterministic default derived from the logical id
  (lower case where AWS requires it: S3 buckets); a ``SecretTargetAttachment`` refs its secret;
  parameters give their ``Default``; pseudo parameters ``AWS::AccountId``, ``AWS::Region``,
  ``AWS::Partition``, ``AWS::URLSuffix``, ``AWS::StackName``, ``AWS::StackId``, ``AWS::NoValue``.
- ``Fn::GetAtt``: ``attributes`` first, else built from the physical name for: IAM Role
  (Arn, RoleId), IAM ManagedPolicy (PolicyArn), Lambda Function (Arn) and Url (FunctionArn,
  FunctionUrl), LayerVersion, S3 Bucket (Arn, DomainName, RegionalDomainName), SQS Queue (Arn,
  QueueName, QueueUrl), SNS Topic (TopicArn, TopicName), KMS Key (Arn, KeyId), Step Functions
  StateMachine (Arn, Name), Secrets Manager Secret (Id), SageMaker Endpoint, EndpointConfig,
  Model, InferenceComponent (their ARNs and names; SageMaker ARNs are lower case), Logs LogGroup
  (Arn), DynamoDB Table (Arn), MSK Cluster/ServerlessCluster (Arn), RDS DBCluster (DBClusterArn),
  RDS DBProxy (DBProxyArn), MWAA Environment (Arn); anything else becomes the placeholder
  ``unresolved:<LogicalId>.<Attribute>``, which matches no real ARN.
- ``Fn::Join``, ``Fn::Sub`` (string and [string, variables]), ``Fn::Select``, ``Fn::Split``,
  ``Fn::If`` over the ``Conditions`` section (``Fn::Equals``/``Not``/``And``/``Or``/``Condition``),
  ``Fn::FindInMap``, ``Fn::GetAZs`` (``<region>a``..``c``), ``Fn::Base64`` (the text itself),
  ``Fn::ToJsonString``, ``Fn::ImportValue`` (placeholder ``unresolved:import:<name>``).

Policies read: identity (``AWS::IAM::Role`` ``Policies``; ``AWS::IAM::Policy`` and
``AWS::IAM::ManagedPolicy`` attached through ``Roles``; ``ManagedPolicyArns``, of which the
template's own managed policies and the AWS-managed AWSLambdaBasicExecutionRole,
AWSLambdaVPCAccessExecutionRole and AWSLambdaMSKExecutionRole are known; any other AWS-managed
policy is kept, labelled unknown, allowing nothing), resource (``AWS::S3::BucketPolicy`` for the
bucket and its objects, ``AWS::SQS::QueuePolicy``, ``AWS::SNS::TopicPolicy``,
``AWS::Lambda::Permission`` turned into statements, ``AWS::SecretsManager::ResourcePolicy``),
key (``AWS::KMS::Key`` ``KeyPolicy``) and trust (``AWS::IAM::Role``
``AssumeRolePolicyDocument``, for ``sts:AssumeRole*``). Resources whose ``Condition`` is false are
left out.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any, Optional

from local.iam.evaluator import POLICY_VERSION, Decision, Request, evaluate

__all__ = ["AWS_MANAGED_POLICIES", "TemplatePolicies", "UNRESOLVED"]

UNRESOLVED = "unresolved:"  # prefix of every value this module cannot resolve

# AWS-managed policies the template's roles attach, as published in the AWS Managed Policy
# reference (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/); keyed by the ARN's
# path after ``policy/``.
AWS_MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    "service-role/AWSLambdaBasicExecutionRole": {
        "Version": POLICY_VERSION,
        "Statement": [{"Effect": "Allow", "Resource": "*",
                       "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]}],
    },
    "service-role/AWSLambdaVPCAccessExecutionRole": {
        "Version": POLICY_VERSION,
        "Statement": [{"Sid": "AWSLambdaVPCAccessExecutionPermissions", "Effect": "Allow", "Resource": "*",
                       "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                                  "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                                  "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface",
                                  "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]}],
    },
    "service-role/AWSLambdaMSKExecutionRole": {
        "Version": POLICY_VERSION,
        "Statement": [{"Effect": "Allow", "Resource": "*",
                       "Action": ["kafka:DescribeCluster", "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers",
                                  "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                                  "ec2:DescribeVpcs", "ec2:DeleteNetworkInterface", "ec2:DescribeSubnets",
                                  "ec2:DescribeSecurityGroups", "logs:CreateLogGroup",
                                  "logs:CreateLogStream", "logs:PutLogEvents"]}],
    },
}

_NO_VALUE = object()  # AWS::NoValue: dropped from the list or mapping that holds it

# type -> (the property that names it, the longest name AWS accepts, lower-case names)
_NAMES: dict[str, tuple[Optional[str], int, bool]] = {
    "AWS::IAM::Role": ("RoleName", 64, False),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName", 128, False),
    "AWS::IAM::Policy": ("PolicyName", 128, False),
    "AWS::Lambda::Function": ("FunctionName", 64, False),
    "AWS::Lambda::LayerVersion": ("LayerName", 64, False),
    "AWS::S3::Bucket": ("BucketName", 63, True),
    "AWS::SQS::Queue": ("QueueName", 80, False),
    "AWS::SNS::Topic": ("TopicName", 256, False),
    "AWS::StepFunctions::StateMachine": ("StateMachineName", 80, False),
    "AWS::SecretsManager::Secret": ("Name", 256, False),
    "AWS::SageMaker::Endpoint": ("EndpointName", 63, False),
    "AWS::SageMaker::EndpointConfig": ("EndpointConfigName", 63, False),
    "AWS::SageMaker::Model": ("ModelName", 63, False),
    "AWS::SageMaker::InferenceComponent": ("InferenceComponentName", 63, False),
    "AWS::Logs::LogGroup": ("LogGroupName", 512, False),
    "AWS::DynamoDB::Table": ("TableName", 255, False),
    "AWS::MSK::Cluster": ("ClusterName", 64, False),
    "AWS::MSK::ServerlessCluster": ("ClusterName", 64, False),
    "AWS::RDS::DBCluster": ("DBClusterIdentifier", 63, True),
    "AWS::RDS::DBInstance": ("DBInstanceIdentifier", 63, True),
    "AWS::RDS::DBProxy": ("DBProxyName", 60, True),
    "AWS::MWAA::Environment": ("Name", 80, False),
    "AWS::KMS::Alias": ("AliasName", 256, False),
}
# Types whose Ref is an ARN (or a URL) rather than a name.
_REF_IS_ARN = {"AWS::IAM::ManagedPolicy", "AWS::Lambda::LayerVersion", "AWS::SNS::Topic",
               "AWS::StepFunctions::StateMachine", "AWS::SecretsManager::Secret", "AWS::SageMaker::Endpoint",
               "AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Model", "AWS::SageMaker::InferenceComponent",
               "AWS::MSK::Cluster", "AWS::MSK::ServerlessCluster"}


# ARN of a covered resource type from its name (and, for a few, a stable stand-in for the part
# AWS generates). SageMaker writes names in its ARNs in lower case; Secrets Manager appends six
# random characters to a secret's name.
_ARN_FORMATS = {
    "AWS::IAM::Role": "arn:{p}:iam::{a}:role{path}{name}",
    "AWS::IAM::ManagedPolicy": "arn:{p}:iam::{a}:policy{path}{name}",
    "AWS::Lambda::LayerVersion": "arn:{p}:lambda:{r}:{a}:layer:{name}:1",
    "AWS::S3::Bucket": "arn:{p}:s3:::{name}",
    "AWS::SQS::Queue": "arn:{p}:sqs:{r}:{a}:{name}",
    "AWS::SNS::Topic": "arn:{p}:sns:{r}:{a}:{name}",
    "AWS::StepFunctions::StateMachine": "arn:{p}:states:{r}:{a}:stateMachine:{name}",
    "AWS::SecretsManager::Secret": "arn:{p}:secretsmanager:{r}:{a}:secret:{name}-{digest6}",
    "AWS::SageMaker::Endpoint": "arn:{p}:sagemaker:{r}:{a}:endpoint/{lower}",
    "AWS::SageMaker::EndpointConfig": "arn:{p}:sagemaker:{r}:{a}:endpoint-config/{lower}",
    "AWS::SageMaker::Model": "arn:{p}:sagemaker:{r}:{a}:model/{lower}",
    "AWS::SageMaker::InferenceComponent": "arn:{p}:sagemaker:{r}:{a}:inference-component/{lower}",
    "AWS::Logs::LogGroup": "arn:{p}:logs:{r}:{a}:log-group:{name}:*",
    "AWS::DynamoDB::Table": "arn:{p}:dynamodb:{r}:{a}:table/{name}",
    "AWS::MSK::Cluster": "arn:{p}:kafka:{r}:{a}:cluster/{name}/{uuid}-s1",
    "AWS::MSK::ServerlessCluster": "arn:{p}:kafka:{r}:{a}:cluster/{name}/{uuid}-s1",
    "AWS::RDS::DBCluster": "arn:{p}:rds:{r}:{a}:cluster:{name}",
    "AWS::RDS::DBProxy": "arn:{p}:rds:{r}:{a}:db-proxy:prx-{digest17}",
    "AWS::MWAA::Environment": "arn:{p}:airflow:{r}:{a}:environment/{name}",
}


class TemplatePolicies:
    """Every policy of one template, resolved; see the module docstring for what is covered."""

    def __init__(self, template: Mapping[str, Any], *, account: str, region: str, partition: str,
                 stack_name: str, physical: Mapping[str, str], attributes: Mapping[tuple[str, str], str]) -> None:
        self.template = template
        self.account, self.region, self.partition, self.stack_name = account, region, partition, stack_name
        self._physical, self._attributes = dict(physical), dict(attributes)
        self._resources: dict[str, Mapping[str, Any]] = dict(template.get("Resources", {}))
        self._conditions: dict[str, bool] = {}
        self._resources = {lid: r for lid, r in self._resources.items()
                           if "Condition" not in r or self.condition(r["Condition"])}
        self._roles: dict[str, str] = {}  # logical id -> ARN
        self._identity: dict[str, list[tuple[str, dict]]] = {}  # role logical id -> policies
        self._resource_policies: dict[str, tuple[str, dict]] = {}  # resource ARN -> (label, document)
        self._key_policies: dict[str, tuple[str, dict]] = {}
        self._trust: dict[str, tuple[str, dict]] = {}  # role ARN -> trust policy
        self._read_policies()

    @classmethod
    def from_template(cls, template: Mapping[str, Any], *, account: str = "123456789012", region: str = "us-east-1",
                      partition: str = "aws", physical: Mapping[str, str] = {},
                      attributes: Mapping[tuple[str, str], str] = {}, stack_name: str = "stack") -> TemplatePolicies:
        """Read `template` (the synthesized JSON as a dict).

        physical: {logical id: what Ref returns} for resources whose local name is fixed.
        attributes: {(logical id, attribute): value} overriding what Fn::GetAtt would build.
        Raises KeyError on a Ref or GetAtt to a logical id the template lacks, ValueError on an
        intrinsic function it does not know.
        """
        return cls(template, account=account, region=region, partition=partition, stack_name=stack_name,
                   physical=physical, attributes=attributes)

    # ------------------------------------------------------------------ public lookups

    def role_arn(self, logical_id: str) -> str:
        """The ARN of the AWS::IAM::Role `logical_id`. Raises KeyError if it is no role."""
        if self._resources.get(logical_id, {}).get("Type") != "AWS::IAM::Role":
            raise KeyError(f"{logical_id} is not an AWS::IAM::Role of the template")
        return str(self.resolve({"Fn::GetAtt": [logical_id, "Arn"]}))

    def roles(self) -> dict[str, str]:
        """{logical id: role ARN} of every role."""
        return dict(self._roles)

    def identity_policies(self, role_arn: str) -> list[tuple[str, dict]]:
        """[(label, document)] attached to the role `role_arn` (or a session of it); [] for a
        principal the template does not define."""
        logical_id = self._role_of(role_arn)
        return list(self._identity.get(logical_id, [])) if logical_id else []

    def resource_policy(self, resource_arn: str) -> Optional[tuple[str, dict]]:
        """(label, document) of the policy on `resource_arn`: a bucket's for the bucket and its
        objects, a queue's, a topic's, a function's (from its Lambda permissions), a secret's, a
        key's key policy, a role's trust policy; None where there is none."""
        if resource_arn in self._key_policies:
            return self._key_policies[resource_arn]
        if resource_arn in self._trust:
            return self._trust[resource_arn]
        return self._resource_policies.get(self._policy_holder(resource_arn))

    def key_policy(self, key_arn: str) -> Optional[tuple[str, dict]]:
        """(label, document) of the key policy of `key_arn`; None for a key the template lacks."""
        return self._key_policies.get(key_arn)

    def authorize(self, request: Request) -> Decision:
        """Decide `request`: the caller's identity policies (none for a service principal), and
        the resource's policy, with key-policy semantics for KMS keys and role trust policies."""
        identity = [] if not request.principal.startswith("arn:") else self.identity_policies(request.principal)
        if request.resource in self._key_policies:
            return evaluate(request, identity, self._key_policies[request.resource], key_policy=True)
        if request.action.lower().startswith("sts:assumerole") and request.resource in self._trust:
            # Trust policies, like key policies, must allow by themselves
            # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
            return evaluate(request, identity, self._trust[request.resource], key_policy=True, kind="trust policy")
        if request.resource.startswith(f"arn:{self.partition}:kms:"):
            return evaluate(request, identity, None, key_policy=True)  # a key the template lacks
        return evaluate(request, identity, self._resource_policies.get(self._policy_holder(request.resource)))

    # ------------------------------------------------------------------ intrinsic functions

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function resolved (AWS::NoValue entries dropped)."""
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def condition(self, name: str) -> bool:
        """The value of the template condition `name`. Raises KeyError if it has none."""
        if name not in self._conditions:
            self._conditions[name] = bool(self._resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self._resolve(item) for item in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, argument), = value.items()
            if name == "Ref":
                return self._ref(argument)
            if name == "Condition" and isinstance(argument, str):
                return self.condition(argument)
            if name.startswith("Fn::"):
                return self._function(name, argument)
        resolved = {k: self._resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _function(self, name: str, argument: Any) -> Any:
        if name == "Fn::GetAtt":
            logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
            return self._get_att(logical_id, str(self._resolve(attribute)))
        if name == "Fn::Join":
            separator, items = argument
            return str(separator).join(_text(v) for v in self._resolve(items))
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::Select":
            index, items = self._resolve(argument)
            return items[int(index)]
        if name == "Fn::Split":
            separator, text = self._resolve(argument)
            return str(text).split(separator)
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self._resolve(when_true if self.condition(condition) else when_false)
        if name == "Fn::Equals":
            left, right = self._resolve(argument)
            return _text(left) == _text(right)
        if name == "Fn::Not":
            return not self._resolve(argument)[0]
        if name == "Fn::And":
            return all(self._resolve(argument))
        if name == "Fn::Or":
            return any(self._resolve(argument))
        if name == "Fn::FindInMap":
            mapping, top, second = (str(v) for v in self._resolve(argument[:3]))
            return self.template["Mappings"][mapping][top][second]
        if name == "Fn::GetAZs":
            region = self._resolve(argument) or self.region
            return [f"{region}{zone}" for zone in "abc"]
        if name == "Fn::ImportValue":
            return f"{UNRESOLVED}import:{self._resolve(argument)}"
        if name == "Fn::Base64":
            return self._resolve(argument)
        if name == "Fn::ToJsonString":
            return json.dumps(self._resolve(argument), separators=(",", ":"))
        if name == "Fn::Cidr":
            return f"{UNRESOLVED}cidr"
        raise ValueError(f"intrinsic function {name} is not supported")

    def _sub(self, argument: Any) -> str:
        """Fn::Sub: ${Name}, ${Logical.Attr}, ${AWS::Pseudo}; ${!Literal} stays ${Literal}."""
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {k: self._resolve(v) for k, v in variables.items()}
        out, position = [], 0
        while True:
            start = text.find("${", position)
            if start < 0:
                out.append(text[position:])
                return "".join(out)
            end = text.find("}", start)
            out.append(text[position:start])
            body = text[start + 2:end]
            if body.startswith("!"):
                out.append("${" + body[1:] + "}")
            elif body in values:
                out.append(_text(values[body]))
            elif "." in body and not body.startswith("AWS::"):
                logical_id, attribute = body.split(".", 1)
                out.append(_text(self._get_att(logical_id, attribute)))
            else:
                out.append(_text(self._ref(body)))
            position = end + 1

    def _ref(self, name: str) -> Any:
        pseudo = {"AWS::AccountId": self.account, "AWS::Region": self.region, "AWS::Partition": self.partition,
                  "AWS::URLSuffix": "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com",
                  "AWS::StackName": self.stack_name, "AWS::NoValue": _NO_VALUE,
                  "AWS::StackId": f"arn:{self.partition}:cloudformation:{self.region}:{self.account}:stack/"
                                  f"{self.stack_name}/{uuid.uuid5(uuid.NAMESPACE_URL, self.stack_name)}",
                  "AWS::NotificationARNs": []}
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            parameter = self.template["Parameters"][name]
            return parameter.get("Default", f"{UNRESOLVED}parameter:{name}")
        resource = self.template["Resources"][name]  # KeyError: a Ref to nothing
        kind = resource["Type"]
        if kind == "AWS::SecretsManager::SecretTargetAttachment":
            return self._resolve(resource["Properties"]["SecretId"])
        if kind in _REF_IS_ARN:
            return self._arn(name)
        if kind == "AWS::SQS::Queue":
            return self._queue_url(name)
        if kind == "AWS::KMS::Key":  # Ref is the key id
            return self._physical.get(name, "").rsplit("/", 1)[-1] or self._key_id(name)
        return self._name(name)

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        if (logical_id, attribute) in self._attributes:
            return self._attributes[(logical_id, attribute)]
        resource = self.template["Resources"][logical_id]  # KeyError: a GetAtt of nothing
        kind = resource["Type"]
        props = resource.get("Properties", {})
        r = self.region
        if attribute in ("Arn", "TopicArn", "PolicyArn", "StateMachineArn", "DBClusterArn", "DBProxyArn",
                         "EndpointArn", "InferenceComponentArn", "ModelArn", "EndpointConfigArn",
                         "LayerVersionArn"):
            arn = self._arn(logical_id)
            if arn is not None:
                return arn
        if kind == "AWS::SQS::Queue":
            if attribute == "QueueName":
                return self._name(logical_id)
            if attribute == "QueueUrl":
                return self._queue_url(logical_id)
        if kind == "AWS::SNS::Topic" and attribute == "TopicName":
            return self._arn(logical_id).rsplit(":", 1)[-1]
        if kind == "AWS::StepFunctions::StateMachine" and attribute == "Name":
            return self._arn(logical_id).rsplit(":", 1)[-1]
        if kind == "AWS::KMS::Key" and attribute == "KeyId":
            return self._ref(logical_id)
        if kind == "AWS::SecretsManager::Secret" and attribute == "Id":
            return self._arn(logical_id)
        if kind == "AWS::S3::Bucket":
            bucket = self._name(logical_id)
            if attribute == "DomainName":
                return f"{bucket}.s3.amazonaws.com"
            if attribute == "RegionalDomainName":
                return f"{bucket}.s3.{r}.amazonaws.com"
        if kind == "AWS::Lambda::Url":
            if attribute == "FunctionArn":
                return self._resolve(props["TargetFunctionArn"])
            if attribute == "FunctionUrl":
                return f"https://{_digest(logical_id, 32).lower()}.lambda-url.{r}.on.aws/"
        if kind == "AWS::IAM::Role" and attribute == "RoleId":
            return "AROA" + _digest(logical_id, 17)
        if kind.startswith("AWS::SageMaker::") and attribute in ("EndpointName", "InferenceComponentName",
                                                                  "ModelName", "EndpointConfigName"):
            return self._name(logical_id)
        return f"{UNRESOLVED}{logical_id}.{attribute}"

    def _name(self, logical_id: str) -> str:
        """The physical name: `physical`, else the name property, else a deterministic default
        (AWS's generated names are `<stack>-<logical id>-<random>`, within the type's length)."""
        if logical_id in self._physical:
            value = self._physical[logical_id]
            if value.startswith("arn:"):
                return _last_name(value)
            if value.startswith("https://"):  # a queue URL
                return value.rstrip("/").rsplit("/", 1)[-1]
            return value
        resource = self.template["Resources"][logical_id]
        name_property, limit, lower = _NAMES.get(resource["Type"], (None, 64, False))
        props = resource.get("Properties", {})
        if name_property and name_property in props:
            return _text(self._resolve(props[name_property]))
        suffix = "-" + _digest(logical_id, 12)
        name = f"{self.stack_name}-{logical_id}"[: limit - len(suffix)] + suffix
        return name.lower() if lower else name

    def _arn(self, logical_id: str) -> Optional[str]:
        """The ARN of a resource of a covered type, or None."""
        resource = self.template["Resources"][logical_id]
        kind = resource["Type"]
        given = self._physical.get(logical_id, "")
        if given.startswith("arn:"):
            return given
        p, r, a = self.partition, self.region, self.account
        props = resource.get("Properties", {})
        if kind == "AWS::KMS::Key":
            return f"arn:{p}:kms:{r}:{a}:key/{self._ref(logical_id)}"
        name = self._name(logical_id)
        path = self._path(props)
        if kind == "AWS::Lambda::Function" or kind in _ARN_FORMATS:
            return _ARN_FORMATS.get(kind, "arn:{p}:lambda:{r}:{a}:function:{name}").format(
                p=p, r=r, a=a, name=name, path=path, lower=name.lower(), digest6=_digest(logical_id, 6),
                digest17=_digest(logical_id, 17).lower(), uuid=uuid.uuid5(uuid.NAMESPACE_URL, logical_id))
        return None

    def _path(self, props: Mapping[str, Any]) -> str:
        path = _text(self._resolve(props.get("Path", "/")))
        return path if path.endswith("/") else path + "/"

    def _queue_url(self, logical_id: str) -> str:
        given = self._physical.get(logical_id, "")
        if given.startswith("https://"):
            return given
        return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self._name(logical_id)}"

    def _key_id(self, logical_id: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.stack_name}/{logical_id}"))

    # ------------------------------------------------------------------ reading the policies

    def _read_policies(self) -> None:
        role_names: dict[str, str] = {}  # role name -> logical id
        for logical_id, resource in self._resources.items():
            if resource["Type"] == "AWS::IAM::Role":
                arn = self.role_arn(logical_id)
                self._roles[logical_id] = arn
                role_names[arn.rsplit("/", 1)[-1]] = logical_id
                self._identity[logical_id] = []
        managed = {}  # template managed-policy ARN -> (label, document)
        for logical_id, resource in self._resources.items():
            if resource["Type"] == "AWS::IAM::ManagedPolicy":
                managed[self._arn(logical_id)] = (logical_id, self._document(resource["Properties"]["PolicyDocument"]))

        for logical_id, resource in self._resources.items():
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::IAM::Role":
                arn = self._roles[logical_id]
                for inline in props.get("Policies", []):
                    name = _text(self._resolve(inline["PolicyName"]))
                    self._identity[logical_id].append((f"{logical_id}/{name}", self._document(inline["PolicyDocument"])))
                for policy_arn in self.resolve(props.get("ManagedPolicyArns", [])):
                    self._identity[logical_id].append(managed.get(policy_arn) or _aws_managed(policy_arn))
                if "AssumeRolePolicyDocument" in props:
                    self._trust[arn] = (logical_id, self._document(props["AssumeRolePolicyDocument"]))
            elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                document = self._document(props["PolicyDocument"])
                for role in self.resolve(props.get("Roles", [])):
                    role_id = role_names.get(_last_name(str(role)))
                    if role_id is not None:
                        self._identity[role_id].append((logical_id, document))
            elif kind == "AWS::S3::BucketPolicy":
                bucket = _text(self.resolve(props["Bucket"]))
                self._resource_policies[f"arn:{self.partition}:s3:::{bucket}"] = (
                    logical_id, self._document(props["PolicyDocument"]))
            elif kind == "AWS::SQS::QueuePolicy":
                document = self._document(props["PolicyDocument"])
                for url in self.resolve(props.get("Queues", [])):
                    self._resource_policies[self._queue_arn(str(url))] = (logical_id, document)
            elif kind == "AWS::SNS::TopicPolicy":
                document = self._document(props["PolicyDocument"])
                for topic in self.resolve(props.get("Topics", [])):
                    self._resource_policies[str(topic)] = (logical_id, document)
            elif kind == "AWS::SecretsManager::ResourcePolicy":
                secret = self._secret_arn(_text(self.resolve(props["SecretId"])))
                self._resource_policies[secret] = (logical_id, self._document(props["ResourcePolicy"]))
            elif kind == "AWS::KMS::Key" and "KeyPolicy" in props:
                self._key_policies[self._arn(logical_id)] = (logical_id, self._document(props["KeyPolicy"]))
            elif kind == "AWS::Lambda::Permission":
                self._add_lambda_permission(logical_id, props)

    def _document(self, document: Any) -> dict:
        resolved = self.resolve(document)
        if isinstance(resolved, str):  # some templates embed the policy as a JSON string
            resolved = json.loads(resolved)
        return resolved

    def _add_lambda_permission(self, logical_id: str, props: Mapping[str, Any]) -> None:
        """An AWS::Lambda::Permission as the statement Lambda adds to the function's policy
        (https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html)."""
        function_arn = self._function_arn(_text(self.resolve(props["FunctionName"])))
        principal = _text(self.resolve(props["Principal"]))
        if principal == "*":
            principal_element: Any = "*"
        elif principal.endswith(".amazonaws.com") or principal.endswith(".amazonaws.com.cn"):
            principal_element = {"Service": principal}
        else:
            principal_element = {"AWS": principal}
        condition: dict[str, dict[str, str]] = {}
        if "SourceArn" in props:
            condition.setdefault("ArnLike", {})["aws:SourceArn"] = _text(self.resolve(props["SourceArn"]))
        if "SourceAccount" in props:
            condition.setdefault("StringEquals", {})["aws:SourceAccount"] = _text(self.resolve(props["SourceAccount"]))
        if "PrincipalOrgID" in props:
            condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = _text(self.resolve(props["PrincipalOrgID"]))
        if "FunctionUrlAuthType" in props:
            condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = _text(
                self.resolve(props["FunctionUrlAuthType"]))
        statement: dict[str, Any] = {"Sid": logical_id, "Effect": "Allow", "Principal": principal_element,
                                     "Action": _text(self.resolve(props["Action"])), "Resource": function_arn}
        if condition:
            statement["Condition"] = condition
        label, document = self._resource_policies.setdefault(
            function_arn, (f"function policy of {function_arn.rsplit(':', 1)[-1]}",
                           {"Version": POLICY_VERSION, "Statement": []}))
        document["Statement"].append(statement)

    def _function_arn(self, name: str) -> str:
        """A function's ARN from its name, partial ARN or ARN (unqualified)."""
        if name.startswith("arn:"):
            return ":".join(name.split(":")[:7])
        parts = name.split(":")
        if len(parts) >= 3 and parts[1] == "function":  # ACCOUNT:function:NAME
            return f"arn:{self.partition}:lambda:{self.region}:{parts[0]}:function:{parts[2]}"
        return f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{parts[0]}"

    def _queue_arn(self, url: str) -> str:
        if url.startswith("arn:"):
            return url
        *_, account, name = url.rstrip("/").split("/")
        host_region = url.split("//", 1)[-1].split(".")[1] if url.startswith("https://sqs.") else self.region
        return f"arn:{self.partition}:sqs:{host_region}:{account}:{name}"

    def _secret_arn(self, secret: str) -> str:
        if secret.startswith("arn:"):
            return secret
        for logical_id, resource in self._resources.items():
            if resource["Type"] == "AWS::SecretsManager::Secret" and self._name(logical_id) == secret:
                return self._arn(logical_id)
        return f"arn:{self.partition}:secretsmanager:{self.region}:{self.account}:secret:{secret}"

    def _policy_holder(self, resource_arn: str) -> str:
        """The ARN whose policy governs `resource_arn`: S3 objects -> their bucket, a Lambda
        function's qualified ARN -> the function, a secret's partial ARN -> the secret."""
        s3 = f"arn:{self.partition}:s3:::"
        if resource_arn.startswith(s3):
            return s3 + resource_arn[len(s3):].split("/", 1)[0]
        parts = resource_arn.split(":")
        if len(parts) > 7 and parts[2] == "lambda" and parts[5] == "function":
            return ":".join(parts[:7])
        return resource_arn

    def _role_of(self, principal_arn: str) -> Optional[str]:
        for logical_id, arn in self._roles.items():
            if arn == principal_arn:
                return logical_id
        parts = principal_arn.split(":", 5)
        if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
            name = parts[5].split("/")[1]
            for logical_id, arn in self._roles.items():
                if arn.rsplit("/", 1)[-1] == name and arn.split(":")[4] == parts[4]:
                    return logical_id
        return None


def _aws_managed(policy_arn: str) -> tuple[str, dict]:
    """(label, document) of an AWS-managed policy: the known ones, else an empty document
    labelled unknown (it allows nothing, so a call relying on it is denied locally)."""
    key = policy_arn.split(":policy/", 1)[-1]
    if key in AWS_MANAGED_POLICIES:
        return (f"aws-managed:{key.rsplit('/', 1)[-1]}", AWS_MANAGED_POLICIES[key])
    return (f"aws-managed:{key.rsplit('/', 1)[-1]} (unknown here: allows nothing)",
            {"Version": POLICY_VERSION, "Statement": []})


def _last_name(arn: str) -> str:
    """The resource name at the end of an ARN (after the last ':' or '/')."""
    return arn.replace(":", "/").rsplit("/", 1)[-1]


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length].upper()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
