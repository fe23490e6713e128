"""Video, audio and documents end to end, against real OCR and speech recognition."""
from __future__ import annotations

import pytest
from media_files import (
    SPOKEN,
    docx_with_table,
    pdf_with_scanned_page,
    review_pptx,
    sales_xlsx,
    silent_video,
    speech_mp3,
    speech_video,
)


def _spoken_words_found(text: str) -> set[str]:
    return set(SPOKEN.split()) & set(text.lower().split())


def test_video_is_split_into_timed_chunks_with_keyframes_and_transcript(pipeline, media_dir, wav):
    video = speech_video(media_dir, wav, seconds=12.0)
    obj = pipeline.put("video/talk.mp4", video.read_bytes(), "video", "video/mp4")

    result = pipeline.run(obj)

    assert result["status"] == "succeeded", result
    rows = pipeline.rows(obj)
    meta = rows["object"]["metadata"]
    assert meta["video_codec"] == "h264" and meta["audio_codec"] == "aac"
    assert meta["fps"] == pytest.approx(10.0)
    assert meta["duration"] == pytest.approx(12.0, abs=0.2)
    chunks = rows["chunks"]
    assert [(c["time_start"], c["kind"]) for c in chunks] == [(0.0, "video_segment"), (5.0, "video_segment"), (10.0, "video_segment")]
    assert chunks[0]["duration"] == 5.0 and chunks[-1]["time_end"] == pytest.approx(12.0, abs=0.2)
    assert all(c["metadata"]["image_key"].endswith(".jpg") for c in chunks)
    transcript = " ".join(c["text"] or "" for c in chunks)
    assert len(_spoken_words_found(transcript)) >= 6, transcript
    roles = [e[1] for e in rows["embeddings"]]
    assert roles.count("image_embedding") == 3
    assert all(e[4] == 384 for e in rows["embeddings"] if e[1] == "text_embedding")
    captions = [g for g in rows["generated"] if g[1] == "caption"]
    assert [g[0] for g in captions] == [0, 1, 2]


def test_video_without_audio_has_no_transcript(pipeline, media_dir):
    obj = pipeline.put("video/silent.mp4", silent_video(media_dir).read_bytes(), "video", "video/mp4")

    pipeline.run(obj)

    rows = pipeline.rows(obj)
    assert rows["object"]["status"] == "succeeded"
    assert len(rows["chunks"]) == 1 and rows["chunks"][0]["text"] is None
    assert rows["object"]["metadata"]["has_audio"] is False


def test_mp3_audio_gets_a_timed_transcript_and_segment_embeddings(pipeline, media_dir, wav):
    mp3 = speech_mp3(media_dir, wav)
    obj = pipeline.put("audio/speech.mp3", mp3.read_bytes(), "audio", "audio/mpeg")

    result = pipeline.run(obj)

    assert result["status"] == "succeeded", result
    rows = pipeline.rows(obj)
    assert rows["object"]["metadata"]["resampled_to_hz"] == 16000
    chunks = rows["chunks"]
    assert chunks and all(c["kind"] == "audio_segment" for c in chunks)
    assert all(0 <= c["time_start"] <= c["time_end"] <= rows["object"]["metadata"]["duration"] + 0.5 for c in chunks)
    assert len(_spoken_words_found(" ".join(c["text"] for c in chunks))) >= 7
    assert len(rows["embeddings"]) == len(chunks) and all(e[4] == 384 for e in rows["embeddings"])


def test_wav_without_speech_model_keeps_time_windows_only(bare_pipeline, wav):
    obj = bare_pipeline.put("audio/speech.wav", wav.read_bytes(), "audio", "audio/wav")

    bare_pipeline.run(obj)

    rows = bare_pipeline.rows(obj)
    assert "speech" in rows["object"]["unavailable"]
    assert [c["kind"] for c in rows["chunks"]] == ["audio_window"]
    assert rows["chunks"][0]["text"] is None and rows["embeddings"] == []


def test_pdf_pages_are_chunked_with_page_numbers_and_scanned_page_is_ocred(pipeline):
    obj = pipeline.put("docs/report.pdf", pdf_with_scanned_page(), "document", "application/pdf")

    result = pipeline.run(obj)

    assert result["status"] == "succeeded", result
    rows = pipeline.rows(obj)
    by_page = {}
    for c in rows["chunks"]:
        by_page.setdefault(c["page"], []).append(c)
    assert sorted(by_page) == [1, 2, 3]
    assert "river delta" in by_page[1][0]["text"]
    scanned = " ".join(c["text"] for c in by_page[2]).upper()
    assert "SCANNED" in scanned and "RECEIPT" in scanned
    assert by_page[2][0]["metadata"]["ocr"] is True
    assert "Apples" in by_page[3][0]["text"] and "120" in by_page[3][0]["text"]
    assert rows["object"]["metadata"]["scanned_pages"] == [2]
    assert len(rows["embeddings"]) == len(rows["chunks"])


