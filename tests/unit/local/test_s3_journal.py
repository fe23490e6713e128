"""local.s3_state: the S3 stand-in's objects survive the process, version ids and all."""
from __future__ import annotations

import boto3
from moto import mock_aws
from moto.moto_api._internal.models import moto_api_backend

from local.s3_state import S3Journal

ACCOUNT = "123456789012"  # moto's default


def _buckets(s3) -> None:
    s3.create_bucket(Bucket="kept")
    s3.create_bucket(Bucket="other")
    s3.put_bucket_versioning(Bucket="kept", VersioningConfiguration={"Status": "Enabled"})


def test_objects_come_back_with_their_version_ids_bytes_and_content_type(tmp_path):
    journal = S3Journal(tmp_path / "s3.journal", ["kept"], ACCOUNT)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        _buckets(s3)
        journal.install()
        try:
            # Given two versions of one key and a key of a bucket the journal does not keep
            first = s3.put_object(Bucket="kept", Key="a/b.txt", Body=b"one", ContentType="text/plain")["VersionId"]
            second = s3.put_object(Bucket="kept", Key="a/b.txt", Body=b"two", ContentType="text/plain")["VersionId"]
            s3.put_object(Bucket="other", Key="x", Body=b"not kept")
            journal.flush()  # what the WSGI wrapper does once a request is answered
        finally:
            journal.uninstall()
        # When the process's moto is gone (a kill) and a new run starts from empty buckets
        moto_api_backend.reset()
        _buckets(s3)
        assert journal.restore() == 1
        # Then both versions are back under their ids, and nothing of the other bucket
        versions = s3.list_object_versions(Bucket="kept")["Versions"]
        assert sorted(v["VersionId"] for v in versions) == sorted([first, second])
        latest = s3.get_object(Bucket="kept", Key="a/b.txt")
        assert latest["VersionId"] == second and latest["Body"].read() == b"two"
        assert latest["ContentType"] == "text/plain"
        assert s3.get_object(Bucket="kept", Key="a/b.txt", VersionId=first)["Body"].read() == b"one"
        assert s3.list_objects_v2(Bucket="other").get("KeyCount") == 0


def test_a_record_cut_short_by_a_kill_loses_only_itself(tmp_path):
    path = tmp_path / "s3.journal"
    journal = S3Journal(path, ["kept"], ACCOUNT)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        _buckets(s3)
        journal.install()
        try:
            s3.put_object(Bucket="kept", Key="whole", Body=b"x" * 100)
            journal.flush()
            s3.put_object(Bucket="kept", Key="cut", Body=b"y" * 100)
            journal.flush()
        finally:
            journal.uninstall()
        path.write_bytes(path.read_bytes()[:-20])  # the kill came in the middle of the last write
        moto_api_backend.reset()
        _buckets(s3)
        assert journal.restore() == 1
        assert s3.get_object(Bucket="kept", Key="whole")["Body"].read() == b"x" * 100
        # and the file is compacted to what was read back
        assert S3Journal(path, ["kept"], ACCOUNT).load().keys() == {("kept", "whole")}
