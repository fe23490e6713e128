"""The S3 notifications the local run hands the forwarder have the shape S3 sends
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html),
pinned to the recorded samples in tests/events/, for every key oddity, versioned or not.

Why the local run builds them instead of letting moto send its own: moto's notification lacks
`versionId` and `sequencer` (the pipeline keys results by object version and orders versions by
sequencer), and moto invokes the target function outside its Lambda backend's `invoke`, where the
in-process handlers are routed. The last test fails once moto sends both: then switch to it.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.streaming.s3_events import object_refs
from local.run import _s3_event

EVENTS = Path(__file__).resolve().parents[2] / "events"
ODD_KEYS = [
    "plain.txt",
    "with spaces/Q3 report.pdf",
    "a+b=c&d.txt",
    "100% sure.txt",
    "unicode/résumé 日本語 ✓.txt",
    "nested/dirs/with.dots/and-dashes_under.txt",
    "~tilde/(parens) [brackets] {braces}.txt",
]


def _shape(value):
    """Keys and value types, recursively (what a consumer of the event can rely on)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


@pytest.mark.parametrize("sample, version", [("s3_object_created.json", "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"),
                                             ("s3_unversioned_bucket.json", None)])
def test_local_event_has_the_recorded_shape(sample, version):
    recorded = json.loads((EVENTS / sample).read_text())
    built = _s3_event("bucket", "k.txt", 12, "etag", version, "0055AED6DCD90281E5")
    assert _shape(built) == _shape(recorded)


@pytest.mark.parametrize("key", ODD_KEYS)
@pytest.mark.parametrize("version", ["3HL4kqtJlcpXroDTDmjVBH40Nrjfkd", None])
def test_odd_keys_reach_the_pipeline_as_uploaded(key, version):
    event = _s3_event("ingest", key, 12, "etag", version, "0055AED6DCD90281E5")
    encoded = event["Records"][0]["s3"]["object"]["key"]
    assert " " not in encoded  # S3 URL-encodes keys, spaces as "+"

    [ref], skipped = object_refs(event)

    assert skipped == []
    assert (ref.key, ref.version_id) == (key, version)


def test_recorded_unversioned_event_has_no_version_and_decodes_its_key():
    [ref], _ = object_refs(json.loads((EVENTS / "s3_unversioned_bucket.json").read_text()))
    assert ref.version_id is None
    assert ref.key == "inbox/Q3 report 100% ✓.txt"


def test_moto_notifications_still_lack_what_the_pipeline_needs():
    from moto.s3.notifications import _get_s3_event

    class Key:
        name, etag, size = "a b.txt", '"e"', 1

    class Bucket:
        name, arn, region_name = "b", "arn:aws:s3:::b", "us-east-1"

    moto_object = _get_s3_event("s3:ObjectCreated:Put", Bucket, Key, "id")["Records"][0]["s3"]["object"]
    assert not {"versionId", "sequencer"} <= set(moto_object)
