"""The staging area's S3 errors: a retry can fix (StagingUnavailableError) or not (as raised)."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from functions.common.errors import StagingUnavailableError
from functions.common.events import S3Pointer
from functions.common.staging import get_bytes, put_bytes

POINTER = S3Pointer(bucket="staging", key="staging/v1/abc/extract.json")


class FailingS3:
    def __init__(self, code: str, status: int) -> None:
        self.error = ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                                 "PutObject")

    def put_object(self, **_):
        raise self.error

    def get_object(self, **_):
        raise self.error


@pytest.mark.parametrize("code, status", [("SlowDown", 503), ("InternalError", 500), ("RequestTimeout", 400)])
def test_s3_errors_a_retry_can_fix_become_staging_unavailable(code, status):
    with pytest.raises(StagingUnavailableError):
        put_bytes(FailingS3(code, status), POINTER, b"{}", "application/json")
    with pytest.raises(StagingUnavailableError):
        get_bytes(FailingS3(code, status), POINTER)


def test_access_denied_surfaces_as_it_is():
    with pytest.raises(ClientError):
        put_bytes(FailingS3("AccessDenied", 403), POINTER, b"{}", "application/json")
