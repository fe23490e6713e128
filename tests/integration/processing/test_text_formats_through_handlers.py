"""Text formats through the handlers: UTF-16 and UTF-8 with byte-order marks, HTML read as
text with its title and headings, text-like files by extension, a truncated UTF-16 file."""
from __future__ import annotations

import codecs
import re

import pytest

from functions.streaming.classify import classify

SENTENCE = "The harbour master logged every ship that anchored off the north mole. "


@pytest.mark.parametrize("key, data", [
    ("docs/notepad unicode.txt", (SENTENCE * 12).encode("utf-16")),  # BOM FF FE, little-endian
    ("docs/big endian.txt", codecs.BOM_UTF16_BE + (SENTENCE * 12).encode("utf-16-be")),
    ("docs/with bom.txt", codecs.BOM_UTF8 + (SENTENCE * 12).encode("utf-8")),
])
def test_text_with_a_byte_order_mark_is_chunked_as_its_real_text(pipeline, key, data):
    obj = pipeline.put(key, data, "text", "text/plain")

    result = pipeline.run(obj)

    assert result["status"] == "succeeded", result
    rows = pipeline.rows(obj)
    assert rows["object"]["detected_format"] == "text"
    joined = " ".join(c["text"] for c in rows["chunks"])
    assert "harbour master logged every ship" in joined
    assert "\x00" not in joined and "\ufeff" not in joined
    assert len(rows["embeddings"]) == len(rows["chunks"]) > 1


def test_utf16_cut_inside_a_code_unit_ends_as_a_failure_row(pipeline):
    obj = pipeline.put("docs/cut utf16.txt", (SENTENCE * 4).encode("utf-16")[:-1], "text", "text/plain")

    result = pipeline.run(obj)

    assert result["status"] == "failed"
    rows = pipeline.rows(obj)
    assert rows["chunks"] == []
    failed_step, error, reason = rows["failure"]
    assert (failed_step, error) == ("extract", "InvalidObjectError")
    assert "UTF-16 LE text is truncated" in reason


HTML = """<!DOCTYPE html>
<html><head><meta charset="iso-8859-1"><title>Harbour log 1894</title>
<style>.ship { color: navy }</style><script>var tracker = "<b>analytics</b>";</script></head>
<body><h1>Ships</h1><p>The <b>Étoile</b> anchored off the north mole &amp; waited for the tide.</p>
<h2>Cargo</h2><p>Grain, wine casks and timber were unloaded on the quay over three days.</p>
<h1>Weather</h1><div>Heavy seas since Ushant; the barometer fell all night. The pilot boat stayed in,
the crew reefed the sails twice and the lamps on the mole were lit before four in the afternoon.</div></body></html>
"""


def test_html_is_read_as_text_with_title_and_heading_paths(pipeline):
    obj = pipeline.put("web/harbour.html", HTML.encode("latin-1"), classify("web/harbour.html"), "text/html")

    result = pipeline.run(obj)

    assert result["status"] == "succeeded", result
    rows = pipeline.rows(obj)
    meta = rows["object"]["metadata"]
    assert rows["object"]["detected_format"] == "html"
    assert meta["title"] == "Harbour log 1894" and meta["encoding"] == "cp1252"
    assert [h["text"] for h in meta["headings"]] == ["Ships", "Cargo", "Weather"]
    joined = " ".join(c["text"] for c in rows["chunks"])
    assert "Étoile anchored off the north mole & waited" in joined
    assert not re.search(r"<[a-z/!]", joined) and "analytics" not in joined and "navy" not in joined
    # Each chunk carries the headings in force where it starts.
    paths = [c["metadata"]["headings"] for c in rows["chunks"]]
    assert paths[0] == ["Ships"] and ["Ships", "Cargo"] in paths and paths[-1] == ["Weather"]
    assert len(rows["embeddings"]) == len(rows["chunks"])


def test_html_in_utf16_is_read_as_html(pipeline):
    obj = pipeline.put("web/unicode page", HTML.replace("iso-8859-1", "utf-16").encode("utf-16"), "text", "text/plain")

    result = pipeline.run(obj)

    assert result["status"] == "succeeded", result
    rows = pipeline.rows(obj)
    assert rows["object"]["detected_format"] == "html" and rows["object"]["metadata"]["title"] == "Harbour log 1894"
    assert "<" not in " ".join(c["text"] for c in rows["chunks"])


def test_html_with_no_visible_text_ends_as_a_failure_row(pipeline):
    markup = b"<html><head><title></title><script>var x = 1;</script></head><body><img src=a.png></body></html>"
    obj = pipeline.put("web/empty.html", markup, "text", "text/html")

    pipeline.run(obj)

    failed_step, error, reason = pipeline.rows(obj)["failure"]
    assert (failed_step, error) == ("extract", "InvalidObjectError") and "no visible text" in reason


@pytest.mark.parametrize("key, data, word", [
    ("notes/README.md", b"# Pipeline\n\nUploads are *chunked* and embedded.\n\n- one\n- two\n", "chunked"),
    ("config/app.yaml", b"pipeline:\n  name: harbour\n  retries: 3\n", "harbour"),
    ("src/tool.py", b"#!/usr/bin/env python\ndef anchor_ship(name):\n    return name.upper()\n", "anchor_ship"),
    ("logs/run.log", b"2024-01-01 12:00:00 INFO ship anchored\n2024-01-01 12:05:00 WARN tide late\n", "anchored"),
    ("data/events.json", b'{"ship": "Etoile", "cargo": ["grain", "wine"]}\n', "Etoile"),
])
def test_text_like_files_are_text(pipeline, key, data, word):
    modality = classify(key)
    obj = pipeline.put(key, data, modality)

    result = pipeline.run(obj)

    assert modality == "text"
    assert result["status"] == "succeeded", result
    assert word in " ".join(c["text"] for c in pipeline.rows(obj)["chunks"])
