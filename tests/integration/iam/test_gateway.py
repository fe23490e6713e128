"""The authorizing gateway in front of moto (local/iam/gateway.py): a call the template's
policies deny is answered with the service's own AccessDenied, over the real protocol, before
moto sees it; S3 hides a missing key behind 403 from a caller without s3:ListBucket."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from local.aws import LOCAL_ACCOUNT, LOCAL_REGION, MotoServer
from local.iam.authorizer import Authorizer, Identity, TemplateResources
from local.iam.template import TemplatePolicies

BUCKET = "gateway-bucket"


def _template() -> dict:
    objects = {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*"]]}

    def role_with(name: str, statements: list) -> dict:
        return {name: {"Type": "AWS::IAM::Role", "Properties": {"RoleName": name}},
                f"{name}Policy": {"Type": "AWS::IAM::Policy", "Properties": {
                    "PolicyName": name, "Roles": [{"Ref": name}],
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}}}

    return {"Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
        **role_with("Reader", [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": objects}]),
        **role_with("Lister", [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": objects},
                               {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": {"Fn::GetAtt": ["Bucket", "Arn"]}}]),
    }}


@pytest.fixture(scope="module")
def server():
    with MotoServer() as moto:
        moto.reset()
        moto.client("s3").create_bucket(Bucket=BUCKET)
        moto.client("s3").put_object(Bucket=BUCKET, Key="present.txt", Body=b"hello")
        template = _template()
        policies = TemplatePolicies.from_template(template, account=LOCAL_ACCOUNT, region=LOCAL_REGION,
                                                  physical={"Bucket": BUCKET})
        authorizer = Authorizer(policies, TemplateResources(template, policies), region=LOCAL_REGION, account=LOCAL_ACCOUNT)
        for role in ("Reader", "Lister"):
            authorizer.register(f"KEY{role.upper()}", Identity(policies.role_arn(role), role))
        moto.authorize(authorizer)
        yield moto, authorizer


def _s3(moto: MotoServer, key: str):
    return boto3.client("s3", region_name=LOCAL_REGION, endpoint_url=moto.endpoint_url,
                        aws_access_key_id=key, aws_secret_access_key="local")


def test_an_allowed_read_reaches_moto(server):
    moto, _ = server
    assert _s3(moto, "KEYREADER").get_object(Bucket=BUCKET, Key="present.txt")["Body"].read() == b"hello"


def test_a_write_the_role_was_not_granted_is_access_denied_and_nothing_is_written(server):
    moto, authorizer = server
    with pytest.raises(ClientError) as denied:
        _s3(moto, "KEYREADER").put_object(Bucket=BUCKET, Key="new.txt", Body=b"x")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert "s3:PutObject" in denied.value.response["Error"]["Message"]
    assert "new.txt" not in [o["Key"] for o in moto.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert any(not d.allowed and d.action == "s3:PutObject" for d in authorizer.decisions)


def test_a_missing_key_is_403_without_list_bucket_and_404_with_it(server):
    moto, _ = server
    with pytest.raises(ClientError) as hidden:
        _s3(moto, "KEYREADER").get_object(Bucket=BUCKET, Key="absent.txt")
    assert hidden.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as missing:
        _s3(moto, "KEYLISTER").get_object(Bucket=BUCKET, Key="absent.txt")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_an_access_key_of_no_template_role_is_denied(server):
    moto, _ = server
    with pytest.raises(ClientError) as denied:
        _s3(moto, "SOMEONE").get_object(Bucket=BUCKET, Key="present.txt")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_a_bucket_that_does_not_exist_is_no_such_bucket_whatever_the_policies(server):
    moto, _ = server
    with pytest.raises(ClientError) as missing:
        _s3(moto, "KEYREADER").get_object(Bucket="no-such-bucket-anywhere", Key="k")
    assert missing.value.response["Error"]["Code"] == "NoSuchBucket"


@pytest.mark.parametrize("service,call", [
    ("stepfunctions", lambda c: c.start_execution(
        stateMachineArn=f"arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT}:stateMachine:m", input="{}")),
    ("lambda", lambda c: c.invoke(FunctionName="f", Payload=b"{}")),
])
def test_a_denied_json_protocol_call_parses_as_access_denied_in_botocore(server, service, call):
    """Our AccessDenied bodies for the JSON protocols, read by botocore's own parsers."""
    moto, _ = server
    client = boto3.client(service, region_name=LOCAL_REGION, endpoint_url=moto.endpoint_url,
                          aws_access_key_id="KEYREADER", aws_secret_access_key="local")
    with pytest.raises(ClientError) as denied:
        call(client)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "is not authorized to perform" in denied.value.response["Error"]["Message"]
