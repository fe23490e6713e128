"""The Kafka message for one object version: key and value bytes, both ways.

Key = "bucket/key": every version of one object lands on one partition, so the
dispatcher sees them in upload order. Value = the ObjectRef as UTF-8 JSON.
"""
from __future__ import annotations

import json

from pydantic import ValidationError

from functions.common.events import ObjectRef


class PoisonMessageError(ValueError):
    """A message that can never become an ObjectRef (bad encoding, JSON or schema)."""


def message_key(ref: ObjectRef) -> bytes:
    return f"{ref.bucket}/{ref.key}".encode()


def message_value(ref: ObjectRef) -> bytes:
    return ref.model_dump_json().encode("utf-8")


def decode_value(value: bytes) -> ObjectRef:
    """The ObjectRef in a message value. Raises PoisonMessageError with the reason."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PoisonMessageError(f"value is not UTF-8: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PoisonMessageError(f"value is not JSON: {exc}") from exc
    try:
        return ObjectRef.model_validate(data)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise PoisonMessageError(f"value is not an ObjectRef: {errors}") from exc
