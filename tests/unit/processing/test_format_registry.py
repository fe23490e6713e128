"""The format registry is the one place formats are known: classification, detection,
extraction and the README's table of formats all agree with it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from functions.processing.extract import EXTRACTORS
from functions.processing.formats import detect, registry
from functions.streaming.classify import classify

README = Path(__file__).resolve().parents[3] / "README.md"


def _readme_formats() -> dict[str, str]:
    """modality -> the 'formats' cells of its rows in the README's table of formats."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| modality | formats | what is extracted |"):]
    cells: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        modality, formats = (c.strip() for c in line.strip("|").split("|")[:2])
        key = modality.split(" ", 1)[0]
        cells[key] = cells.get(key, "") + " " + formats
    return cells


def test_the_readme_names_every_format_under_its_modality():
    cells = _readme_formats()
    missing = [f"{f.label} ({f.modality})" for f in registry.FORMATS
               if not re.search(rf"(?<![\w]){re.escape(f.label)}(?![\w])", cells.get(f.modality, ""), re.IGNORECASE)]
    assert not missing, f"README's table of formats lacks {missing}"
    assert set(cells) == {f.modality for f in registry.FORMATS}


@pytest.mark.parametrize("fmt", registry.FORMATS, ids=lambda f: f.name)
def test_classification_follows_the_registry(fmt):
    for ext in fmt.extensions:
        assert classify(f"in/some file{ext.upper()}") == fmt.modality
    for mime in fmt.mime_types:
        assert classify("in/no-extension", f"{mime}; charset=utf-8") == fmt.modality


def test_no_extension_or_mime_type_claims_two_formats():
    extensions = [e for f in registry.FORMATS for e in f.extensions]
    mimes = [m for f in registry.FORMATS for m in f.mime_types]
    assert len(extensions) == len(set(extensions))
    assert len(mimes) == len(set(mimes))


def test_every_modality_has_an_extractor_and_accepts_its_formats():
    assert set(EXTRACTORS) == {f.modality for f in registry.FORMATS}
    assert set(detect.ACCEPTED["document"]) == {f.name for f in registry.named("document")}


@pytest.mark.parametrize("fmt", [f for f in registry.FORMATS if f.reader], ids=lambda f: f.name)
def test_each_reader_named_in_the_registry_is_a_function(fmt):
    assert callable(fmt.read())


def test_documents_without_a_page_reader_are_read_as_sheets_or_text():
    for fmt in registry.named("document"):
        assert fmt.reader is not None or fmt.shape == registry.SHEETS, fmt.name


def test_a_claim_is_the_extension_or_the_bare_mime_type():
    csv = registry.BY_NAME["csv"]
    assert registry.claims(csv, "a/B.TSV", None)
    assert registry.claims(csv, "a/b", "Text/CSV; charset=utf-8")
    assert not registry.claims(csv, "a/b.txt", "text/plain")
    assert registry.mime_type(" Text/HTML ; charset=x") == "text/html"
