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
