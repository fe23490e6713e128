"""E-mail messages (each attachment an object of its own), RTF, ODT and PDF tables through the
handlers: rows in PostgreSQL, the nearest chunk to a question about a word is the one holding it,
and a failure row for each format's corrupt or truncated form."""
from __future__ import annotations

import io
import zipfile

import pytest

from functions.common.constants import ATTACHMENTS_PREFIX, DB_SCHEMA, MODEL_TEXT_EMBEDDING
from functions.common.model_client import ModelClient
from functions.common.settings import Settings
from functions.processing.formats import eml as eml_format
from functions.streaming.classify import classify
from samples.generate import _pdf_table, eml, odt, rtf

SCHEDULE = b"Pilot boarding times: the tanker Meridian boards at dawn, the ferry Solent at noon.\n"


def _nearest_key(pipeline, query: str) -> str:
    """The key of the object whose chunk is nearest to `query` (pgvector cosine distance), the
    query embedded by the same text_embedding endpoint the pipeline used."""
    settings = Settings.from_env()
    client = ModelClient(settings.model_endpoints, components=settings.model_components)
    [vector] = client.invoke(MODEL_TEXT_EMBEDDING, [query]).outputs
    with pipeline.db.transaction() as conn:
        row = conn.execute(
            f"SELECT o.key FROM {DB_SCHEMA}.embeddings e JOIN {DB_SCHEMA}.objects o ON o.id = e.object_id"
            " WHERE e.model_role = %s ORDER BY e.embedding <=> %s::vector LIMIT 1",
            (MODEL_TEXT_EMBEDDING, str(list(vector)))).fetchone()
    return row[0]


