"""RTF as a paged document.

striprtf (https://github.com/joshy/striprtf, pure Python) turns the control words into text
(`\\par` lines, `\\'hh` and `\\u` characters in the document's code page); `\\page` breaks number
the pages. RTF tables come out as text (striprtf keeps no cell structure).
"""
from __future__ import annotations

import re
from pathlib import Path

from functions.common.errors import InvalidObjectError
from functions.processing.formats import tables as tables_mod
from functions.processing.formats.document import MAX_PAGES, Document, Page

MAX_RTF_BYTES = 32 * 1024 * 1024  # striprtf works through regular expressions over the whole text
_PAGE_BREAK = re.compile(r"\\page(?![A-Za-z])")  # the control word \page, not \pagebb or \pgwsxn
_CELL, _ROW = "\ue000", "\ue001"
# The control words (with an optional parameter and the space that ends them) and what replaces
# them: a Unicode escape in a group of its own, so that its fallback "?" is skipped whatever \uc says.
_TABLE_WORDS = re.compile(r"\\(cell|row|nestcell|nestrow)(?![A-Za-z])-?\d* ?")
_TABLE_MARKS = {"cell": "{\\uc1\\u-8192?}", "row": "{\\uc1\\u-8191?}", "nestcell": " ", "nestrow": "\\par "}


def extract_rtf(path: Path) -> Document:
    """The text of an RTF document, split into pages at `\\page`. Raises InvalidObjectError for
    a file that is not RTF, one cut before its last group closes, or one above MAX_RTF_BYTES."""
    from striprtf.striprtf import rtf_to_text

    size = path.stat().st_size
    if size > MAX_RTF_BYTES:
        raise InvalidObjectError(f"the RTF file is {size} bytes, above the limit of {MAX_RTF_BYTES}")
    raw = path.read_bytes()
    if not raw.lstrip().startswith(b"{\\rtf"):
        raise InvalidObjectError("not an RTF document: it does not start with {\\rtf")
    open_groups = _open_groups(raw)
    if open_groups:
        raise InvalidObjectError(f"corrupt or truncated RTF: {open_groups} group(s) never closed")
    # RTF is 7-bit text; 8-bit bytes outside escapes are read as the default ANSI code page.
    marked = _PAGE_BREAK.sub(lambda _: "\\par \f\\par ", raw.decode("latin-1"))
    marked = _TABLE_WORDS.sub(lambda m: _TABLE_MARKS[m.group(1)], marked)
    try:
        text = rtf_to_text(marked, encoding=_codepage(raw), errors="replace")
    except Exception as exc:  # noqa: BLE001 - a regex-based reader: anything it raises is a bad file
        raise InvalidObjectError(f"corrupt RTF: {type(exc).__name__}: {exc}") from exc
    texts = text.split("\f")
    if len(texts) > MAX_PAGES:
        raise InvalidObjectError(f"the RTF document has {len(texts)} pages, above the limit of {MAX_PAGES}")
    pages: list[Page] = []
    table_count = 0
    for t in texts:
        page_text, page_tables = _split_tables(t, table_count)
        table_count += len(page_tables)
        if page_text.strip():
            pages.append(Page(number=len(pages) + 1, text=page_text.strip(), tables=page_tables))
    if not pages:
        raise InvalidObjectError("the RTF document holds no text")
    return Document(format="rtf", pages=pages, metadata={"pages": len(pages), "tables": table_count})


def _split_tables(text: str, first_index: int) -> tuple[str, list[tables_mod.Table]]:
    """A page's text with each table's rows as row lines (tables.py), and its tables. A row is
    the text up to a row mark, its cells separated by cell marks; a table's first cell starts
    after the last line break before it (its paragraph mark)."""
    if _CELL not in text and _ROW not in text:
        return text, []
    out: list[str] = []
    found: list[tables_mod.Table] = []
    rows: list[list[str]] = []
    cells: list[str] = []

    def close_table() -> None:
        if rows:
            table = tables_mod.Table(first_index + len(found), list(rows),
                                     header=len(rows) > 1 and tables_mod.has_header(rows[0], rows[1:]))
            found.append(table)
            out.append("\n" + "\n".join(table.lines()) + "\n")
            rows.clear()

    for piece, mark in re.findall(r"([^\ue000\ue001]*)([\ue000\ue001]?)", text):
        if mark == _CELL:
            if not cells and not rows:  # the table's first cell: what precedes its paragraph is text
                before, _, piece = piece.rpartition("\n")
                out.append(before)
            elif not cells and rows and "\n" in piece.strip("\n"):
                close_table()  # text between two rows' marks: the table ended, another begins
                before, _, piece = piece.rpartition("\n")
                out.append(before)
            cells.append(tables_mod.cell_text(piece))
        elif mark == _ROW:
            if cells or piece.strip():
                row = cells + ([tables_mod.cell_text(piece)] if piece.strip() else [])
                if any(row):
                    rows.append(row)
            cells = []
        else:
            if cells:  # cells without a row mark (a truncated row): keep them as a row
                rows.append(cells)
                cells = []
            close_table()
            out.append(piece)
    close_table()
    return "".join(out), found


def _open_groups(raw: bytes) -> int:
    """Groups opened with `{` and never closed (escaped braces `\\{` `\\}` do not count)."""
    depth = 0
    escaped = False
    for byte in raw:
        if escaped:
            escaped = False
        elif byte == 0x5C:  # backslash
            escaped = True
        elif byte == 0x7B:
            depth += 1
        elif byte == 0x7D:
            depth -= 1
    return max(depth, 0)


def _codepage(raw: bytes) -> str:
    found = re.search(rb"\\ansicpg(\d+)", raw[:4096])
    return f"cp{int(found.group(1))}" if found else "cp1252"
