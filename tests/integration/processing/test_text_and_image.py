"""Text and image objects end to end: rows in PostgreSQL, idempotency, model availability."""
from __future__ import annotations

from media_files import long_text, words_image


def test_utf8_text_is_chunked_with_overlap_and_embedded(pipeline):
    obj = pipeline.put("docs/notes.txt", long_text(100).encode("utf-8"), "text", "text/plain")

    result = pipeline.run(obj)

    assert result["status"] == "succeeded"
    rows = pipeline.rows(obj)
    chunks = rows["chunks"]
    # 100 words of two or three MiniLM word pieces ("river0": "river", "##0"; "ocean73": "ocean",
    # "##7", "##3") and the period: 231 tokens. Chunks of at most 40 tokens ending between words,
    # each starting 10 tokens (a word less where 10 would split one) before the previous one ends.
    spans = [(c["metadata"]["token_start"], c["metadata"]["token_end"]) for c in chunks]
    assert [start for start, _ in spans] == [0, 30, 60, 90, 118, 148, 179, 209]
    assert all(end - start <= 40 for start, end in spans) and spans[-1][1] == 231
    assert chunks[0]["text"].split()[-5:] == chunks[1]["text"].split()[:5]
    assert {e[1:] for e in rows["embeddings"]} == {
        ("text_embedding", rows["embeddings"][0][2], rows["embeddings"][0][3], 384, 384)
    }
    assert len(rows["embeddings"]) == 8
    assert "minilm" in rows["embeddings"][0][2].lower()
    summary = [g for g in rows["generated"] if g[1] == "summarize"]
    assert summary and summary[0][2]["summary"].startswith("river0")
    assert result["chunks"] == 8 and result["embeddings"] == 8


def test_latin1_text_is_detected_and_normalised(pipeline):
    text = ("Le café du marché est très animé. " * 6 + "\r\n\r\n\r\n\x07Fin.").encode("latin-1")
    obj = pipeline.put("docs/latin.txt", text, "text", "text/plain")

    pipeline.run(obj)

    rows = pipeline.rows(obj)
    assert rows["object"]["status"] == "succeeded"
    assert rows["object"]["metadata"]["encoding"].lower().replace("_", "-") in {"cp1252", "latin-1", "iso-8859-1", "cp1250", "iso-8859-15", "windows-1252"}
    joined = " ".join(c["text"] for c in rows["chunks"])
    assert "café du marché est très animé" in joined
    assert "\x07" not in joined


def test_image_gets_ocr_words_caption_and_both_embeddings(pipeline):
    obj = pipeline.put("img/words.png", words_image(), "image", "image/png")

    result = pipeline.run(obj)

    assert result["status"] == "succeeded", result
    rows = pipeline.rows(obj)
    assert rows["object"]["detected_format"] == "png"
    assert rows["object"]["metadata"]["width"] == 900
    [chunk] = rows["chunks"]
    assert chunk["kind"] == "image"
    for word in ("INVOICE", "PIPELINE", "HELLO"):
        assert word in chunk["text"].upper()
    roles = {(e[1], e[2], e[4]) for e in rows["embeddings"]}
    assert ("image_embedding", "random-tiny-clip", 16) in roles
    assert any(r[0] == "text_embedding" and r[2] == 384 for r in roles)
    [(_, task, caption, model_id)] = rows["generated"]
    assert task == "caption" and isinstance(caption["caption"], str) and isinstance(caption["tags"], list)
    assert model_id == "random-tiny-florence2"
    assert rows["object"]["metadata"]["artefacts"]["thumbnail"].endswith("thumbnail.jpg")
    assert rows["object"]["unavailable"] == []


def test_jpeg_exif_is_recorded(pipeline):
    obj = pipeline.put("img/cam.jpg", words_image(fmt="JPEG", exif=True), "image", "image/jpeg")

    pipeline.run(obj)

    meta = pipeline.rows(obj)["object"]["metadata"]
    assert meta["format"] == "jpeg"
    assert meta["exif"]["Make"] == "TestCam"


def test_missing_models_are_recorded_not_invented(bare_pipeline):
    obj = bare_pipeline.put("img/words.png", words_image(), "image", "image/png")

    result = bare_pipeline.run(obj)

    assert result["status"] == "succeeded"
    rows = bare_pipeline.rows(obj)
    assert set(rows["object"]["unavailable"]) == {"ocr", "generation", "image_embedding"}
    assert rows["chunks"][0]["text"] is None
    assert rows["embeddings"] == [] and rows["generated"] == []


def test_same_object_twice_gives_the_same_rows(pipeline):
    obj = pipeline.put("docs/twice.txt", long_text(80).encode(), "text", "text/plain")
    pipeline.run(obj)
    first = pipeline.content(obj)

    again = pipeline.run(obj)

    assert again["status"] == "up_to_date"
    assert pipeline.content(obj) == first


def test_rerunning_store_replaces_rows_instead_of_adding(pipeline):
    obj = pipeline.put("docs/rerun.txt", long_text(80).encode(), "text", "text/plain")
    item = {"object": obj.model_dump(mode="json"), "pipeline_version": "v-test"}
    embedded = pipeline.run(obj, steps=["extract", "generate", "embed"], start=item)
    pipeline.run(obj, steps=["store"], start=embedded)
    first = pipeline.content(obj)

    pipeline.run(obj, steps=["store"], start=embedded)
    pipeline.run(obj, steps=["embed", "store"], start={**embedded, "step": "generate"})

    assert pipeline.content(obj) == first
