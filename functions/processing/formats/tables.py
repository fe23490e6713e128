"""Tables as text that reads naturally, and their rows and cells as data.

A table row becomes one line such as `Region: North; Q1: 120; Q2: 135`: when the first row is
a header its cells label every cell below, so that a question about a cell finds the row with
its column names. Spreadsheets (XLSX through openpyxl in read-only mode, which streams each
sheet's XML) and CSV/TSV (the standard library's csv module) are read as tables (their rows are
grouped into chunks by functions/processing/chunking/rows.py).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from functions.common.errors import InvalidObjectError

MAX_TABLE_ROWS = 200_000  # rows with content, per object (all sheets together)
MAX_TABLE_COLUMNS = 1_000  # Excel allows 16,384; a row wider than this is refused, not half-read
MAX_CELL_CHARS = 2_000  # a cell longer than this is cut (a chunk should hold a row)
MAX_SHEETS = 200
# A few KB of deflate can declare gigabytes of XML; the members' declared sizes are checked
# before anything is parsed (zipfile then refuses a member longer than it declared).
MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_NUMBER = re.compile(r"^[\s$€£%+\-(]*\d[\d\s,.'%)]*$")


@dataclass
class Table:
    """A table's cells as text, and whether its first row labels the others."""

    index: int  # 0-based, in document order
    rows: list[list[str]]
    header: bool = False

    @property
    def labels(self) -> list[str] | None:
        return self.rows[0] if self.header and self.rows else None

    def body(self) -> list[list[str]]:
        return self.rows[1:] if self.header else self.rows

    def lines(self) -> list[str]:
        """One line of text per body row with content (`label: value; ...`), after a line of the
        header's cells when some of them label no value (their words would be lost otherwise)."""
        body = [line for line in (row_text(row, self.labels) for row in self.body()) if line]
        labels = self.labels
        if labels is not None:
            used = {i for row in self.body() for i, cell in enumerate(row) if cell}
            if any(label and i not in used for i, label in enumerate(labels)):
                return [row_text(labels), *body]
        return body


