"""Requests read off the wire: who signed them and the IAM actions they need, as the Service
Authorization Reference lists them."""
from __future__ import annotations

import json

from local.iam.wire import Call, lambda_calls, s3_calls, sagemaker_calls, signer, stepfunctions_calls

AUTH = ("AWS4-HMAC-SHA256 Credential=LOCALABC/20261204/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=00")


def test_signer_is_the_access_key_of_the_credential_scope():
    assert signer({"Authorization": AUTH}) == "LOCALABC"
    assert signer({}) is None


def test_object_reads_and_writes_name_the_object_arn_with_url_decoded_keys():
    assert s3_calls("GET", "/ingest/a%20b/%C3%A9t%C3%A9.txt", "", {}) == [Call("s3:GetObject", "arn:aws:s3:::ingest/a b/été.txt")]
    assert s3_calls("HEAD", "/ingest/k", "", {}) == [Call("s3:GetObject", "arn:aws:s3:::ingest/k")]
    assert s3_calls("GET", "/ingest/k", "versionId=3", {}) == [Call("s3:GetObjectVersion", "arn:aws:s3:::ingest/k")]
    assert s3_calls("PUT", "/staging/staging/x", "", {}) == [Call("s3:PutObject", "arn:aws:s3:::staging/staging/x")]
    assert s3_calls("DELETE", "/staging/x", "versionId=1", {}) == [Call("s3:DeleteObjectVersion", "arn:aws:s3:::staging/x")]


def test_copy_needs_the_read_of_the_source_and_the_write_of_the_target():
    calls = s3_calls("PUT", "/b/new", "", {"x-amz-copy-source": "/a/old%20key?versionId=7"})
    assert calls == [Call("s3:GetObjectVersion", "arn:aws:s3:::a/old key"), Call("s3:PutObject", "arn:aws:s3:::b/new")]


def test_listing_is_list_bucket_on_the_bucket_with_the_prefix_as_condition_key():
    [call] = s3_calls("GET", "/ingest", "list-type=2&prefix=reports%2F", {})
    assert (call.action, call.resource, call.context["s3:prefix"]) == ("s3:ListBucket", "arn:aws:s3:::ingest", "reports/")
    assert s3_calls("GET", "/ingest", "versions&prefix=", {})[0].action == "s3:ListBucketVersions"


def test_step_functions_operations_name_the_machine_or_the_execution():
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:m"
    assert stepfunctions_calls("AWSStepFunctions.StartExecution", json.dumps({"stateMachineArn": arn}).encode()) == [
        Call("states:StartExecution", arn)]
    execution = "arn:aws:states:us-east-1:123456789012:execution:m:e"
    assert stepfunctions_calls("AWSStepFunctions.DescribeExecution", json.dumps({"executionArn": execution}).encode()) == [
        Call("states:DescribeExecution", execution)]
    assert stepfunctions_calls("AWSStepFunctions.ListStateMachines", b"{}") == [Call("states:ListStateMachines", "*")]


def test_invoke_names_the_function_arn():
    assert lambda_calls("POST", "/2015-03-31/functions/pipeline-extract/invocations", "us-east-1", "123456789012") == [
        Call("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:pipeline-extract")]


def test_invoke_endpoint_names_endpoint_and_component_in_lower_case_as_sagemaker_writes_arns():
    calls = sagemaker_calls("Stack-Ocr", "Stack-Ocr-IC", "us-east-1", "123456789012")
    assert [c.resource for c in calls] == ["arn:aws:sagemaker:us-east-1:123456789012:endpoint/stack-ocr",
                                          "arn:aws:sagemaker:us-east-1:123456789012:inference-component/stack-ocr-ic"]


def test_the_request_shapes_wire_reads_are_botocores_own():
    """What wire.py parses (the JSON target prefix, the Invoke and InvokeEndpoint paths) is pinned
    to botocore's service models, not to what we believe the services send."""
    import botocore.session

    models = botocore.session.get_session()
    sfn = models.get_service_model("stepfunctions")
    assert sfn.metadata["targetPrefix"] == "AWSStepFunctions" and sfn.metadata["protocol"] == "json"
    assert sfn.operation_model("StartExecution").input_shape.members.keys() >= {"stateMachineArn"}
    invoke = models.get_service_model("lambda").operation_model("Invoke").http
    assert (invoke["method"], invoke["requestUri"]) == ("POST", "/2015-03-31/functions/{FunctionName}/invocations")
    endpoint = models.get_service_model("sagemaker-runtime").operation_model("InvokeEndpoint").http
    assert (endpoint["method"], endpoint["requestUri"]) == ("POST", "/endpoints/{EndpointName}/invocations")
    assert models.get_service_model("stepfunctions").signing_name == "states"
