"""Whether an AWS error is one a later attempt can fix, decided by botocore's own retry rules.

Our clients run botocore's standard retry mode (Config(retries={"mode": "standard", ...})), so
an error that reaches our code is one that mode has already retried, or chose not to. Whether
the next layer (the event source mapping redelivering a record, a state machine's Retry)
should try again is the same question, so it is answered with the same checkers botocore
uses between attempts, never with a list of codes of our own: throttling codes
(ThrottledRetryableChecker: Throttling, ThrottlingException, TooManyRequestsException,
SlowDown, RequestLimitExceeded...) and transient ones (TransientRetryableChecker:
RequestTimeout, RequestTimeoutException, PriorRequestNotComplete, and HTTP 500, 502, 503, 504,
which is how InternalError, InternalFailure and ServiceUnavailable arrive).
https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
https://github.com/boto/botocore/blob/develop/botocore/retries/standard.py
"""
from __future__ import annotations

from botocore.awsrequest import AWSResponse
from botocore.exceptions import BotoCoreError
from botocore.retries.standard import (
    OrRetryChecker,
    RetryContext,
    ThrottledRetryableChecker,
    TransientRetryableChecker,
)

_CHECKER = OrRetryChecker([TransientRetryableChecker(), ThrottledRetryableChecker()])


def is_retryable(error: BaseException) -> bool:
    """Whether the call that raised `error` may succeed when made again later.

    A ClientError (or any error carrying a botocore `response` dict) is judged by its error
    code and HTTP status, as botocore's standard retry mode judges it. Any other
    BotoCoreError means no answer came from the service (connection reset, read timeout, a
    body cut short while read), so nothing says the request was wrong: True. Anything else:
    False.
    """
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        http_response = AWSResponse(url=None, status_code=int(status), headers={}, raw=None) if status else None
        context = RetryContext(attempt_number=1, parsed_response=response, http_response=http_response)
        return _CHECKER.is_retryable(context)
    return isinstance(error, BotoCoreError)
