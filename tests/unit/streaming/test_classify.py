"""Modality from extension, then content type; everything else is unsupported."""
from __future__ import annotations

import pytest

from functions.streaming.classify import classify, extension


@pytest.mark.parametrize(
    "key, content_type, modality",
    [
        ("a/b/photo.JPG", None, "image"),
        ("clip.mov", None, "video"),
        ("song.flac", None, "audio"),
        ("notes.md", None, "text"),
        ("paper.pdf", None, "document"),
        ("letter.docx", None, "document"),
        ("no_extension", "image/png", "image"),
        ("no_extension", "text/plain; charset=utf-8", "text"),
        ("blob.bin", "application/pdf", "document"),
        ("blob.bin", "application/octet-stream", "unsupported"),
        ("archive.zip", None, "unsupported"),
        ("photo.jpg", "application/pdf", "image"),  # the extension decides; extract verifies the bytes
        (".hidden", None, "unsupported"),
        ("dir.with.dots/file", None, "unsupported"),
        ("README.markdown", None, "text"),
        ("page.html", None, "text"),
        ("config/app.yaml", None, "text"),
        ("src/main.py", None, "text"),
        ("logs/app.log", None, "text"),
        ("data.jsonl", None, "text"),
        ("no_extension", "application/x-yaml", "text"),
        ("no_extension", "application/ld+json", "text"),
        ("feed", "application/atom+xml", "text"),
        ("stream.ts", "video/mp2t", "video"),  # .ts is not taken for TypeScript
        # spreadsheets, presentations and CSV/TSV are documents: read as tables and slides
        ("budget.XLSX", None, "document"),
        ("deck.pptx", None, "document"),
        ("exports/orders.csv", None, "document"),
        ("exports/orders.tsv", "text/plain", "document"),
        ("no_extension", "text/csv; charset=utf-8", "document"),
        ("no_extension", "text/tab-separated-values", "document"),
        ("no_extension", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document"),
        ("no_extension", "application/vnd.openxmlformats-officedocument.presentationml.presentation", "document"),
    ],
)
def test_classification(key, content_type, modality):
    assert classify(key, content_type) == modality


def test_extension_uses_the_last_segment_only():
    assert extension("a.jpg/b") == ""
    assert extension("x/y/Z.TaR.GZ") == ".gz"
