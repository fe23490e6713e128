"""Redaction end to end (compliance.redact on): a PDF with a card number, an e-mail with an address
in its From header and a phone number in its body, and an image whose address is read by OCR go
through extract -> scan -> generate -> embed -> store on the local stand-ins (moto S3, PostgreSQL,
the real pii model under the serving toolkit); then no planted value is anywhere in the database,
the staging bucket, the local report or the search results, while the findings and the rest of
the text are there. One run of the three objects, checked from every side."""
from __future__ import annotations

import io
import json

import pytest
from conftest import STEPS, findings, processing, summary
from media_files import words_image
from test_findings_stored import CARD, _pdf

from functions.common.constants import ENV_COMPLIANCE

pytestmark = pytest.mark.slow

EMAIL = "jane.doe@example.com"
OCR_EMAIL = "sam.roe@example.org"
PHONE = "(202) 555-0175"
PLANTED = {CARD: "CREDIT_CARD", EMAIL: "EMAIL_ADDRESS", PHONE: "PHONE_NUMBER", OCR_EMAIL: "EMAIL_ADDRESS"}
WORD = "marmalade"  # not personal: stays searchable


def _eml() -> bytes:
    return (f"From: Jane Doe <{EMAIL}>\r\nTo: orders@shop.test\r\nSubject: the {WORD} order\r\n"
            "Message-ID: <m1@shop.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Hello, my phone number is {PHONE}. About the {WORD} order.\r\n").encode()


def _database_text(db) -> str:
    """Every row of every table outside PostgreSQL's own schemas, as text."""
    with db.transaction() as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables"
                              " WHERE table_type = 'BASE TABLE'"
                              " AND table_schema NOT IN ('pg_catalog', 'information_schema')").fetchall()
        rows = [f"{schema}.{name}: {r[0]}" for schema, name in tables
                for r in conn.execute(f'SELECT t::text FROM "{schema}"."{name}" t').fetchall()]
    assert any(".chunks:" in r for r in rows) and any(".chunk_terms:" in r for r in rows)
    return "\n".join(rows)


def _lexemes(db, values) -> list[str]:
    """The lexemes of `values` (as the lexical index writes them) that the index holds."""
    with db.transaction() as conn:
        wanted = {r[0] for v in values for r in conn.execute(
            "SELECT lexeme FROM unnest(to_tsvector('english', %s))", (v,)).fetchall()}
        return sorted(r[0] for r in conn.execute(
            "SELECT DISTINCT lexeme FROM pipeline.chunk_terms WHERE lexeme = ANY(%s)", (sorted(wanted),)).fetchall())


def _staged(s3, bucket: str) -> dict[str, bytes]:
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def _report(s3, db, staging_bucket: str, tmp_path) -> str:
    """The local run's report (HTML and the printed summary) from what the pipeline stored."""
    from local import report
    from local.results import RunResult

    with db.transaction() as conn:
        objects = report.load_objects(conn)
    artefacts = report.collect_artefacts(s3, staging_bucket, processing.PIPELINE_VERSION, objects)
    result = RunResult(work=tmp_path, files=[], objects=objects, iterations=[], executions=[], artefacts=artefacts,
                       elapsed=1.0, db_env={})
    files = report.file_reports(result)
    html = report.write_html(tmp_path / "report.html", files, report.run_meta(result)).read_text(encoding="utf-8")
    printed = io.StringIO()
    report.print_summary(files, result, out=printed)
    return html + printed.getvalue()


def _search_texts(db_env, query: str) -> list[str]:
    """The passages the search returns for `query` (the lexical leg: no query model here)."""
    from functions.common.db import DbConfig, open_connection
    from functions.search import core

    with open_connection(DbConfig.from_env(db_env)) as conn:
        result = core.search(conn, query, lambda role, q: None, limit=10)
    return [p.text or "" for f in result.files for p in f.passages]


def test_redaction_leaves_no_planted_value_in_the_database_staging_report_or_search(
        pipeline, db, db_env, s3, staging_bucket, monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_COMPLIANCE, json.dumps({"redact": True}))
    objects = [
        pipeline.put("claims/settlement.pdf", _pdf([f"Paid with card {CARD} for the {WORD} jars."]), "document"),
        pipeline.put("mail/order.eml", _eml(), "document", "message/rfc822"),
        pipeline.put("scans/card.png", words_image(["write", "to", OCR_EMAIL], size=(1400, 300)), "image"),
    ]
    for obj in objects:
        assert pipeline.run(obj, steps=STEPS)["status"] == "succeeded", obj.key

    # Findings are stored with their hash, at the <TYPE> that replaced the value in the stored text.
    found = {(r["type"], r["text"][r["start"]:r["end"]]) for obj in objects for r in findings(db, obj)}
    assert {("CREDIT_CARD", "<CREDIT_CARD>"), ("EMAIL_ADDRESS", "<EMAIL_ADDRESS>"),
            ("PHONE_NUMBER", "<PHONE_NUMBER>")} <= found, found
    rows = [r for obj in objects for r in findings(db, obj)]
    assert all(r["value_hash"] and len(r["value_hash"]) == 32 for r in rows if r["kind"] == "pii")
    assert summary(db, objects[0])["redacted"]["spans"] >= 1
    assert summary(db, objects[2])["counts"]["pii"]["EMAIL_ADDRESS"] == 1

    stored = _database_text(db)
    staged = _staged(s3, staging_bucket)
    shown = _report(s3, db, staging_bucket, tmp_path)
    for value in PLANTED:
        assert value not in stored, f"{value} is in the database"
        for key, data in staged.items():
            assert value.encode() not in data, f"{value} is in s3://{staging_bucket}/{key}"
        assert value not in shown, f"{value} is in the report"
    assert "&lt;CREDIT_CARD&gt;" in shown and WORD in shown  # the report shows the stored text
    assert "<CREDIT_CARD>" in stored and "<EMAIL_ADDRESS>" in stored and "<PHONE_NUMBER>" in stored
    assert WORD in stored
    # The lexical index holds no lexeme of a value ("4111", "jane.doe@example.com", "0175"...).
    assert _lexemes(db, ["4111", EMAIL, OCR_EMAIL, "0175"]) == []
    # The e-mail's From header, kept in objects.metadata, lost its address too.
    with db.transaction() as conn:
        headers = conn.execute("SELECT metadata->'headers' FROM pipeline.objects WHERE key = 'mail/order.eml'").fetchone()[0]
    assert "<EMAIL_ADDRESS>" in headers["from"]

    # Search: the value finds nothing, a word beside it finds its files.
    assert _search_texts(db_env, CARD) == [] and _search_texts(db_env, EMAIL) == []
    texts = _search_texts(db_env, WORD)
    assert any("<CREDIT_CARD>" in t for t in texts) and any("<PHONE_NUMBER>" in t for t in texts), texts
