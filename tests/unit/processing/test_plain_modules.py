"""Plain modules, no network: sniffing, text, chunk plans, transcripts, images, settings, db auth."""
from __future__ import annotations

import io
import json

import pytest

from functions.common.errors import InvalidObjectError, UnsupportedTypeError
from functions.common.events import CaughtError, FailureInput, ObjectRef


def _obj(**kw) -> ObjectRef:
    return ObjectRef(**{"bucket": "bkt", "key": "a/b.txt", "size": 1, "modality": "text", **kw})


@pytest.mark.parametrize("head, family, fmt", [
    (b"\xff\xd8\xff\xe0....", "image", "jpeg"),
    (b"\x89PNG\r\n\x1a\n....", "image", "png"),
    (b"%PDF-1.7\n", "pdf", "pdf"),
    (b"\x00\x00\x00\x18ftypisom", "media", "mp4"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "media", "wav"),
    (b"ID3\x04\x00", "media", "mp3"),
    (b"hello world\n", "text", "text"),
    (b"\x7fELF\x02\x01", "archive", "elf"),
])
def test_sniff_classifies_by_content(head, family, fmt):
    from functions.processing.formats.detect import sniff

    detected = sniff(head)
    assert (detected.family, detected.format) == (family, fmt)


def test_content_type_that_lies_is_invalid():
    from functions.processing.formats.detect import check_modality, sniff

    with pytest.raises(InvalidObjectError, match="claimed 'image/jpeg' .* PDF document"):
        check_modality("image", sniff(b"%PDF-1.4"), "image/jpeg")


def test_unsupported_modality_raises_unsupported_type_error():
    from functions.processing.formats.detect import check_modality, sniff

    with pytest.raises(UnsupportedTypeError, match="unsupported type"):
        check_modality("unsupported", sniff(b"\x7fELF"), "application/octet-stream")


def test_chunk_text_overlaps_in_model_tokens_and_covers_every_token():
    from functions.processing.chunking.text import iter_chunks

    # "0" .. "24" are one word piece each, so tokens and words coincide here.
    chunks = list(iter_chunks(" ".join(str(i) for i in range(25)), size=10, overlap=3))
    assert [(c.token_start, c.token_end) for c in chunks] == [(0, 10), (7, 17), (14, 24), (21, 25)]
    assert chunks[1].text.split()[:3] == chunks[0].text.split()[-3:]


def test_normalise_removes_controls_and_extra_blank_lines():
    from functions.processing.formats.text import normalise

    assert normalise("a\r\nb  \r\n\r\n\r\n\r\nc\x07\u0065\u0301") == "a\nb\n\nc\u00e9"


def test_decode_detects_utf8_and_refuses_empty():
    from functions.processing.formats.text import decode

    assert decode("naïve".encode()).encoding == "utf-8"
    with pytest.raises(InvalidObjectError, match="empty"):
        decode(b"  \n")


def test_plan_chunks_covers_duration_with_remainder():
    from functions.processing.formats.media import plan_chunks

    ranges = plan_chunks(12.0, 5.0)
    assert [(r.start, r.end, r.duration) for r in ranges] == [(0.0, 5.0, 5.0), (5.0, 10.0, 5.0), (10.0, 12.0, 2.0)]
    assert len(plan_chunks(10.0, 5.0)) == 2


def test_speech_segments_are_offset_and_grouped():
    from functions.processing.chunking.text import count_tokens
    from functions.processing.chunking.transcript import group_phrases, place_phrases

    output = {"text": "a b c", "segments": [{"start": 0.5, "end": 1.0, "text": "a"},
                                            {"start": 1.0, "end": 2.0, "text": "b c"}]}
    placed = place_phrases(output, offset=30.0, window_end=60.0)
    assert placed[0] == {"start": 30.5, "end": 31.0, "text": "a"}
    groups = group_phrases(placed + [{"start": 70.0, "end": 71.0, "text": "d"}], 10, count_tokens, max_seconds=30)
    assert [(g["start"], g["end"], g["text"]) for g in groups] == [(30.5, 32.0, "a b c"), (70.0, 71.0, "d")]


def test_speech_groups_are_bounded_by_embedding_model_tokens():
    from functions.processing.chunking.text import count_tokens
    from functions.processing.chunking.transcript import group_phrases

    # Three words but six word pieces a segment ("glacier12" is "glacier", "##12"): nine words fit
    # in 16, eighteen word pieces do not.
    segments = [{"start": float(i), "end": i + 1.0, "text": "glacier12 river34 forest56"} for i in range(3)]

    groups = group_phrases(segments, 16, count_tokens)

    assert [g["segments"] for g in groups] == [2, 1]
    assert all(count_tokens(g["text"]) <= 16 for g in groups)


