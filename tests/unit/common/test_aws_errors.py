"""Which AWS errors a later attempt can fix (functions/common/aws_errors.py), as botocore's
standard retry mode classifies them."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from functions.common.aws_errors import is_retryable


def _client_error(code: str, status: int | None = None, op: str = "StartExecution") -> ClientError:
    response = {"Error": {"Code": code, "Message": code}}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, op)


@pytest.mark.parametrize("code", ["ThrottlingException", "Throttling", "TooManyRequestsException", "SlowDown",
                                  "RequestLimitExceeded", "RequestTimeout", "RequestTimeoutException"])
def test_throttling_and_timeout_codes_are_retryable_whatever_the_status(code):
    assert is_retryable(_client_error(code))
    assert is_retryable(_client_error(code, 400))


@pytest.mark.parametrize("code, status", [("InternalFailure", 500), ("InternalError", 500), ("ServiceUnavailable", 503),
                                          ("503", 503), ("BadGateway", 502), ("GatewayTimeout", 504)])
def test_server_side_errors_are_retryable_by_their_status(code, status):
    assert is_retryable(_client_error(code, status))


@pytest.mark.parametrize("code, status", [("AccessDenied", 403), ("AccessDeniedException", 400),
                                          ("StateMachineDoesNotExist", 400), ("NoSuchBucket", 404),
                                          ("ExecutionAlreadyExists", 400), ("ValidationException", 400)])
def test_configuration_errors_are_not_retryable(code, status):
    assert not is_retryable(_client_error(code, status))


def test_an_error_from_a_real_client_is_judged_by_its_code_and_status():
    sfn = boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(sfn) as stub:
        stub.add_client_error("start_execution", service_error_code="ThrottlingException", http_status_code=400)
        stub.add_client_error("start_execution", service_error_code="StateMachineDoesNotExist", http_status_code=400)
        errors = []
        for _ in range(2):
            with pytest.raises(ClientError) as caught:
                sfn.start_execution(stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:p", name="n")
            errors.append(caught.value)

    assert [is_retryable(e) for e in errors] == [True, False]


@pytest.mark.parametrize("error", [EndpointConnectionError(endpoint_url="https://s3"),
                                   ReadTimeoutError(endpoint_url="https://s3")])
def test_an_error_without_an_answer_from_the_service_is_retryable(error):
    assert is_retryable(error)


def test_an_error_that_is_not_from_botocore_is_not_retryable():
    assert not is_retryable(ValueError("bad input"))


@pytest.mark.parametrize("code, found", [("NoSuchKey", False), ("NoSuchVersion", False), ("404", False),
                                         ("NotFound", False), ("AccessDenied", True), ("NoSuchBucket", True)])
def test_not_found_means_the_key_or_its_version_not_the_bucket(code, found):
    from functions.common.aws_errors import is_not_found

    assert is_not_found(_client_error(code, 404, "GetObject")) is not found
    assert not is_not_found(ValueError("NoSuchKey"))


def test_throttling_and_transient_faults_are_told_apart():
    from functions.common.aws_errors import is_throttling, is_transient

    assert is_throttling(_client_error("ThrottlingException", 400)) and not is_transient(_client_error("ThrottlingException", 400))
    assert is_transient(_client_error("ServiceUnavailable", 503)) and not is_throttling(_client_error("ServiceUnavailable", 503))
    assert not is_throttling(ValueError()) and not is_transient(ValueError())


def test_s3_errors_turns_what_a_retry_can_fix_into_staging_unavailable_and_keeps_the_rest():
    from functions.common.aws_errors import s3_errors
    from functions.common.errors import StagingUnavailableError

    with pytest.raises(StagingUnavailableError, match="cannot read s3://b/k: .*SlowDown"):
        with s3_errors("cannot read s3://b/k"):
            raise _client_error("SlowDown", 503, "GetObject")
    with pytest.raises(StagingUnavailableError):
        with s3_errors("cannot read s3://b/k"):
            raise EndpointConnectionError(endpoint_url="https://s3")
    with pytest.raises(ClientError, match="AccessDenied"):
        with s3_errors("cannot read s3://b/k"):
            raise _client_error("AccessDenied", 403, "GetObject")
