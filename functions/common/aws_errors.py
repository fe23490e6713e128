"""What an AWS error means, in one place: whether a later attempt can fix it (decided by
botocore's own retry rules), whether it says "not found", and the translation every S3 call of
the steps uses (`s3_errors`: a retryable error becomes StagingUnavailableError).

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

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.awsrequest import AWSResponse
from botocore.exceptions import BotoCoreError, ClientError
from botocore.retries.standard import (
    OrRetryChecker,
    RetryContext,
    ThrottledRetryableChecker,
    TransientRetryableChecker,
)

from functions.common.errors import StagingUnavailableError

_THROTTLED = ThrottledRetryableChecker()
_TRANSIENT = TransientRetryableChecker()
_CHECKER = OrRetryChecker([_TRANSIENT, _THROTTLED])
# What S3 answers for a key or version that is not there: GetObject's error codes, and HeadObject's
# bare HTTP status (a HEAD response has no body to name a code).
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "NotFound", "404"})


def error_code(error: BaseException) -> str:
    """The service's error code of a ClientError ('' for anything else)."""
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def is_not_found(error: BaseException) -> bool:
    """Whether `error` says the S3 key (or its version) does not exist."""
    return isinstance(error, ClientError) and error_code(error) in NOT_FOUND_CODES


def is_throttling(error: BaseException) -> bool:
    """Whether `error` is a throttling answer (botocore's throttling codes)."""
    return _checked(_THROTTLED, error)


def is_transient(error: BaseException) -> bool:
    """Whether `error` is a transient service fault (botocore's transient codes and 5xx statuses)."""
    return _checked(_TRANSIENT, error)


@contextmanager
def s3_errors(what: str) -> Iterator[None]:
    """Around an S3 call of a step: an error a retry can fix (is_retryable) is raised as
    StagingUnavailableError naming `what` (the state machine retries that error); any other
    error is raised as it is."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        if is_retryable(exc):
            raise StagingUnavailableError(f"{what}: {exc}") from exc
        raise


def _checked(checker: object, error: BaseException) -> bool:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return False
    return checker.is_retryable(_context(response))  # type: ignore[attr-defined]


def _context(response: dict) -> RetryContext:
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    http_response = AWSResponse(url=None, status_code=int(status), headers={}, raw=None) if status else None
    return RetryContext(attempt_number=1, parsed_response=response, http_response=http_response)


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
        return _CHECKER.is_retryable(_context(response))
    return isinstance(error, BotoCoreError)
