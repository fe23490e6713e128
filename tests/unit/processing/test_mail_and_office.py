"""Plain modules of the e-mail and office formats: how keys and modalities are named, ODS sheets."""
from __future__ import annotations

import zipfile

import pytest

from functions.common.constants import ATTACHMENTS_PREFIX
from functions.processing.formats import eml, opendocument
from functions.streaming.classify import classify


@pytest.mark.parametrize("key, content_type", [
    ("mail/a.eml", None), ("docs/a.rtf", None), ("docs/a.odt", None), ("docs/a.ods", None),
    ("noext", "message/rfc822"), ("noext", "text/rtf"), ("noext", "application/vnd.oasis.opendocument.text"),
])
def test_new_formats_are_documents(key, content_type):
    assert classify(key, content_type) == "document"


def test_attachment_keys_keep_the_extension_and_count_their_nesting():
    key = eml.attachment_key("mail/Résumé 2024.eml", 3, "Fiche de paie / mars.PDF")
    assert key == f"{ATTACHMENTS_PREFIX}/mail/Résumé 2024.eml/3-Fiche-de-paie-mars.PDF"
    assert classify(key) == "document" and eml.nesting(key) == 1
    assert eml.nesting(eml.attachment_key(key, 1, "x.eml")) == 2
    assert eml.safe_filename("../../etc/passwd") == "etc-passwd"
    assert eml.safe_filename("a" * 300 + ".txt").endswith(".txt")


def test_ods_sheets_are_pages_with_repeated_cells_expanded(tmp_path):
    content = (
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><office:body><office:spreadsheet>'
        '<table:table table:name="Stock"><table:table-row><table:table-cell><text:p>Item</text:p></table:table-cell>'
        "<table:table-cell><text:p>Count</text:p></table:table-cell></table:table-row>"
        '<table:table-row table:number-rows-repeated="2"><table:table-cell><text:p>Rope</text:p></table:table-cell>'
        '<table:table-cell office:value-type="float" office:value="12.0"><text:p>12</text:p></table:table-cell>'
        '<table:table-cell table:number-columns-repeated="16000"/></table:table-row>'
        '<table:table-row table:number-rows-repeated="1048570"><table:table-cell/></table:table-row>'
        "</table:table></office:spreadsheet></office:body></office:document-content>")
    path = tmp_path / "stock.ods"
    with zipfile.ZipFile(path, "w") as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        package.writestr("content.xml", content)

    doc = opendocument.extract_ods(path)

    assert doc.metadata["sheets"] == ["Stock"] and doc.metadata["rows"] == 3
    [page] = doc.pages
    assert page.text == "Sheet: Stock\nItem: Rope; Count: 12\nItem: Rope; Count: 12"
    assert page.tables[0].header and page.tables[0].rows[1] == ["Rope", "12"]


def test_a_message_above_the_size_limit_is_refused(tmp_path, monkeypatch):
    from functions.common.errors import InvalidObjectError

    monkeypatch.setattr(eml, "MAX_MESSAGE_BYTES", 10)
    path = tmp_path / "m.eml"
    path.write_bytes(b"Subject: hi\n\nbody text\n")
    with pytest.raises(InvalidObjectError, match="above the limit"):
        eml.read_eml(path, "m.eml", tmp_path)