def test_truncated_image_is_invalid():
    from PIL import Image

    from functions.processing.formats.image import extract_image

    out = io.BytesIO()
    Image.new("RGB", (200, 200), "red").save(out, "JPEG")
    with pytest.raises(InvalidObjectError, match="truncated|corrupt"):
        extract_image(out.getvalue()[: len(out.getvalue()) // 2])


def test_image_extract_makes_thumbnail_and_reads_size():
    from PIL import Image

    from functions.processing.formats.image import extract_image

    out = io.BytesIO()
    Image.new("RGBA", (1000, 500), (0, 0, 255, 128)).save(out, "PNG")
    result = extract_image(out.getvalue())
    assert (result.format, result.width, result.height) == ("png", 1000, 500)
    assert Image.open(io.BytesIO(result.thumbnail_jpeg)).size == (256, 128)


def test_staging_keys_are_deterministic_per_version():
    from functions.common.staging import object_prefix

    a = object_prefix("v1", _obj(version_id="x"))
    assert a == object_prefix("v1", _obj(version_id="x"))
    assert a != object_prefix("v1", _obj(version_id="y"))
    assert a.startswith("staging/v1/") and len(a.split("/")[-1]) == 64


def test_settings_parse_model_endpoints_and_reject_bad_values():
    from functions.common.settings import Settings

    settings = Settings.from_env({"MODEL_ENDPOINTS": '{"ocr": "OcrEndpoint-1a2B", "speech": ""}',
                                  "MODEL_BATCH_ITEMS": '{"ocr": 8}', "VIDEO_CHUNK_SECONDS": "7.5"})
    assert settings.model_endpoints == {"ocr": "OcrEndpoint-1a2B"} and settings.video_chunk_seconds == 7.5
    assert settings.model_batch_items == {"ocr": 8}
    with pytest.raises(ValueError):
        Settings.from_env({"MODEL_ENDPOINTS": '{"vision": "x"}'})
    with pytest.raises(ValueError, match="SageMaker endpoints"):  # one transport: InvokeEndpoint
        Settings.from_env({"MODEL_ENDPOINTS": '{"ocr": "http://127.0.0.1:8080"}'})
    with pytest.raises(ValueError):
        Settings.from_env({"MODEL_BATCH_ITEMS": '{"ocr": 0}'})
    with pytest.raises(ValueError):
        Settings.from_env({"TEXT_CHUNK_TOKENS": "10", "TEXT_CHUNK_OVERLAP": "10"})
    with pytest.raises(ValueError, match="TEXT_CHUNK_TOKENS"):  # all-MiniLM-L6-v2: 256 with [CLS]/[SEP]
        Settings.from_env({"TEXT_CHUNK_TOKENS": "255"})


def test_iam_auth_uses_an_rds_token_and_tls():
    from functions.common.db import DbConfig, connect_kwargs

    class Rds:
        def generate_db_auth_token(self, **kw):
            return f"token-for-{kw['DBUsername']}@{kw['DBHostname']}:{kw['Port']}"

    class Session:
        def client(self, name):
            assert name == "rds"
            return Rds()

    kwargs = connect_kwargs(DbConfig.from_env({"DB_HOST": "proxy", "DB_USER": "app", "DB_AUTH": "iam"}), Session())
    assert kwargs["password"] == "token-for-app@proxy:5432" and kwargs["sslmode"] == "require"


def test_failure_reason_is_the_lambda_error_message():
    from functions.processing.results.failures import failure_reason

    cause = json.dumps({"errorMessage": "the object is empty (0 bytes)", "errorType": "InvalidObjectError"})
    failure = FailureInput(object=_obj(), pipeline_version="v", failed_step="extract",
                           error=CaughtError(Error="InvalidObjectError", Cause=cause))
    assert failure_reason(failure) == "the object is empty (0 bytes)"


def test_migrate_handler_delete_is_a_no_op():
    from functions.migrate.handler import lambda_handler

    class Ctx:
        function_name, memory_limit_in_mb, aws_request_id = "migrate", 256, "r"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:migrate"

    result = lambda_handler({"RequestType": "Delete", "PhysicalResourceId": "pipeline-schema"}, Ctx())
    assert result == {"PhysicalResourceId": "pipeline-schema"}
