"""Lambda's 4 KB limit on a function's environment, checked at synth instead of at deploy.

Lambda refuses a function whose environment variables add up to more than 4 KB ("Lambda was
unable to configure your environment variables because the environment variables you have
provided exceeded the 4KB limit"), and CloudFormation rolls the whole stack back. Our
environments carry JSON maps (MODEL_ENDPOINTS, MODEL_COMPONENTS, the search allow-list of the
`search` context) that grow with what a user configures, so the limit is checked on every
PipelineFunction when the app synthesizes.

The size is that of the variables map as compact JSON (keys, values, quotes and separators: the
stricter of the ways the limit is described). Values that are still CloudFormation references at
synth are counted at the length such a value has once deployed (TOKEN_BYTES): an estimate, which
is why functions are refused a margin short of the limit.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsii
from aws_cdk import CfnResource, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import IValidation

LIMIT_BYTES = 4096
MARGIN_BYTES = 256  # what the estimate of unresolved references may be short by
# Deployed lengths of values CloudFormation fills in: an ARN from GetAtt or from the Ref of a
# secret or a state machine (90-140 characters), a name or URL from other Refs (shorter): every
# reference is counted as an ARN.
TOKEN_BYTES = {"Fn::GetAtt": 140, "Ref": 140, "Fn::ImportValue": 140, "Fn::Select": 140, "Fn::Sub": 140}
PSEUDO_BYTES = {"AWS::Region": 14, "AWS::AccountId": 12, "AWS::Partition": 10, "AWS::URLSuffix": 13,
                "AWS::StackName": 128}


class EnvironmentTooLarge(ValueError):
    """A function's environment would be over Lambda's 4 KB limit once deployed."""


def estimated_bytes(value: Any) -> int:
    """The deployed length of one resolved value (a string, or a CloudFormation intrinsic)."""
    if isinstance(value, str):  # as a JSON string's content: quotes and backslashes escaped
        return len(json.dumps(value, ensure_ascii=False).encode("utf-8")) - 2
    if isinstance(value, (bool, int, float)):
        return len(json.dumps(value))
    if isinstance(value, dict) and len(value) == 1:
        [(name, args)] = value.items()
        if name == "Ref":
            return PSEUDO_BYTES.get(args, TOKEN_BYTES["Ref"])
        if name == "Fn::Join":
            separator, parts = args
            return sum(estimated_bytes(p) for p in parts) + len(separator) * max(len(parts) - 1, 0)
        return TOKEN_BYTES.get(name, max(TOKEN_BYTES.values()))
    return max(TOKEN_BYTES.values())


def environment_bytes(variables: Mapping[str, Any]) -> int:
    """The compact-JSON size of `variables` ({"K":"V",...}) with references at their estimate."""
    if not variables:
        return 0
    # {} plus, per variable, "K":"V" and a comma between variables.
    return 2 + sum(len(k.encode("utf-8")) + estimated_bytes(v) + 5 for k, v in variables.items()) + len(variables) - 1


def check(variables: Mapping[str, Any], limit: int = LIMIT_BYTES, margin: int = MARGIN_BYTES) -> int:
    """The estimated size of `variables`; raises EnvironmentTooLarge within `margin` of `limit`,
    naming the largest variables (what to shrink)."""
    size = environment_bytes(variables)
    if size > limit - margin:
        largest = sorted(variables, key=lambda k: estimated_bytes(variables[k]), reverse=True)[:3]
        parts = ", ".join(f"{k} {estimated_bytes(variables[k]):,} bytes" for k in largest)
        raise EnvironmentTooLarge(
            f"The function's environment would be about {size:,} bytes once deployed, over Lambda's "
            f"{limit:,}-byte limit less a {margin}-byte margin (largest: {parts}); Lambda would refuse it "
            "and roll the stack back. Shorten what the context configures (fewer or wildcard "
            "search allow-list entries, fewer model roles).")
    return size


@jsii.implements(IValidation)
class EnvironmentSizeValidation:
    """Added to a function's node: run when the app synthesizes, after every add_environment."""

    def __init__(self, function: lambda_.Function) -> None:
        self._function = function

    def validate(self) -> list[str]:
        cfn = self._function.node.default_child
        if not isinstance(cfn, CfnResource):
            raise TypeError(f"{self._function.node.path} has no CloudFormation resource as its default child")
        # The L1's properties as CloudFormation will get them (`environment` is a Lazy over every
        # add_environment). Never read the public `CfnFunction.environment` from Python: it comes
        # back as an empty struct, jsii keeps that object, and this check would then see {}
        # (tests/infra/test_environment_size.py synthesizes the whole app to catch that).
        resolved = Stack.of(self._function).resolve(cfn._cfn_properties.get("environment"))
        variables = (resolved or {}).get("variables") or {}
        try:
            check(variables)
        except EnvironmentTooLarge as exc:
            return [str(exc)]
        return []
