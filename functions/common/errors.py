"""Error types the state machine tells apart by name.

Step Functions sees a Lambda exception's class name as the error name, so the Retry
blocks in step_functions/pipeline.asl.json name the classes below. A retry can fix a
RetryableError; anything else is caught by the Map iteration and recorded as a failure.
"""
from __future__ import annotations


class RetryableError(Exception):
    """Base of the errors a later attempt can fix (the state machine retries them)."""


class ModelThrottledError(RetryableError):
    """The model endpoint throttled us or is scaling out (HTTP 429 / ThrottlingException)."""


class ModelUnavailableError(RetryableError):
    """The model endpoint returned a 5xx or timed out."""


class ModelNoCapacityError(RetryableError):
    """The endpoint has no instance to serve the role (scaled to zero while idle) and is starting
    one, which takes minutes: the state machine waits minutes, not seconds, between attempts
    (its own Retrier, before the generic one), and nothing is lost while it does."""


class DatabaseUnavailableError(RetryableError):
    """The database could not be reached or the connection dropped; the transaction rolled back."""


class StagingUnavailableError(RetryableError):
    """The staging bucket could not be read or written (S3 5xx / SlowDown)."""


class ReusedResultGoneError(Exception):
    """The result of the same bytes that extract chose to reuse was deleted or replaced before
    store copied it (functions/processing/results/reuse.py); store wrote nothing.

    Not retried by the state machine: a retry of store would look for the same rows again. The
    failure row names it, and a resend of the object version (reconciliation sends this error
    again: functions/reprocess/core.py) runs extract again, which then processes the bytes in full.
    """


class InvalidObjectError(Exception):
    """The object cannot be processed: corrupt, truncated, empty, too large, lying content type.

    Not retryable: the Map iteration records a failure row with this message as the reason.
    """


class UnsupportedTypeError(InvalidObjectError):
    """The object's type is not one the pipeline processes."""


RETRYABLE_ERROR_NAMES: tuple[str, ...] = tuple(
    cls.__name__
    for cls in (ModelThrottledError, ModelUnavailableError, ModelNoCapacityError, DatabaseUnavailableError,
                StagingUnavailableError)
)
