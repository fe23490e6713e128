"""Table rows into chunks: consecutive rows of one sheet (or CSV file) of at most the embedding
model's token budget, each chunk naming its sheet and the range of rows it holds; a header row
labels every cell below it (formats/tables.py row_text)."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from functions.processing.formats.tables import has_header, row_text


@dataclass
class RowChunk:
    """Consecutive rows of one sheet (or CSV file), rendered as text of at most the budget."""

    text: str
    sheet: str | None
    row_start: int  # 1-based row numbers of the sheet or file, inclusive
    row_end: int
    header: list[str] | None
    rows: list[list[str]] = field(default_factory=list)

    def metadata(self) -> dict:
        meta: dict = {"row_start": self.row_start, "row_end": self.row_end, "rows": self.rows}
        if self.sheet is not None:
            meta["sheet"] = self.sheet
        if self.header is not None:
            meta["header"] = self.header
        return meta



def chunk_rows(
    rows: Iterable[tuple[int, list[str]]],
    size: int,
    count_tokens: Callable[[str], int],
    sheet: str | None = None,
) -> list[RowChunk]:
    """Group numbered rows (1-based, empty ones already dropped) into chunks of at most `size`
    model tokens. A header row (see has_header) labels the rest and is not repeated as a row.

    Every chunk starts with a line naming the sheet, when there is one; a row too long for a
    chunk on its own gets a chunk of its own, which the embedding model truncates.
    """
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return []
    second = next(rows, None)
    header = first[1] if second is not None and has_header(first[1], [second[1]]) else None
    body: Iterator[tuple[int, list[str]]] = _chain([] if header else [first], [second] if second else [], rows)
    prefix = f"Sheet: {sheet}" if sheet else ""
    prefix_tokens = count_tokens(prefix) if prefix else 0
    chunks: list[RowChunk] = []
    lines: list[str] = []
    cells: list[list[str]] = []
    numbers: list[int] = []
    used = prefix_tokens

    def flush() -> None:
        if lines:
            text = "\n".join(([prefix] if prefix else []) + lines)
            chunks.append(RowChunk(text, sheet, numbers[0], numbers[-1], header, list(cells)))
            lines.clear()
            cells.clear()
            numbers.clear()

    for number, row in body:
        line = row_text(row, header)
        if not line:
            continue
        tokens = count_tokens(line)
        if lines and used + tokens > size:
            flush()
            used = prefix_tokens
        lines.append(line)
        cells.append(row)
        numbers.append(number)
        used += tokens
    flush()
    return chunks


def _chain(*parts: Iterable) -> Iterator:
    for part in parts:
        yield from part