def cell_text(value: object) -> str:
    """A cell value as the text a reader sees: whole numbers without `.0`, dates in ISO 8601,
    whitespace collapsed, at most MAX_CELL_CHARS characters."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, dt.datetime):
        text = value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    elif isinstance(value, (dt.date, dt.time)):
        text = value.isoformat()
    else:
        text = str(value)
    return " ".join(unicodedata.normalize("NFC", _CONTROL.sub(" ", text)).split())[:MAX_CELL_CHARS]


def is_number(text: str) -> bool:
    return bool(_NUMBER.match(text))


def has_header(first: list[str], rest: Iterable[list[str]] = ()) -> bool:
    """Whether the first row of a table names its columns: every cell filled, none a number,
    no two alike, and at least one more row below it."""
    cells = list(first)
    if len(cells) < 1 or not all(cells) or any(is_number(c) for c in cells):
        return False
    if len({c.casefold() for c in cells}) != len(cells):
        return False
    return any(any(row) for row in rest)


def row_text(cells: list[str], labels: list[str] | None = None) -> str:
    """`label: value; label: value` for the filled cells of a row (`value; value` without labels);
    '' for an empty row."""
    parts = []
    for i, cell in enumerate(cells):
        if not cell:
            continue
        label = labels[i] if labels is not None and i < len(labels) else ""
        parts.append(f"{label}: {cell}" if label else cell)
    return "; ".join(parts)


def trim(cells: Iterable[object]) -> list[str]:
    """Cells as text without the empty ones at the end of the row."""
    row = [cell_text(c) for c in cells]
    while row and not row[-1]:
        row.pop()
    return row


# -- spreadsheets and CSV ------------------------------------------------------------
@dataclass
class Sheet:
    name: str | None
    rows: Iterator[tuple[int, list[str]]]  # (1-based row number, cells), rows with content only


def check_zip_size(path: Path, kind: str) -> None:
    """Refuse an Office file whose members declare more than MAX_UNCOMPRESSED_BYTES.
    Raises InvalidObjectError (also for a ZIP that cannot be read)."""
    try:
        with zipfile.ZipFile(path) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidObjectError(f"corrupt or truncated {kind}: {exc}") from exc
    if total > MAX_UNCOMPRESSED_BYTES:
        raise InvalidObjectError(
            f"the {kind} unpacks to {total} bytes, above the limit of {MAX_UNCOMPRESSED_BYTES} (decompression bomb?)"
        )


def read_xlsx(path: Path) -> list[Sheet]:
    """The workbook's worksheets, each with its rows streamed from the file (openpyxl in
    read-only mode: memory stays bounded by a row, not the sheet). Cached formula results are
    read, not formulas. Raises InvalidObjectError for a damaged or password-protected file."""
    import openpyxl

    check_zip_size(path, "XLSX")
    try:
        # A file object, not the path: openpyxl refuses a path without an Excel extension.
        book = openpyxl.load_workbook(path.open("rb"), read_only=True, data_only=True)
    except InvalidObjectError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile, lxml and openpyxl raise many types for damaged files
        raise InvalidObjectError(f"corrupt XLSX: {type(exc).__name__}: {exc}") from exc
    sheets = [ws for ws in book.worksheets if hasattr(ws, "iter_rows")]  # chartsheets have no cells
    if len(sheets) > MAX_SHEETS:
        raise InvalidObjectError(f"the workbook has {len(sheets)} sheets, above the limit of {MAX_SHEETS}")
    return [Sheet(ws.title, _sheet_rows(ws)) for ws in sheets]


def _sheet_rows(ws) -> Iterator[tuple[int, list[str]]]:
    # A sheet's declared dimension (A1:XFD1048576 is legal) would make openpyxl pad every row to
    # it; without it, rows are as wide as their last cell.
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()
    try:
        for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
            if len(values) > MAX_TABLE_COLUMNS and any(v is not None for v in values[MAX_TABLE_COLUMNS:]):
                raise InvalidObjectError(
                    f"sheet {ws.title!r} row {number} has cells beyond column {MAX_TABLE_COLUMNS}, above the limit"
                )
            row = trim(values[:MAX_TABLE_COLUMNS])
            if row:
                yield number, row
    except InvalidObjectError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged sheet's XML surfaces only while it is read
        raise InvalidObjectError(f"corrupt XLSX sheet {ws.title!r}: {type(exc).__name__}: {exc}") from exc


def read_csv(text: str, tab_separated: bool = False) -> Sheet:
    """Rows of CSV (or TSV) text; the delimiter (comma, semicolon, tab or pipe) is detected from
    the first lines unless `tab_separated`. Raises InvalidObjectError for malformed CSV."""
    delimiter = "\t" if tab_separated else _delimiter(text[:16 * 1024])

    def rows() -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            for number, values in enumerate(reader, start=1):
                if len(values) > MAX_TABLE_COLUMNS:
                    raise InvalidObjectError(f"CSV row {number} has {len(values)} fields, above the limit of {MAX_TABLE_COLUMNS}")
                row = trim(values)
                if row:
                    yield number, row
        except csv.Error as exc:
            raise InvalidObjectError(f"malformed CSV at line {reader.line_num}: {exc}") from exc

    return Sheet(None, rows())


def _delimiter(sample: str) -> str:
    lines = sample.splitlines()[:20]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def capped(sheets: Iterable[Sheet], limit: int = MAX_TABLE_ROWS) -> Iterator[Sheet]:
    """The same sheets, raising InvalidObjectError once their rows together pass `limit`."""
    seen = 0

    def count(sheet: Sheet) -> Iterator[tuple[int, list[str]]]:
        nonlocal seen
        for item in sheet.rows:
            seen += 1
            if seen > limit:
                raise InvalidObjectError(f"the table has more than {limit} rows with content, above MAX_TABLE_ROWS")
            yield item

    for sheet in sheets:
        yield Sheet(sheet.name, count(sheet))
