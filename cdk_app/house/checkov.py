"""Checkov findings we accept, each written on its resource with the reason a reviewer reads
(CloudFormation Metadata "checkov": {"skip": [{"id", "comment"}]}, which checkov honours:
https://www.checkov.io/2.Basics/Suppressing%20and%20Skipping%20Policies.html). CI runs checkov on
the synthesized template and fails on any finding without one (tests/infra/test_checkov.py)."""
from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct

# Reasons shared by every function of ours (cdk_app/house/python_function.py).
FUNCTION_CONCURRENCY = (
    "Concurrency is bounded where the work comes from (each modality's Map MaxConcurrency, the event "
    "source mapping's pollers, the backfill's MaxConcurrency); a reservation per function would carve "
    "the account's pool and throttle the state machine instead "
    "(https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html).")
FUNCTION_DLQ = (
    "Invoked synchronously (Step Functions tasks with Retry and Catch, the MSK event source mapping with "
    "its S3 on-failure destination, CloudFormation custom resources) or, for the forwarder, "
    "asynchronously with an SQS on-failure destination: a function-level DLQ would never receive anything.")
FUNCTION_ENV = (
    "The environment holds names and settings only, never a secret (tests/infra/test_security.py "
    "test_no_secret_in_function_environments); Lambda encrypts it at rest with its service key.")
CDK_FUNCTION = (
    "A deploy-time function CDK provides (custom resource provider, bucket deployment, notifications "
    "handler): it runs only during CloudFormation deployments, calls AWS APIs and touches no pipeline data.")


def skip(construct: IConstruct, check_id: str, reason: str) -> None:
    """Accept checkov `check_id` on `construct` (a CfnResource or a construct whose default child is one)."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    metadata = dict(resource.cfn_options.metadata or {})
    checkov = dict(metadata.get("checkov") or {"skip": []})
    checkov["skip"] = [*checkov["skip"], {"id": check_id, "comment": reason}]
    metadata["checkov"] = checkov
    resource.cfn_options.metadata = metadata
