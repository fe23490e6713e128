"""Object access to one of the pipeline's buckets with only the actions the code calls.

CDK's `grant_read` / `grant_read_write` / `grant_put` add families the pipeline never calls
(s3:GetBucket*, s3:DeleteObject*, object lock and tagging writes, kms:Encrypt, kms:ReEncrypt*,
kms:DescribeKey); the local run's usage check (tests/integration/local_run,
local/iam/usage.py) found them unused. These grants name what S3 needs for our calls
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html):
* reads: s3:GetObject (s3:GetObjectVersion on a versioned bucket, where we read a version) and
  kms:Decrypt of the key; s3:ListBucket on the bucket only for a reader of keys that may not
  exist (checkpoints, objects deleted since their event), because without it S3 answers such a
  read 403 instead of 404
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions");
* writes: s3:PutObject and kms:GenerateDataKey (every write is a single PutObject: no multipart
  actions, and no kms:Decrypt, which only a multipart upload needs).
The key may be used only through S3 (kms:ViaService).
"""
from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3


def _key_use(key: kms.IKey, actions: list[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=actions, resources=[key.key_arn],
                               conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}})


def grant_object_reads(bucket: s3.IBucket, key: kms.IKey, role: iam.IRole, pattern: str = "*", *,
                       versions: bool = False, missing_keys: bool = False) -> None:
    """Read objects of `bucket` under `pattern` (e.g. "staging/*"); `versions`: also by version
    id; `missing_keys`: the reader tells a missing key (404) from a refusal (403)."""
    actions = ["s3:GetObject", "s3:GetObjectVersion"] if versions else ["s3:GetObject"]
    role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=[bucket.arn_for_objects(pattern)]))
    if missing_keys:
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
    role.add_to_principal_policy(_key_use(key, ["kms:Decrypt"]))


def grant_object_writes(bucket: s3.IBucket, key: kms.IKey, role: iam.IRole, pattern: str) -> None:
    """Write objects of `bucket` under `pattern` (single PutObject)."""
    role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(pattern)]))
    role.add_to_principal_policy(_key_use(key, ["kms:GenerateDataKey"]))
