"""What an AWS request asks for, read off the wire: who signed it, and which IAM actions on which
resources it needs, as the service authorizes them.

`signer(headers)` is the access key id of a SigV4 `Authorization` header. `s3_calls`,
`stepfunctions_calls`, `lambda_calls` and `sagemaker_calls` turn one request into the `Call`s
IAM evaluates for it, following the Service Authorization Reference
(https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html):
S3 object reads are s3:GetObject (s3:GetObjectVersion with a versionId), a HEAD of an object
needs s3:GetObject, listing is s3:ListBucket on the bucket, CopyObject needs the read of the
source as well as the write. Calls that the service makes to KMS on the caller's behalf are added
by the authorizer (local/iam/authorizer.py), which knows the template's keys.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import parse_qs, unquote

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


@dataclass(frozen=True)
class Call:
    """One IAM authorization: `action` on `resource` with the request's condition keys."""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)


def signer(headers: Mapping[str, str]) -> Optional[str]:
    """The access key id that signed the request (SigV4 header or presigned query), or None."""
    match = _CREDENTIAL.search(headers.get("Authorization") or headers.get("authorization") or "")
    return match.group(1) if match else None


def s3_calls(method: str, path: str, query: str, headers: Mapping[str, str]) -> list[Call]:
    """The calls of one path-style S3 request (`/bucket/key?query`). Bucket-level requests
    other than listing (create, configure) map to their own action names, which only the
    local harness makes."""
    params = parse_qs(query, keep_blank_values=True)
    parts = path.lstrip("/").split("/", 1)
    bucket = unquote(parts[0])
    key = unquote(parts[1]) if len(parts) > 1 else ""
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if not bucket:
        return [Call("s3:ListAllMyBuckets", "*")]
    if not key:
        if method in ("GET", "HEAD") and not (set(params) - {"list-type", "prefix", "delimiter", "max-keys",
                                                               "continuation-token", "start-after", "encoding-type",
                                                               "fetch-owner", "marker"}):
            return [Call("s3:ListBucket", bucket_arn, {"s3:prefix": params.get("prefix", [""])[0]})]
        if method == "GET" and "versions" in params:
            return [Call("s3:ListBucketVersions", bucket_arn, {"s3:prefix": params.get("prefix", [""])[0]})]
        if method == "POST" and "delete" in params:
            return [Call("s3:DeleteObject", f"{bucket_arn}/*")]
        return [Call(f"s3:{_bucket_admin_action(method, params)}", bucket_arn)]
    object_arn = f"{bucket_arn}/{key}"
    version = params.get("versionId", [None])[0]
    if method in ("GET", "HEAD"):
        if "tagging" in params:
            return [Call("s3:GetObjectVersionTagging" if version else "s3:GetObjectTagging", object_arn)]
        return [Call("s3:GetObjectVersion" if version else "s3:GetObject", object_arn)]
    if method == "PUT":
        if "tagging" in params:
            return [Call("s3:PutObjectTagging", object_arn)]
        calls = [Call("s3:PutObject", object_arn)]
        source = headers.get("x-amz-copy-source") or headers.get("X-Amz-Copy-Source")
        if source:
            source_path, _, source_query = unquote(source).lstrip("/").partition("?")
            source_version = parse_qs(source_query).get("versionId", [None])[0]
            calls.insert(0, Call("s3:GetObjectVersion" if source_version else "s3:GetObject", f"arn:aws:s3:::{source_path}"))
        return calls
    if method == "POST":  # multipart: initiate / complete
        return [Call("s3:PutObject", object_arn)]
    if method == "DELETE":
        if "uploadId" in params:
            return [Call("s3:AbortMultipartUpload", object_arn)]
        return [Call("s3:DeleteObjectVersion" if version else "s3:DeleteObject", object_arn)]
    return [Call(f"s3:{method.title()}Object", object_arn)]


def _bucket_admin_action(method: str, params: Mapping[str, Any]) -> str:
    sub = next(iter(sorted(params)), "")
    verb = {"GET": "Get", "HEAD": "Get", "PUT": "Put", "DELETE": "Delete", "POST": "Put"}.get(method, method.title())
    names = {"versioning": "BucketVersioning", "notification": "BucketNotification", "policy": "BucketPolicy",
             "encryption": "EncryptionConfiguration", "location": "BucketLocation", "lifecycle": "LifecycleConfiguration"}
    if not sub:
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, "ListBucket")
    return verb + names.get(sub, "Bucket" + sub.title())


# Step Functions: the resource each operation authorizes against, by the request member naming it.
_SFN_RESOURCE_MEMBER = {
    "StartExecution": "stateMachineArn", "StartSyncExecution": "stateMachineArn",
    "DescribeStateMachine": "stateMachineArn", "ListExecutions": "stateMachineArn",
    "UpdateStateMachine": "stateMachineArn", "DeleteStateMachine": "stateMachineArn",
    "DescribeExecution": "executionArn", "GetExecutionHistory": "executionArn", "StopExecution": "executionArn",
    "DescribeStateMachineForExecution": "executionArn", "DescribeMapRun": "mapRunArn", "ListMapRuns": "executionArn",
}


def stepfunctions_calls(target: str, body: bytes) -> list[Call]:
    """The call of one Step Functions JSON request (`X-Amz-Target: AWSStepFunctions.<Op>`)."""
    operation = target.rsplit(".", 1)[-1]
    member = _SFN_RESOURCE_MEMBER.get(operation)
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        document = {}
    resource = str(document.get(member, "*")) if member else "*"
    return [Call(f"states:{operation}", resource)]


_LAMBDA_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


def lambda_calls(method: str, path: str, region: str, account: str) -> list[Call]:
    """lambda:InvokeFunction for an Invoke request; other Lambda API calls only the harness makes."""
    match = _LAMBDA_INVOKE.match(path)
    if method == "POST" and match:
        name = unquote(match.group(1))
        arn = name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
        return [Call("lambda:InvokeFunction", arn)]
    return [Call("lambda:ManageFunctions", "*")]


def sagemaker_calls(endpoint: str, component: Optional[str], region: str, account: str) -> list[Call]:
    """InvokeEndpoint authorizes against the endpoint and, when the request names one, the
    inference component; SageMaker writes both ARNs with the names in lower case."""
    calls = [Call("sagemaker:InvokeEndpoint", f"arn:aws:sagemaker:{region}:{account}:endpoint/{endpoint.lower()}")]
    if component:
        calls.append(Call("sagemaker:InvokeEndpoint",
                          f"arn:aws:sagemaker:{region}:{account}:inference-component/{component.lower()}"))
    return calls
