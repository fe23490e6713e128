"""Tables as text and rows: DOCX and PPTX tables, XLSX sheets, CSV; how they are sniffed."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from functions.common.errors import InvalidObjectError
from functions.processing.chunking.rows import chunk_rows
from functions.processing.chunking.text import count_tokens
from functions.processing.formats import tables


def _xlsx(path: Path, sheets: dict[str, list[tuple]]) -> Path:
    from samples.generate import _xlsx as workbook

    path.write_bytes(workbook(sheets))
    return path


def _pptx(path: Path) -> Path:
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Quarterly review"
    first.placeholders[1].text = "Revenue grew in every region"
    first.notes_slide.notes_text_frame.text = "Mention the harbour project"
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Costs"
    grid = second.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(4), Inches(2)).table
    for r, row in enumerate([("Item", "Cost"), ("Lamp", "300"), ("Paint", "75")]):
        for c, value in enumerate(row):
            grid.cell(r, c).text = value
    deck.save(path)
    return path


def test_row_with_a_header_reads_as_labelled_cells_and_skips_empty_ones():
    assert tables.row_text(["North", "120", "", "135"], ["Region", "Q1", "Q2", "Q3"]) == "Region: North; Q1: 120; Q3: 135"


def test_row_without_a_header_reads_as_its_cells():
    assert tables.row_text(["North", "", "1200"]) == "North; 1200"
    assert tables.row_text(["", ""]) == ""


@pytest.mark.parametrize("first, rest, expected", [
    (["Region", "Q1", "Q2"], [["North", "120", "135"]], True),
    (["Name", "City"], [["Alice", "Paris"]], True),
    (["North", "1200"], [["South", "950"]], False),  # a number is data, not a label
    (["Region", ""], [["North", "1"]], False),  # an empty label
    (["Total", "total"], [["1", "2"]], False),  # two columns of the same name
    (["Region", "Q1"], [], False),  # nothing below it to label
])
def test_first_row_is_a_header_only_when_it_looks_like_labels(first, rest, expected):
    assert tables.has_header(first, rest) is expected


def test_cell_values_read_as_a_person_would_write_them():
    assert tables.cell_text(120.0) == "120"
    assert tables.cell_text(0.25) == "0.25"
    assert tables.cell_text(dt.datetime(2024, 3, 1)) == "2024-03-01"
    assert tables.cell_text(True) == "TRUE"
    assert tables.cell_text(None) == ""
    assert tables.cell_text("  two\nlines\x07 ") == "two lines"


def test_rows_are_chunked_within_the_token_budget_with_their_row_ranges():
    rows = [(1, ["Region", "Revenue"])] + [(n, [f"region{n}", str(n * 10)]) for n in range(2, 202)]

    chunks = chunk_rows(iter(rows), size=64, count_tokens=count_tokens, sheet="Sales")

    assert len(chunks) > 3
    assert all(count_tokens(c.text) <= 64 for c in chunks)
    assert chunks[0].row_start == 2 and chunks[-1].row_end == 201
    assert all(a.row_end + 1 == b.row_start for a, b in zip(chunks, chunks[1:]))  # no row lost or repeated
    assert all(c.text.startswith("Sheet: Sales\nRegion: ") for c in chunks)
    assert "Region: region7; Revenue: 70" in chunks[0].text
    assert chunks[0].metadata()["header"] == ["Region", "Revenue"] and chunks[0].rows[0] == ["region2", "20"]
    assert sum(len(c.rows) for c in chunks) == 200


def test_a_table_without_header_keeps_its_first_row_as_data():
    chunks = chunk_rows(iter([(1, ["North", "1200"]), (3, ["South", "950"])]), 256, count_tokens)

    assert [c.text for c in chunks] == ["North; 1200\nSouth; 950"]
    assert (chunks[0].row_start, chunks[0].row_end, chunks[0].header) == (1, 3, None)


def test_xlsx_sheets_stream_their_rows_with_row_numbers(tmp_path):
    path = _xlsx(tmp_path / "book.xlsx", {
        "Sales": [("Region", "Q1"), ("North", 120), (None, None), ("South", 98.5)],
        "Empty": [],
    })

    sheets = tables.read_xlsx(path)

    assert [s.name for s in sheets] == ["Sales", "Empty"]
    assert list(sheets[0].rows) == [(1, ["Region", "Q1"]), (2, ["North", "120"]), (4, ["South", "98.5"])]
    assert list(sheets[1].rows) == []


def test_truncated_xlsx_is_invalid(tmp_path):
    data = _xlsx(tmp_path / "book.xlsx", {"Sales": [("a", 1)]}).read_bytes()
    path = tmp_path / "cut.xlsx"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(InvalidObjectError, match="corrupt or truncated XLSX"):
        tables.read_xlsx(path)


def test_rows_beyond_the_row_cap_are_refused():
    sheet = tables.Sheet("Big", iter([(n, [str(n)]) for n in range(1, 12)]))

    with pytest.raises(InvalidObjectError, match="more than 10 rows"):
        for capped in tables.capped([sheet], limit=10):
            list(capped.rows)


def test_csv_delimiter_and_quoted_newlines_are_read():
    sheet = tables.read_csv('name;city\nAlice;Paris\n\nBob;"Rome\nItaly"\n')

    assert list(sheet.rows) == [(1, ["name", "city"]), (2, ["Alice", "Paris"]), (4, ["Bob", "Rome Italy"])]


def test_tsv_is_split_at_tabs_only():
    sheet = tables.read_csv("name\tnote\nAlice\tcomma, inside\n", tab_separated=True)

    assert list(sheet.rows)[1] == (2, ["Alice", "comma, inside"])


def test_malformed_csv_is_invalid():
    sheet = tables.read_csv("a,b\n" + '"' + "x" * 200_000 + '",1\n')  # past csv's field size limit

    with pytest.raises(InvalidObjectError, match="malformed CSV"):
        list(sheet.rows)


def test_docx_table_rows_are_labelled_by_the_header_row(tmp_path):
    import docx

    from functions.processing.formats.office import extract_docx

    document = docx.Document()
    document.add_paragraph("Budget")
    grid = document.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("Item", "Cost"), ("Lamp", "300"), ("Paint", "75")]):
        grid.cell(r, 0).text, grid.cell(r, 1).text = a, b
    path = tmp_path / "t.docx"
    document.save(path)

    doc = extract_docx(path)

    assert doc.pages[0].text == "Budget\nItem: Lamp; Cost: 300\nItem: Paint; Cost: 75"
    table = doc.pages[0].tables[0]
    assert (table.index, table.header, table.rows) == (0, True, [["Item", "Cost"], ["Lamp", "300"], ["Paint", "75"]])
    assert doc.metadata["tables"] == 1


def test_pptx_slides_are_pages_with_titles_tables_and_speaker_notes(tmp_path):
    from functions.processing.formats.office import extract_pptx

    doc = extract_pptx(_pptx(tmp_path / "deck.pptx"))

    assert [p.number for p in doc.pages] == [1, 2]
    assert doc.pages[0].text == "Quarterly review\nRevenue grew in every region\nSpeaker notes: Mention the harbour project"
    assert doc.pages[1].text == "Costs\nItem: Lamp; Cost: 300\nItem: Paint; Cost: 75"
    assert doc.pages[1].tables[0].labels == ["Item", "Cost"]
    assert doc.metadata["slides"] == 2 and doc.metadata["notes_slides"] == [1]


def test_truncated_pptx_is_invalid(tmp_path):
    from functions.processing.formats.office import extract_pptx

    data = _pptx(tmp_path / "deck.pptx").read_bytes()
    path = tmp_path / "cut.pptx"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(InvalidObjectError, match="PPTX"):
        extract_pptx(path)


def test_office_zips_are_told_apart_by_their_main_part(tmp_path):
    from functions.processing.formats.detect import sniff

    xlsx = _xlsx(tmp_path / "b.xlsx", {"S": [("a",)]})
    deck = _pptx(tmp_path / "d.pptx")
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(xlsx.read_bytes()[:300])

    assert sniff(xlsx.read_bytes()[:64], xlsx).format == "xlsx"
    assert sniff(deck.read_bytes()[:64], deck).format == "pptx"
    detected = sniff(cut.read_bytes()[:64], cut)
    assert detected.family == "archive" and "truncated" in detected.description


def test_text_claimed_as_csv_is_a_table_document_and_binary_never_is():
    from functions.processing.formats.detect import as_table_text, check_modality, sniff

    text = sniff(b"name,city\nAlice,Paris\n")
    assert as_table_text(text, "people.csv", None).format == "csv"
    assert as_table_text(text, "people", "text/csv; charset=utf-8").format == "csv"
    assert as_table_text(text, "people.txt", "text/plain") is text
    check_modality("document", as_table_text(text, "people.csv", None), None)  # accepted
    with pytest.raises(InvalidObjectError, match="content does not match"):
        check_modality("document", as_table_text(sniff(b"\x89PNG\r\n\x1a\n...."), "x.csv", None), "text/csv")
    with pytest.raises(InvalidObjectError, match="content does not match"):
        check_modality("document", text, "application/pdf")  # text that claims to be a PDF
