"""OpenDocument (ODT text, ODS spreadsheets) as paged documents.

OpenDocument is a ZIP package whose content.xml holds the body (OpenDocument 1.3 part 3). odfpy,
the usual reader, ships no wheel (the layer installs wheels only), so content.xml is read with
lxml, which the layer already carries for python-docx: headings, paragraphs, lists and sections
in order, `text:soft-page-break` numbering the pages as Word's rendered breaks do for DOCX, and
tables as tables (tables.py: one `Label: value` line per row, rows of cells on the page). An ODS
file is one page per sheet, each sheet a table.

Bounds: the package's declared unpacked size (tables.check_zip_size), MAX_PAGES,
MAX_TABLE_ROWS rows and MAX_TABLE_COLUMNS columns (repeated rows and columns counted as
repeated); beyond them the file is refused with the reason.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from functions.common.errors import InvalidObjectError
from functions.processing.formats import tables as tables_mod
from functions.processing.formats.document import MAX_PAGES, Document, Page

MAX_CONTENT_XML_BYTES = 256 * 1024 * 1024

_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_T, _TB, _O = f"{{{_TEXT}}}", f"{{{_TABLE}}}", f"{{{_OFFICE}}}"
_SKIPPED = {f"{_O}annotation", f"{_T}tracked-changes", f"{_T}note-citation", f"{_O}forms",
            f"{_T}sequence-decls", f"{_T}variable-decls", f"{_T}user-field-decls", f"{_TB}table-header-columns"}


def extract_odt(path: Path) -> Document:
    """Headings, paragraphs, lists and tables of an ODT in body order, paged at the soft page
    breaks the editor last rendered. Raises InvalidObjectError for a damaged package."""
    body = _office_body(path, "ODT", "text")
    pages: list[Page] = [Page(number=1, text="")]
    lines: list[str] = []
    tables = 0

    def new_page() -> None:
        pages[-1].text = "\n".join(lines).strip()
        lines.clear()
        if len(pages) >= MAX_PAGES:
            raise InvalidObjectError(f"the ODT has more than {MAX_PAGES} pages, above the limit")
        pages.append(Page(number=len(pages) + 1, text=""))

    def walk(element) -> None:
        nonlocal tables
        for child in element:
            tag = child.tag
            if tag in _SKIPPED or not isinstance(tag, str):
                continue
            if tag == f"{_T}soft-page-break":
                if lines or pages[-1].tables:
                    new_page()
            elif tag in (f"{_T}p", f"{_T}h"):
                if child.find(f".//{_T}soft-page-break") is not None and (lines or pages[-1].tables):
                    new_page()
                text = _paragraph(child)
                if text.strip():
                    lines.append(text.strip())
            elif tag == f"{_TB}table":
                table = _table(child, tables)
                tables += 1
                lines.extend(table.lines())
                pages[-1].tables.append(table)
            else:  # lists, list items, sections, indexes: their paragraphs in order
                walk(child)

    walk(body)
    pages[-1].text = "\n".join(lines).strip()
    pages = [p for p in pages if p.text or p.number == 1]
    for i, page in enumerate(pages, start=1):
        page.number = i
    if not any(p.text for p in pages):
        raise InvalidObjectError("the ODT holds no text")
    return Document(format="odt", pages=pages, metadata={"pages": len(pages), "tables": tables})


def extract_ods(path: Path) -> Document:
    """One page per sheet of an ODS spreadsheet, each sheet a table (the header row labelling
    the rest, as for DOCX tables). Raises InvalidObjectError for a damaged package or a sheet
    beyond the table limits."""
    body = _office_body(path, "ODS", "spreadsheet")
    sheets = body.findall(f"{_TB}table")
    if len(sheets) > tables_mod.MAX_SHEETS:
        raise InvalidObjectError(f"the spreadsheet has {len(sheets)} sheets, above the limit of {tables_mod.MAX_SHEETS}")
    pages: list[Page] = []
    names: list[str] = []
    rows = 0
    for index, sheet in enumerate(sheets):
        name = sheet.get(f"{_TB}name") or f"Sheet{index + 1}"
        table = _table(sheet, index, budget=tables_mod.MAX_TABLE_ROWS - rows)
        rows += len(table.rows)
        lines = table.lines()
        if not lines:
            continue
        names.append(name)
        page = Page(number=len(pages) + 1, text="\n".join([f"Sheet: {name}", *lines]), tables=[table])
        pages.append(page)
    if not pages:
        raise InvalidObjectError("the spreadsheet holds no cells with content")
    return Document(format="ods", pages=pages, metadata={"pages": len(pages), "sheets": names, "rows": rows})


def _office_body(path: Path, kind: str, content: str):
    """office:body/office:<content> of the package's content.xml (no DTDs, entities or network)."""
    from lxml import etree

    tables_mod.check_zip_size(path, kind)
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("content.xml")
            if info.file_size > MAX_CONTENT_XML_BYTES:
                raise InvalidObjectError(f"the {kind}'s content.xml is {info.file_size} bytes, above the limit")
            data = archive.read(info)
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        root = etree.fromstring(data, parser)
    except InvalidObjectError:
        raise
    except KeyError as exc:
        raise InvalidObjectError(f"corrupt {kind}: the package has no content.xml") from exc
    except Exception as exc:  # noqa: BLE001 - zipfile and lxml raise many types for damaged files
        raise InvalidObjectError(f"corrupt or truncated {kind}: {type(exc).__name__}: {exc}") from exc
    body = root.find(f"{_O}body/{_O}{content}")
    if body is None:
        raise InvalidObjectError(f"corrupt {kind}: content.xml has no office:{content} body")
    return body


