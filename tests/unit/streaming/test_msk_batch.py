"""Decoding ESM batches: valid records, poison records, envelope errors."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from functions.streaming.messages import PoisonMessageError, decode_value, message_key, message_value
from functions.streaming.msk_batch import Coordinates, decode_batch


def test_valid_batch_decodes_every_record_in_coordinate_order(load_event):
    batch = decode_batch(load_event("msk_batch.json"))
    assert batch.poison == []
    assert [str(r.coordinates) for r in batch.records] == [
        "pipeline-objects-0-15", "pipeline-objects-0-16", "pipeline-objects-3-7", "pipeline-objects-3-8",
    ]
    assert batch.records[0].ref.key == "photos/my photoé.jpg"


def test_poison_records_are_reported_with_reasons_and_do_not_stop_the_rest(load_event):
    batch = decode_batch(load_event("msk_batch_with_poison.json"))
    assert len(batch.records) == 4
    reasons = {p.coordinates.offset: p.reason for p in batch.poison}
    assert set(reasons) == {40, 41, 42}
    assert reasons[40].startswith("value is not JSON")
    assert reasons[41].startswith("value is not an ObjectRef") and "size" in reasons[41]
    assert reasons[42].startswith("value is not UTF-8")


def test_tombstone_and_bad_base64_and_missing_offset_are_poison(load_event):
    event = load_event("msk_batch.json")
    group = event["records"]["pipeline-objects-0"]
    group[0]["value"] = None
    group[1]["value"] = "***"
    del event["records"]["pipeline-objects-3"][0]["offset"]
    batch = decode_batch(event)
    assert [p.coordinates for p in batch.poison][:2] == [Coordinates("pipeline-objects", 0, 15), Coordinates("pipeline-objects", 0, 16)]
    assert len(batch.poison) == 3 and len(batch.records) == 1


def test_an_event_that_is_not_an_msk_batch_is_rejected():
    with pytest.raises(ValidationError):
        decode_batch({"Records": []})


def test_message_round_trip(load_event):
    ref = decode_batch(load_event("msk_batch.json")).records[0].ref
    assert decode_value(message_value(ref)) == ref
    assert message_key(ref) == "test-ingest-bucket/photos/my photoé.jpg".encode()
    with pytest.raises(PoisonMessageError):
        decode_value(b"[]")