def test_docx_keeps_table_rows_and_page_breaks(pipeline):
    obj = pipeline.put("docs/notes.docx", docx_with_table(), "document",
                       "application/vnd.openxmlformats-officedocument.wordprocessingml.document")

    pipeline.run(obj)

    rows = pipeline.rows(obj)
    assert rows["object"]["detected_format"] == "docx"
    pages = {c["page"]: c["text"] for c in rows["chunks"]}
    assert "Item: Lamp; Cost: 300" in pages[1] and "lighthouse" in pages[1]
    assert "harbour master" in pages[2]
    assert rows["object"]["metadata"]["tables"] == 1


def test_docx_table_row_is_found_with_its_header_labels_and_the_chunk_carries_the_table(pipeline):
    obj = pipeline.put("docs/budget.docx", docx_with_table(), "document",
                       "application/vnd.openxmlformats-officedocument.wordprocessingml.document")

    pipeline.run(obj)

    chunks = pipeline.rows(obj)["chunks"]
    lamp = next(c for c in chunks if "Item: Lamp; Cost: 300" in c["text"])
    table = lamp["metadata"]["tables"][0]
    assert table["table"] == 0 and table["header"] == ["Item", "Cost"]
    assert ["Lamp", "300"] in table["rows"]
    assert all("tables" not in c["metadata"] for c in chunks if c["page"] == 2)


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_xlsx_sheets_become_row_chunks_naming_sheet_and_rows(pipeline):
    obj = pipeline.put("tables/sales.xlsx", sales_xlsx(), "document", XLSX_TYPE)

    result = pipeline.run(obj)

    assert result["status"] == "succeeded", result
    rows = pipeline.rows(obj)
    assert rows["object"]["detected_format"] == "xlsx"
    assert rows["object"]["metadata"]["sheets"] == ["Sales", "Stock"]
    assert rows["object"]["metadata"]["rows"] == 3 + 40
    chunks = rows["chunks"]
    assert all(c["kind"] == "table_rows" for c in chunks)
    harbour = next(c for c in chunks if "Region: Harbour; Q1: 44; Q2: 57" in c["text"])
    assert harbour["metadata"]["sheet"] == "Sales" and harbour["metadata"]["header"] == ["Region", "Q1", "Q2"]
    assert ["Harbour", "44", "57"] in harbour["metadata"]["rows"]
    stock = [c["metadata"] for c in chunks if c["metadata"]["sheet"] == "Stock"]
    assert len(stock) > 1  # 40 rows do not fit one chunk of 40 tokens
    assert stock[0]["row_start"] == 2 and stock[-1]["row_end"] == 41
    assert all(a["row_end"] + 1 == b["row_start"] for a, b in zip(stock, stock[1:]))
    assert len(rows["embeddings"]) == len(chunks)


def test_csv_is_read_as_a_table_with_its_header_as_labels(pipeline):
    data = b"city;country;population\nLisbon;Portugal;545000\nPorto;Portugal;232000\n"
    obj = pipeline.put("tables/cities.csv", data, "document", "text/csv")

    result = pipeline.run(obj)

    assert result["status"] == "succeeded", result
    rows = pipeline.rows(obj)
    assert rows["object"]["detected_format"] == "csv"
    [chunk] = rows["chunks"]
    assert "city: Porto; country: Portugal; population: 232000" in chunk["text"]
    assert (chunk["metadata"]["row_start"], chunk["metadata"]["row_end"]) == (2, 3)
    assert "sheet" not in chunk["metadata"]


def test_pptx_slides_are_chunks_with_slide_number_notes_and_tables(pipeline):
    obj = pipeline.put("slides/review.pptx", review_pptx(), "document",
                       "application/vnd.openxmlformats-officedocument.presentationml.presentation")

    result = pipeline.run(obj)

    assert result["status"] == "succeeded", result
    rows = pipeline.rows(obj)
    assert rows["object"]["detected_format"] == "pptx"
    assert rows["object"]["metadata"]["slides"] == 2
    by_slide = {}
    for c in rows["chunks"]:
        by_slide.setdefault(c["page"], []).append(c)
    assert sorted(by_slide) == [1, 2]
    first = " ".join(c["text"] for c in by_slide[1])
    assert "Quarterly review" in first and "Speaker notes: Mention the lighthouse renovation" in first
    lamp = next(c for c in by_slide[2] if "Item: Lamp; Cost: 300" in c["text"])
    assert lamp["metadata"]["tables"][0]["header"] == ["Item", "Cost"]