def _paragraph(element) -> str:
    """A paragraph's text: spans, links and fields in order; text:s, text:tab and
    text:line-break as the spaces, tab and line they stand for; annotations left out."""
    parts: list[str] = []

    def visit(node) -> None:
        if node.text:
            parts.append(node.text)
        for child in node:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag == f"{_T}s":
                parts.append(" " * min(int(child.get(f"{_T}c", "1") or 1), 100))
            elif tag == f"{_T}tab":
                parts.append("\t")
            elif tag == f"{_T}line-break":
                parts.append("\n")
            elif tag not in _SKIPPED and tag != f"{_T}note":
                visit(child)
            if child.tail:
                parts.append(child.tail)

    visit(element)
    return "".join(parts)


def _cell(cell) -> str:
    value_type = cell.get(f"{_O}value-type")
    if value_type in ("float", "percentage", "currency"):
        value = cell.get(f"{_O}value")
        if value is not None:
            try:
                return tables_mod.cell_text(float(value))
            except ValueError:
                pass
    return tables_mod.cell_text(" ".join(_paragraph(p) for p in cell.iter(f"{_T}p", f"{_T}h")))


def _repeat(element, attribute: str) -> int:
    try:
        return max(int(element.get(attribute, "1")), 1)
    except ValueError:
        return 1


def _table(element, index: int, budget: int = tables_mod.MAX_TABLE_ROWS) -> tables_mod.Table:
    """A table:table as rows of cell texts. Repeated rows and cells (how ODF stores a run of
    equal ones, such as the empty cells to the sheet's edge) are expanded when they hold
    content, dropped when empty at the end of a row or table."""
    rows: list[list[str]] = []
    for row in element.iter(f"{_TB}table-row"):
        cells: list[str] = []
        for cell in row:
            if cell.tag not in (f"{_TB}table-cell", f"{_TB}covered-table-cell"):
                continue
            text = _cell(cell)
            count = _repeat(cell, f"{_TB}number-columns-repeated")
            if text and len(cells) + count > tables_mod.MAX_TABLE_COLUMNS:
                raise InvalidObjectError(
                    f"table {index + 1} has cells beyond column {tables_mod.MAX_TABLE_COLUMNS}, above the limit")
            cells.extend([text] * min(count, tables_mod.MAX_TABLE_COLUMNS + 1 - len(cells)))
        cells = tables_mod.trim(cells)
        if not cells:
            continue  # empty rows (often one element repeated to the sheet's last row)
        repeat = _repeat(row, f"{_TB}number-rows-repeated")
        if len(rows) + repeat > budget:
            raise InvalidObjectError(f"the tables have more than {tables_mod.MAX_TABLE_ROWS} rows, above MAX_TABLE_ROWS")
        rows.extend([list(cells) for _ in range(repeat)])
    header = len(rows) > 1 and tables_mod.has_header(rows[0], rows[1:])
    return tables_mod.Table(index=index, rows=rows, header=header)