def _odf_package(content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        package.writestr("content.xml", content)
    return out.getvalue()


def _put(pipeline, key: str, data: bytes, content_type: str | None = None):
    return pipeline.put(key, data, classify(key, content_type), content_type)


def test_email_message_is_a_document_and_its_attachment_an_object_of_its_own(pipeline):
    # Given a message with a text body and one attachment, uploaded as .eml
    data = eml("Pilot schedule for March", "The harbour office sends this week's pilot plan.",
               [("pilot schedule.txt", "text/plain", SCHEDULE)])
    message = _put(pipeline, "mail/pilots.eml", data)

    # When it goes through the pipeline
    result = pipeline.run(message)

    # Then the message has its rows: headers in the metadata and in its text, the body, the attachment named
    assert message.modality == "document" and result["status"] == "succeeded", result
    rows = pipeline.rows(message)
    meta = rows["object"]["metadata"]
    assert rows["object"]["detected_format"] == "eml"
    assert meta["headers"]["subject"] == "Pilot schedule for March"
    assert meta["headers"]["from"] == "Harbour Office <office@harbour.example>"
    key = f"{ATTACHMENTS_PREFIX}/mail/pilots.eml/1-pilot-schedule.txt"
    assert meta["attachment_keys"] == [key]
    text = " ".join(c["text"] for c in rows["chunks"])
    assert "Subject: Pilot schedule for March" in text and "pilot plan" in text and "tanker" not in text
    # And the attachment is in the ingest bucket beside it, where its notification picks it up
    head = pipeline.s3.head_object(Bucket=pipeline.bucket, Key=key)
    assert head["ContentType"] == "text/plain" and head["Metadata"]["source-key"] == "mail/pilots.eml"
    body = pipeline.s3.get_object(Bucket=pipeline.bucket, Key=key)["Body"].read()
    assert body.replace(b"\r\n", b"\n") == SCHEDULE

    # When the attachment's own event comes round, it is processed as what its extension says
    attachment = pipeline.put(key, body, classify(key), head["ContentType"])
    assert pipeline.run(attachment)["status"] == "succeeded"
    assert "tanker Meridian" in " ".join(c["text"] for c in pipeline.rows(attachment)["chunks"])
    assert _nearest_key(pipeline, "when does the tanker Meridian board") == key


def test_rerunning_extract_on_a_message_writes_no_new_attachment_version(pipeline):
    data = eml("Tides", "See attached.", [("tides.csv", "text/csv", b"port,high\nBrest,06:12\n")])
    message = _put(pipeline, "mail/tides.eml", data)
    item = {"object": message.model_dump(mode="json"), "pipeline_version": "v-test"}

    pipeline.invoke("extract", item)
    pipeline.invoke("extract", item)  # a retried or redelivered extract

    key = f"{ATTACHMENTS_PREFIX}/mail/tides.eml/1-tides.csv"
    versions = pipeline.s3.list_object_versions(Bucket=pipeline.bucket, Prefix=key).get("Versions", [])
    assert len(versions) == 1


def test_html_only_message_is_read_as_text(pipeline):
    data = eml("Notice", "Berth <b>B7</b> closes for dredging on Tuesday.", [], html=True)
    message = _put(pipeline, "mail/notice.eml", data, "message/rfc822")

    pipeline.run(message)

    rows = pipeline.rows(message)
    assert rows["object"]["metadata"]["body"] == "html"
    text = " ".join(c["text"] for c in rows["chunks"])
    assert "Berth B7 closes for dredging" in text and "<b>" not in text


def test_message_nested_too_deep_writes_no_attachments_and_says_why(pipeline):
    # Given a message that is already an attachment MAX_NESTING levels deep, attaching another
    key = f"{ATTACHMENTS_PREFIX}/" * eml_format.MAX_NESTING + "mail/loop.eml"
    inner = eml("Fwd", "again", [])
    message = _put(pipeline, key, eml("Fwd: Fwd", "forwarded once more", [("loop.eml", "message/rfc822", inner)]))

    result = pipeline.run(message)

    # Then the message itself is processed, its attachment is refused with the reason, nothing is written
    assert result["status"] == "succeeded", result
    [entry] = pipeline.rows(message)["object"]["metadata"]["attachments"]
    assert "levels deep" in entry["refused"] and "key" not in entry
    listed = pipeline.s3.list_objects_v2(Bucket=pipeline.bucket, Prefix=f"{key.rsplit('/', 2)[0]}/mail/loop.eml/")
    assert listed.get("KeyCount", 0) == 0


def test_attachments_beyond_the_count_limit_are_refused_with_the_reason(pipeline, monkeypatch):
    monkeypatch.setattr(eml_format, "MAX_ATTACHMENTS", 2)
    parts = [(f"note{i}.txt", "text/plain", f"note number {i}\n".encode()) for i in range(3)]
    message = _put(pipeline, "mail/many.eml", eml("Notes", "three notes", parts))

    pipeline.run(message)

    entries = pipeline.rows(message)["object"]["metadata"]["attachments"]
    assert [bool(e.get("key")) for e in entries] == [True, True, False]
    assert "more than 2 attachments" in entries[2]["refused"]


@pytest.mark.parametrize("key, data, reason", [
    # a multipart message cut in transit: no closing boundary
    ("mail/cut.eml", eml("Cut", "body", [("a.txt", "text/plain", b"x" * 3000)])[:-400], "truncated e-mail message"),
    ("mail/not mail.eml", b"just some words, no header line at all\n", "content does not match its type"),
    ("docs/cut.rtf", rtf("Memo", ["first paragraph", "second paragraph"])[:-20], "corrupt or truncated RTF"),
    # a package cut in transit cannot be told from any ZIP: its member list is at the end
    ("docs/cut.odt", odt("Plan", ["text"], [("A", "B"), ("1", "2")])[:-200], "truncated or damaged ZIP"),
    ("docs/broken xml.odt", _odf_package(b"<office:document-content xmlns:office="), "corrupt or truncated ODT"),
    ("docs/cut table.pdf", _pdf_table("T", [("A", "B"), ("1", "2")], "n")[:400], "PDF"),
], ids=["eml-cut", "eml-no-headers", "rtf-cut", "odt-cut", "odt-broken-xml", "pdf-cut"])
def test_corrupt_or_truncated_form_ends_as_a_failure_row(pipeline, key, data, reason):
    obj = _put(pipeline, key, data)

    result = pipeline.run(obj)

    assert result["status"] == "failed"
    failed_step, error, why = pipeline.rows(obj)["failure"]
    assert (failed_step, error) == ("extract", "InvalidObjectError") and reason in why, why


def test_rtf_is_read_as_a_document_with_its_accents(pipeline):
    obj = _put(pipeline, "docs/crew memo.rtf", rtf("Crew memo", ["The night watch rota changes on Monday.",
                                                                 "Café breaks stay at ten and three."]))

    assert pipeline.run(obj)["status"] == "succeeded"

    rows = pipeline.rows(obj)
    assert obj.modality == "document" and rows["object"]["detected_format"] == "rtf"
    text = " ".join(c["text"] for c in rows["chunks"])
    assert "night watch rota" in text and "Café breaks" in text and "\\par" not in text
    assert _nearest_key(pipeline, "who changes the night watch rota") == "docs/crew memo.rtf"


def test_odt_keeps_its_table_rows_with_header_labels(pipeline):
    obj = _put(pipeline, "docs/berth plan.odt", odt("Berth plan", ["Berths are assigned a week ahead."],
                                                    [("Berth", "Vessel"), ("B4", "Kestrel"), ("B7", "Osprey")]))

    assert pipeline.run(obj)["status"] == "succeeded"

    rows = pipeline.rows(obj)
    assert rows["object"]["detected_format"] == "odt" and rows["object"]["metadata"]["tables"] == 1
    chunk = next(c for c in rows["chunks"] if "Berth: B7; Vessel: Osprey" in c["text"])
    [table] = chunk["metadata"]["tables"]
    assert table["header"] == ["Berth", "Vessel"] and ["B7", "Osprey"] in table["rows"]


def test_odt_zip_bomb_is_refused_before_it_is_read(pipeline):
    obj = _put(pipeline, "docs/bomb.odt", _odf_package(b" " * (600 * 1024 * 1024)))

    pipeline.run(obj)

    failed_step, error, why = pipeline.rows(obj)["failure"]
    assert error == "InvalidObjectError" and "decompression bomb" in why


def test_pdf_table_rows_are_text_with_labels_and_cells_in_the_chunk(pipeline):
    data = _pdf_table("Fleet costs", [("Vessel", "Berth", "Cost"), ("Albatross", "North quay", "4100"),
                                      ("Cormorant", "South quay", "2950")], "Costs are invoiced monthly.")
    obj = _put(pipeline, "docs/fleet costs.pdf", data)

    assert pipeline.run(obj)["status"] == "succeeded"

    rows = pipeline.rows(obj)
    assert rows["object"]["metadata"]["tables"] == 1
    chunk = next(c for c in rows["chunks"] if "Vessel: Cormorant; Berth: South quay; Cost: 2950" in c["text"])
    [table] = chunk["metadata"]["tables"]
    assert table["header"] == ["Vessel", "Berth", "Cost"] and ["Cormorant", "South quay", "2950"] in table["rows"]
    text = " ".join(c["text"] for c in rows["chunks"])
    assert text.index("Fleet costs") < text.index("Vessel: Albatross") < text.index("invoiced monthly")
    assert _nearest_key(pipeline, "what does the Cormorant cost at the south quay") == "docs/fleet costs.pdf"
