"""Bad input ends as a failure row with a clear reason; store is all or nothing."""
from __future__ import annotations

import io

import pytest
from media_files import long_text, pdf_with_scanned_page, review_pptx, sales_xlsx, words_image

from functions.common.constants import DB_SCHEMA, ENV_MAX_OBJECT_BYTES


def _failure(pipeline, obj):
    rows = pipeline.rows(obj)
    assert rows["object"]["status"] == "failed"
    assert rows["chunks"] == [] and rows["embeddings"] == []
    return rows["failure"]


@pytest.mark.parametrize(
    "key, data, modality, content_type, error, reason",
    [
        ("img/empty.png", b"", "image", "image/png", "InvalidObjectError", "empty (0 bytes)"),
        ("img/cut.png", words_image()[:400], "image", "image/png", "InvalidObjectError", "truncated"),
        ("img/liar.png", pdf_with_scanned_page(), "image", "image/png", "InvalidObjectError", "content is a PDF document"),
        ("docs/cut.pdf", pdf_with_scanned_page()[:300], "document", "application/pdf", "InvalidObjectError", "PDF"),
        ("video/fake.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500, "video", "video/mp4", "InvalidObjectError", "audio/video"),
        ("docs/fake.docx", b"PK\x03\x04" + b"garbage" * 50, "document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "InvalidObjectError", "ZIP archive"),
        ("tables/cut.xlsx", sales_xlsx()[:1500], "document", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "InvalidObjectError", "truncated or damaged ZIP"),
        ("slides/cut.pptx", review_pptx()[:3000], "document", "application/vnd.openxmlformats-officedocument.presentationml.presentation", "InvalidObjectError", "truncated or damaged ZIP"),
        ("tables/image.csv", words_image(), "document", "text/csv", "InvalidObjectError", "content is a PNG image"),
        ("bin/archive.7z", b"7z\xbc\xaf\x27\x1c" + bytes(range(256)) * 4, "unsupported", "application/x-7z-compressed", "UnsupportedTypeError", "unsupported type"),
    ],
)
def test_bad_input_ends_as_failure_row_with_reason(pipeline, key, data, modality, content_type, error, reason):
    obj = pipeline.put(key, data, modality, content_type)

    result = pipeline.run(obj)

    assert result["status"] == "failed"
    failed_step, error_name, recorded = _failure(pipeline, obj)
    assert (failed_step, error_name) == ("extract", error)
    assert reason in recorded


def test_object_above_max_object_bytes_is_refused_without_download(pipeline, monkeypatch):
    monkeypatch.setenv(ENV_MAX_OBJECT_BYTES, "1000")
    obj = pipeline.put("docs/big.txt", long_text(500).encode(), "text", "text/plain")

    pipeline.run(obj)

    assert "above MAX_OBJECT_BYTES" in _failure(pipeline, obj)[2]


def test_decompression_bomb_is_refused(pipeline):
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (10000, 10000)).save(out, "PNG")  # 100 MP canvas in a few KB
    obj = pipeline.put("img/bomb.png", out.getvalue(), "image", "image/png")

    pipeline.run(obj)

    reason = _failure(pipeline, obj)[2]
    assert "decompression bomb" in reason and "64000000" in reason


def test_failure_in_the_middle_of_store_leaves_no_partial_rows(pipeline, monkeypatch):
    from functions.processing.results import writes

    good = pipeline.put("docs/good.txt", long_text(80).encode(), "text", "text/plain")
    pipeline.run(good)
    before = pipeline.content(good)
    # other bytes than good's: the same bytes would reuse good's result instead of inserting rows
    obj = pipeline.put("docs/broken.txt", long_text(81).encode(), "text", "text/plain")

    def explode(*args, **kwargs):
        raise RuntimeError("simulated crash after chunks were inserted")

    monkeypatch.setattr(writes, "_insert_embeddings", explode)
    result = pipeline.run(obj)
    # the good version rewritten from its staged manifests: its earlier rows must survive the crash
    item = {"object": good.model_dump(mode="json"), "pipeline_version": "v-test"}
    embedded = pipeline.run(good, steps=["extract", "generate", "embed"], start=item)
    with pytest.raises(RuntimeError):
        pipeline.invoke("store", {**embedded, "up_to_date": False})

    assert result["status"] == "failed"
    assert _failure(pipeline, obj)[0] == "store"
    with pipeline.db.transaction() as conn:
        assert conn.execute(f"SELECT count(*) FROM {DB_SCHEMA}.chunks c JOIN {DB_SCHEMA}.objects o"
                            " ON o.id = c.object_id WHERE o.key = 'docs/broken.txt'").fetchone()[0] == 0
    assert pipeline.content(good) == before


def test_late_failure_does_not_overwrite_a_succeeded_result(pipeline):
    obj = pipeline.put("docs/ok.txt", long_text(60).encode(), "text", "text/plain")
    pipeline.run(obj)
    failure = {"object": obj.model_dump(mode="json"), "pipeline_version": "v-test", "failed_step": "embed",
               "error": {"Error": "ModelUnavailableError", "Cause": "{\"errorMessage\": \"gone\"}"}}

    result = pipeline.invoke("record_failure", failure)

    assert result["status"] == "up_to_date"
    rows = pipeline.rows(obj)
    assert rows["object"]["status"] == "succeeded" and rows["failure"] is None and rows["chunks"]


def test_success_after_failure_removes_the_failure_row(pipeline):
    obj = pipeline.put("docs/retry.txt", long_text(60).encode(), "text", "text/plain")
    failure = {"object": obj.model_dump(mode="json"), "pipeline_version": "v-test", "failed_step": "generate",
               "error": {"Error": "ModelThrottledError", "Cause": "not json"}}
    pipeline.invoke("record_failure", failure)
    assert pipeline.rows(obj)["failure"][2] == "not json"

    assert pipeline.run(obj)["status"] == "succeeded"

    rows = pipeline.rows(obj)
    assert rows["failure"] is None and rows["object"]["status"] == "succeeded"


def test_media_a_model_cannot_read_ends_as_one_failure_row_without_endpoint_retries(pipeline, s3, model_profile):
    """The staged image is replaced by bytes no decoder reads (as a hostile or damaged artefact
    would be): the model container refuses it, the client does not retry, the Catch records it."""
    from functions.common.constants import MODEL_GENERATION
    from local.model_servers import endpoint_name

    obj = pipeline.put("img/hostile.png", words_image(), "image", "image/png")
    extracted = pipeline.run(obj, steps=["extract"])
    staged = [o["Key"] for o in s3.list_objects_v2(Bucket=extracted["manifest"]["bucket"])["Contents"]
              if o["Key"].endswith((".png", ".jpg")) and "thumbnail" not in o["Key"]]
    assert staged, "extract staged no image"
    for key in staged:
        s3.put_object(Bucket=extracted["manifest"]["bucket"], Key=key, Body=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    calls = model_profile.runtime.invocations(endpoint_name(MODEL_GENERATION))

    result = pipeline.run(obj, steps=["generate", "embed", "store"], start=extracted)

    assert result["status"] == "failed"
    failed_step, error_name, reason = _failure(pipeline, obj)
    assert (failed_step, error_name) == ("generate", "ModelInputError")
    assert "refused the input" in reason and "not a readable image" in reason
    assert model_profile.runtime.invocations(endpoint_name(MODEL_GENERATION)) == calls + 1
