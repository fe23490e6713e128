"""Text formats: byte-order marks before signatures, strict UTF-16, HTML read as text."""
from __future__ import annotations

import codecs

import pytest

from functions.common.errors import InvalidObjectError


@pytest.mark.parametrize("head, description", [
    ("hello world".encode("utf-16"), "UTF-16 LE text"),
    (codecs.BOM_UTF16_BE + "hello".encode("utf-16-be"), "UTF-16 BE text"),
    (codecs.BOM_UTF8 + b"hello", "UTF-8 text"),
    (codecs.BOM_UTF32_LE + "hi".encode("utf-32-le"), "UTF-32 LE text"),
])
def test_byte_order_mark_is_text_not_an_mpeg_frame_sync(head, description):
    from functions.processing.formats.detect import sniff

    detected = sniff(head)

    assert (detected.family, detected.format) == ("text", "text")
    assert detected.description.startswith(description)


@pytest.mark.parametrize("head, family, fmt", [
    (b"BMW cars are fast and everyone knows it\n", "text", "text"),  # "BM": a two-byte signature
    (b'{"a": 1, "b": [true, null]}\n', "text", "text"),
    (b"#!/usr/bin/env python\nimport os\n", "text", "text"),
    (b"key: value\nlist:\n  - a\n", "text", "text"),
    (b"\n<!doctype html>\n<html lang=en><title>x</title>", "text", "html"),
    (b"\xff\xf3\x64\xc4" + b"\x00" * 60, "media", "mp3"),  # MPEG-2 layer III: not in puremagic
    (b"\x47\x40\x00\x10" + b"\x00" * 200, "media", "mpegts"),
    (b"\x00\x00\x01\xba\x44\x00" + b"\x00" * 40, "media", "mpeg"),
    (b"OggS\x00\x02" + b"\x00" * 40, "media", "ogg"),
    # "caff" is Core Audio's signature and the start of "caffeine" (NFCorpus abstracts were refused)
    (b"caffeine intake and the risk of stroke in women\n", "text", "text"),
    (b"fLaC is a lossless audio codec\n", "text", "text"),
    (b"ID3 tags are metadata in MP3 files\n", "text", "text"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 8, "media", "mp3"),
    (b"caff\x00\x01\x00\x00desc\x00\x00\x00\x00\x00\x00\x00\x20", "media", "caf"),
    (b"fLaC\x00\x00\x00\x22\x10\x00\x10\x00", "media", "flac"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00", "image", "gif"),
    (bytes(range(256)) * 4, "unknown", "binary"),
])
def test_sniff_uses_signatures_and_reads_text_as_text(head, family, fmt):
    from functions.processing.formats.detect import sniff

    detected = sniff(head)

    assert (detected.family, detected.format) == (family, fmt)


def test_utf16_with_bom_decodes_to_the_real_text():
    from functions.processing.formats.text import decode

    le = decode("Grüße aus Köln".encode("utf-16"))
    be = decode(codecs.BOM_UTF16_BE + "naïve résumé".encode("utf-16-be"))

    assert (le.text, le.encoding) == ("Grüße aus Köln", "utf-16-le")
    assert (be.text, be.encoding) == ("naïve résumé", "utf-16-be")


def test_utf16_cut_inside_a_code_unit_is_invalid():
    from functions.processing.formats.text import decode

    with pytest.raises(InvalidObjectError, match="UTF-16 LE text is truncated"):
        decode("hello world".encode("utf-16")[:-1])


def test_utf16_with_a_lone_surrogate_is_invalid():
    from functions.processing.formats.text import decode

    data = codecs.BOM_UTF16_LE + "a".encode("utf-16-le") + b"\x3d\xd8" + "b".encode("utf-16-le")
    with pytest.raises(InvalidObjectError, match="UTF-16 LE text is invalid at byte 4"):
        decode(data)


def test_declared_latin1_charset_decodes_as_windows_1252():
    from functions.processing.formats.text import decode

    decoded = decode("café – 5 €".encode("cp1252"), declared="ISO-8859-1")

    assert (decoded.text, decoded.encoding) == ("café – 5 €", "cp1252")


def test_wrong_declared_charset_falls_back_to_the_bytes():
    from functions.processing.formats.text import decode

    assert decode("naïve".encode(), declared="ascii").text == "naïve"
    assert decode("naïve".encode(), declared="no-such-charset").encoding == "utf-8"


PAGE = """<!DOCTYPE html><html><head><meta charset="windows-1252"><title>Harbour  log</title>
<style>p { color: red }</style><script>var secret = "<p>hidden</p>";</script></head><body>
<h1>Ships</h1><p>The <b>Étoile</b> anchored &amp; waited.</p><!-- a comment -->
<h2>Cargo</h2><ul><li>grain</li><li>wine<br>casks</li></ul>
<h1>Weather</h1><div>Heavy   seas</div><noscript>enable scripts</noscript></body></html>"""


def test_html_visible_text_has_no_tags_scripts_or_styles():
    from functions.processing.formats.html import extract

    page = extract(PAGE)

    assert page.text == "Ships\n\nThe Étoile anchored & waited.\n\nCargo\n\ngrain\n\nwine\ncasks\n\nWeather\n\nHeavy seas"
    assert page.title == "Harbour log"


def test_html_headings_give_each_position_its_path():
    from functions.processing.formats.html import extract

    page = extract(PAGE)

    assert page.headings_at(page.text.index("wine")) == ["Ships", "Cargo"]
    assert page.headings_at(page.text.index("Heavy")) == ["Weather"]
    assert page.outline == [{"level": 1, "text": "Ships"}, {"level": 2, "text": "Cargo"},
                            {"level": 1, "text": "Weather"}]


def test_html_without_a_closed_head_still_has_its_body():
    from functions.processing.formats.html import extract

    assert extract("<head><title>t</title><body><p>kept").text == "kept"


def test_html_charset_declaration_is_found_in_the_first_bytes():
    from functions.processing.formats.html import declared_charset

    assert declared_charset(b'<html><head><meta charset="iso-8859-1">') == "iso-8859-1"
    assert declared_charset(b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">') == "windows-1252"
    assert declared_charset(b"<html><p>none</p>") is None
