"""A local run with compliance.redact on (`python -m local run --redact`), on the deployed roles'
policies: the scan step's rewrite (listing and rewriting the staging prefix) is authorized, the
values found are in no table, and a profane sentence is flagged, not redacted."""
from __future__ import annotations

import contextlib
import io

TABLES = ("objects", "chunks", "generated", "failures", "findings")

EMAIL, PHONE = "dana.whitfield@example.org", "+1 212 736 5000"


def test_a_redacted_run_is_authorized_stores_no_value_and_keeps_the_profanity_flag(tmp_path):
    from functions.common.db import DbConfig, open_connection
    from local.run import LocalPipeline

    folder = tmp_path / "in"
    folder.mkdir()
    files = [folder / "complaint.txt", folder / "minutes.txt"]
    files[0].write_text(f"Customer complaint.\nWrite to {EMAIL} or phone {PHONE} about the refund.\n"
                        "The courier was late again and this is fucking unacceptable.\n", encoding="utf-8")
    files[1].write_text("Minutes of the harbour board.\nThe new crane arrives in May.\n", encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()), LocalPipeline(tmp_path / "work", progress=False,
                                                                   redact=True) as pipeline:
        pipeline.forward(pipeline.upload(folder, files))
        executions = pipeline.process(len(files))
        result = pipeline.result(files)
        with open_connection(DbConfig.from_env(pipeline.db_env)) as conn:
            # every column of every row, as text
            dump = {t: conn.execute(f"SELECT r::text FROM pipeline.{t} r").fetchall() for t in TABLES}
            rows = conn.execute(
                "SELECT f.kind, f.type, c.text, f.char_start, f.char_end, f.value_hash FROM pipeline.findings f"
                " JOIN pipeline.chunks c ON c.id = f.chunk_id ORDER BY f.kind, f.type").fetchall()
            flags = conn.execute("SELECT key, compliance->'flags' FROM pipeline.objects ORDER BY key").fetchall()
        decisions = pipeline.deployment.authorizer.decisions

    assert [e["status"] for e in executions] == ["SUCCEEDED"] * len(executions) and result.denied == []
    used = {(d.label, d.action) for d in decisions if d.allowed}
    assert ("function scan", "s3:ListBucket") in used and ("function scan", "s3:PutObject") in used
    for value in (EMAIL, PHONE, PHONE.replace(" ", "")):
        assert value not in repr(dump) and value not in repr(rows), value
    pii = {(kind, kind_type) for kind, kind_type, *_ in rows if kind == "pii"}
    assert ("pii", "EMAIL_ADDRESS") in pii
    (profane,) = [r for r in rows if r[1] == "PROFANITY"]
    assert profane[2][profane[3]:profane[4]] == "The courier was late again and this is fucking unacceptable."
    assert profane[5] is None
    assert "<EMAIL_ADDRESS>" in next(r[2] for r in rows if r[1] == "EMAIL_ADDRESS")
    assert dict(flags) == {"complaint.txt": ["moderation:PROFANITY", "pii:EMAIL_ADDRESS", "pii:PHONE_NUMBER"],
                           "minutes.txt": []}
