"""S3 notification -> ObjectRefs: key decoding, filtering, classification."""
from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from functions.streaming.s3_events import decode_key, object_refs


@pytest.mark.parametrize(
    "raw, decoded",
    [
        ("my+photo%C3%A9.jpg", "my photoé.jpg"),
        ("a%2Bb.txt", "a+b.txt"),
        ("dir/sub+dir/file+name.pdf", "dir/sub dir/file name.pdf"),
        ("%E6%97%A5%E6%9C%AC%E8%AA%9E.png", "日本語.png"),
        ("100%25+sure.txt", "100% sure.txt"),
        ("plain.txt", "plain.txt"),
    ],
)
def test_notification_keys_are_url_decoded_with_plus_as_space(raw, decoded):
    assert decode_key(raw) == decoded


def test_a_1024_byte_key_survives_decoding(load_event):
    name = "é" * 509 + ".txt"  # 1018 UTF-8 bytes + 4
    raw = "".join(f"%{b:02X}" for b in name.encode("utf-8"))
    event = load_event("s3_object_created.json")
    event["Records"][0]["s3"]["object"]["key"] = raw
    refs, _ = object_refs(event)
    assert refs[0].key == name and refs[0].modality == "text"


def test_created_object_becomes_one_ref_with_decoded_key_and_version(load_event):
    refs, skipped = object_refs(load_event("s3_object_created.json"))
    assert skipped == []
    [ref] = refs
    assert ref.bucket == "test-ingest-bucket"
    assert ref.key == "photos/my photoé.jpg"
    assert ref.version_id == "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"
    assert ref.size == 1305107 and ref.modality == "image"
    assert ref.sequencer == "0055AED6DCD90281E5"


def test_deletes_and_folder_markers_are_skipped_but_empty_and_unknown_objects_are_kept(load_event):
    refs, skipped = object_refs(load_event("s3_mixed_records.json"))
    assert [(r.key, r.modality, r.size) for r in refs] == [
        ("photos/my photoé.jpg", "image", 1305107),
        ("videos/clip 2026+1.mp4", "video", 734003200),
        ("docs/empty.pdf", "document", 0),
        ("misc/archive.xyz", "unsupported", 2048),
    ]
    assert sorted(s.reason.split()[0] for s in skipped) == ["event", "folder"]


def test_content_type_is_asked_only_when_the_extension_does_not_decide(load_event):
    asked = []

    def lookup(bucket, key, version_id):
        asked.append(key)
        return "audio/mpeg"

    event = load_event("s3_mixed_records.json")
    refs, _ = object_refs(event, content_type_of=lookup)
    assert asked == ["misc/archive.xyz"]
    assert refs[-1].modality == "audio" and refs[-1].content_type == "audio/mpeg"


def test_null_version_id_means_unversioned(load_event):
    event = load_event("s3_object_created.json")
    event["Records"][0]["s3"]["object"]["versionId"] = "null"
    refs, _ = object_refs(event)
    assert refs[0].version_id is None


def test_a_created_record_without_size_is_rejected(load_event):
    event = copy.deepcopy(load_event("s3_object_created.json"))
    del event["Records"][0]["s3"]["object"]["size"]
    with pytest.raises((ValidationError, ValueError)):
        object_refs(event)
