"""The local run's HTML report (local/report.py's view model rendered by local/templates/),
from hand-made file records: no pipeline, no database.

Given files of every modality (one with a key full of markup, one failed, one whose result was
reused), when the report is written, then it shows each of them, escaped, in one self-contained page.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from functions.common.constants import MODALITIES
from local.history import Iteration, StepRun
from local.report import FileReport, write_html

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ODD_KEY = 'odd/<b>&"it\'s</b> ünïcode €.txt'
META = {"files": 6, "elapsed": 12.0, "executions": 1, "executions_ok": 1,
        "unavailable": {"generation": "no <weights> & no network"}}
THUMBNAIL = "data:image/jpeg;base64,/9j/AAAA"


def _obj(key: str, modality: str, status: str = "succeeded", **extra) -> dict:
    chunk = {"ordinal": 0, "kind": "text", "text": f"text of {key}", "time_start": None, "time_end": None,
             "page": None, "metadata": {}, "roles": ["text_embedding"]}
    return {"key": key, "bucket": "ingest", "version_id": "v1", "modality": modality, "status": status,
            "detected_format": "x", "size": 1024, "metadata": {}, "unavailable": [], "failed_step": None,
            "error": None, "reason": None, "content_sha256": None, "reused_from": None, "generated": [],
            "chunks": [chunk], "embeddings": 1, **extra}


def _steps(*names: str) -> list[StepRun]:
    return [StepRun(name, T0 + timedelta(seconds=i), T0 + timedelta(seconds=i + 0.5), attempts=1)
            for i, name in enumerate(names)]


def _files() -> list[FileReport]:
    odd = _obj(ODD_KEY, "text", chunks=[{
        "ordinal": 0, "kind": "text", "text": "<script>alert('x')</script> & ünïcode", "time_start": None,
        "time_end": None, "page": None, "metadata": {}, "roles": ["text_embedding"]}])
    image = _obj("images/cat.png", "image", unavailable=["generation"])
    audio = _obj("audio/talk.wav", "audio", chunks=[{
        "ordinal": 0, "kind": "audio", "text": "hello there", "time_start": 0.0, "time_end": 2.0, "page": None,
        "metadata": {"segments": [{"start": 0.0, "end": 1.0, "text": "hello <there>"}]}, "roles": []}])
    video = _obj("video/clip.mp4", "video")
    broken = _obj("documents/broken.pdf", "document", "failed", chunks=[], embeddings=0, failed_step="extract",
                  error="InvalidObjectError", reason="corrupt or truncated PDF (no %%EOF)")
    copy = _obj("documents/copy.pdf", "document", content_sha256="ab" * 32,
                reused_from={"bucket": "ingest", "key": "documents/<original>.pdf", "version_id": "v7"})
    failed_run = Iteration("exec-1", "ingest", broken["key"], "v1", "document", [
        StepRun("extract", T0, T0 + timedelta(seconds=2), attempts=3, error="InvalidObjectError", cause="corrupt"),
        StepRun("record_failure", T0 + timedelta(seconds=3), T0 + timedelta(seconds=4), attempts=1,
                failed_step="extract")])
    return [
        FileReport(ODD_KEY, "text", "succeeded", odd,
                   Iteration("exec-1", "ingest", ODD_KEY, "v1", "text", _steps("extract", "generate", "embed", "store"))),
        FileReport(image["key"], "image", "succeeded", image, None, {"thumbnail": THUMBNAIL, "frames": {}}),
        FileReport(audio["key"], "audio", "succeeded", audio, None),
        FileReport(video["key"], "video", "succeeded", video, None, {"thumbnail": None, "frames": {0: THUMBNAIL}}),
        FileReport(broken["key"], "document", "failed", broken, failed_run),
        FileReport(copy["key"], "document", "succeeded", copy, None),
    ]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    path = write_html(tmp_path_factory.mktemp("report") / "out" / "report.html", _files(), META)
    return path.read_text(encoding="utf-8")


def _section(page: str, key_fragment: str) -> str:
    match = re.search(r'<section class="file"[^>]*data-key="[^"]*' + re.escape(key_fragment) + r'.*?</section>',
                      page, re.S)
    assert match, key_fragment
    return match.group(0)


def test_each_file_has_one_section_with_its_execution_graph(page):
    assert page.count('<section class="file"') == 6
    assert page.count('<svg class="graph"') == 6


def test_every_modality_has_its_section(page):
    modalities = set(re.findall(r'<span class="badge m-([a-z]+)">', page))
    assert modalities == set(MODALITIES)


def test_a_key_with_markup_and_unicode_is_escaped_everywhere(page):
    # The key's markup never reaches the page as markup, in text or in attributes
    assert ODD_KEY not in page and "<b>&" not in page
    assert "odd/&lt;b&gt;&amp;" in page
    assert 'data-key="odd/&lt;b&gt;&amp;&#34;it&#39;s&lt;/b&gt; ünïcode €.txt"' in page
    # Unicode is written as it is (the page is UTF-8)
    assert "ünïcode €.txt</a>" in page and '<meta charset="utf-8">' in page


def test_chunk_text_and_transcript_segments_are_escaped(page):
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; ünïcode" in page
    assert '<span class="ts">0.00–1.00 s</span> hello &lt;there&gt;' in page


def test_a_failed_object_shows_where_it_failed_and_why(page):
    section = _section(page, "documents/broken.pdf")
    assert 'data-status="failed"' in section
    assert "<b>Failed at extract</b> <code>InvalidObjectError</code>" in section
    assert "corrupt or truncated PDF (no %%EOF)" in section
    # And its graph shows the Catch to record_failure, after 3 tries of extract
    assert ">Catch</text>" in section and ">record_failure</text>" in section
    assert "2.00 s · 3 tries" in section
    # And the files table gives the reason too
    assert re.search(r'href="#f4">documents/broken.pdf</a>.*?<td>corrupt or truncated PDF \(no %%EOF\)</td></tr>',
                     page, re.S)


def test_a_reused_result_shows_its_badge_and_its_source(page):
    section = _section(page, "documents/copy.pdf")
    badge = '<span class="badge reused" title="documents/&lt;original&gt;.pdf (version v7)">reused</span>'
    assert badge in section
    assert "documents/&lt;original&gt;.pdf (version v7): same bytes, its result copied, no model called" in section
    assert page.count('class="badge reused"') == 2  # the section and its row of the files table


def test_a_missing_model_is_named_with_why(page):
    assert "<li><b>generation</b>: no &lt;weights&gt; &amp; no network</li>" in page
    assert "model not available (generation)" in _section(page, "images/cat.png")


def test_the_page_is_self_contained(page):
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page
    assert re.search(r"<style>\s*:root\{", page)  # the CSS template is inlined
    assert f'<img class="thumb" src="{THUMBNAIL}"' in page
    assert f'<img class="frame" src="{THUMBNAIL}" alt="text 0">' in page


def test_the_summary_counts_uploaded_files_and_e_mail_attachments_apart():
    import io
    from types import SimpleNamespace

    from local.report import print_summary

    message = _obj("mail/with-attachment.eml", "document")
    attachment = _obj("attachments/mail/with-attachment.eml/1-notes.txt", "text")
    photo = _obj("photos/cat.jpg", "image")
    files = [FileReport(o["key"], o["modality"], o["status"], o, None) for o in (message, attachment, photo)]
    result = SimpleNamespace(objects=[message, attachment, photo], files=["mail/with-attachment.eml", "photos/cat.jpg"],
                             executions=[], elapsed=1.0, unavailable={}, attachments=[attachment["key"]])

    out = io.StringIO()
    print_summary(files, result, out)

    assert ("2/2 uploaded files have a result row, plus 1/1 e-mail attachments as objects of their own; "
            "3 objects: 3 succeeded and 0 failed") in out.getvalue()


def test_the_summary_says_when_an_execution_left_no_row():
    import io
    from types import SimpleNamespace

    from local.report import print_summary

    photo = _obj("photos/cat.jpg", "image")
    files = [FileReport(photo["key"], "image", "succeeded", photo, None), FileReport("text/lost.txt", "text", "missing", None, None)]
    result = SimpleNamespace(objects=[photo], files=["photos/cat.jpg", "text/lost.txt"], executions=[], elapsed=1.0,
                             unavailable={}, attachments=[])

    out = io.StringIO()
    print_summary(files, result, out)

    assert "1/2 uploaded files have a result row; 1 object: 1 succeeded and 0 failed, 1 with no row;" in out.getvalue()
