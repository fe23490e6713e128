"""The checkpoint key of a model request: what is asked, not how it travels."""
from __future__ import annotations

from functions.common.events import S3Pointer
from functions.common.model_client import Blob, request_digest


def _blob(key: str, size: int = 100) -> Blob:
    return Blob(kind="audio", pointer=S3Pointer(bucket="staging", key=key), size=size)


def test_the_same_request_has_the_same_digest_and_any_change_to_it_another():
    batch = [_blob("p/audio/00000.wav"), {"blob": _blob("p/keyframes/1.jpg"), "task": "caption"}]
    same = [_blob("p/audio/00000.wav"), {"task": "caption", "blob": _blob("p/keyframes/1.jpg")}]
    digest = request_digest("speech-endpoint", batch, None)

    assert request_digest("speech-endpoint", same, {}) == digest
    assert len({
        digest,
        request_digest("other-endpoint", batch, None),  # another model
        request_digest("speech-endpoint", batch, {"language": "de"}),
        request_digest("speech-endpoint", batch[:1], None),
        request_digest("speech-endpoint", [_blob("p/audio/00001.wav"), batch[1]], None),
        request_digest("speech-endpoint", [_blob("p/audio/00000.wav", 101), batch[1]], None),
        request_digest("speech-endpoint", ["p/audio/00000.wav", batch[1]], None),  # text is not a blob
    }) == 7
