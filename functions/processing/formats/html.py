"""HTML read as text: the visible text by blocks, the title, and the heading each block is under.

Parsed with the standard library's HTMLParser (tolerant of broken markup, no recursion, so
deep nesting costs nothing). Scripts, styles and other content a browser does not show are
dropped; entities are decoded; an image's `alt` text is kept where the image stands. Blocks are normalised like any text (text.normalise) and
joined by a blank line, so that character offsets of chunks refer to the returned text.

Tables are kept as rows of cells (tables.py), like every other format's: a table is one block,
one line per row (`Item: Lamp; Cost: 300` when its first row is a header: `<th>` cells, or a
row that looks like one). A cell spanning columns counts once; a table inside a cell is a table
of its own, its block before its parent's; end tags HTML lets one omit (`</td>`, `</tr>`) are
implied.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from functions.processing.formats import tables as tables_mod
from functions.processing.formats.text import normalise

# Content a browser does not render as text.
_HIDDEN = {"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object", "canvas", "select"}
_BLOCKS = {
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup", "hr", "li", "main", "nav", "ol", "p",
    "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "html",
}
_CELLS = {"td", "th"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")
MAX_OUTLINE = 200  # headings kept in the object's metadata (every chunk has its own path)
_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Section:
    """Where a block starts in the text, and the headings it is under (outermost first)."""

    char_start: int
    headings: tuple[str, ...]


@dataclass
class HtmlText:
    text: str
    title: str | None
    sections: list[Section] = field(default_factory=list)
    outline: list[dict[str, object]] = field(default_factory=list)
    tables: list[tables_mod.Table] = field(default_factory=list)  # in text order

    def headings_at(self, char: int) -> list[str]:
        """The heading path in force at character `char` of the text (sections are in text
        order: a binary search, as a large page has thousands of sections and chunks)."""
        at = bisect.bisect_right(self.sections, char, key=lambda section: section.char_start)
        return list(self.sections[at - 1].headings) if at else []


def declared_charset(head: bytes) -> str | None:
    """The encoding a <meta charset> or http-equiv declaration names in the first 1024 bytes
    (https://html.spec.whatwg.org/multipage/parsing.html#prescan-a-byte-stream-to-determine-its-encoding)."""
    found = _CHARSET.search(head[:1024])
    return found.group(1).decode("ascii") if found else None


def extract(markup: str) -> HtmlText:
    """Visible text, title and heading structure of an HTML document (already decoded).

    Never raises for malformed markup; returns empty text when nothing is visible.
    """
    parser = _Parser()
    parser.feed(markup)
    parser.close()
    parser.flush()
    blocks: list[str] = []
    sections: list[Section] = []
    pos = 0
    for text, headings in parser.blocks:
        text = normalise(text)
        if not text:
            continue
        if blocks:
            pos += 2  # the blank line between blocks
        sections.append(Section(pos, headings))
        blocks.append(text)
        pos += len(text)
    title = normalise(_SPACES.sub(" ", parser.title)) if parser.title is not None else None
    return HtmlText("\n\n".join(blocks), title or None, sections, parser.outline[:MAX_OUTLINE], parser.tables)


@dataclass
class _Table:
    """A table being parsed: its rows so far, the open row and cell, whether the first row is <th>."""

    rows: list[list[str]] = field(default_factory=list)
    row: list[str] | None = None
    cell: list[str] | None = None
    header_cells: int = 0  # <th> cells of the first row

    def close_cell(self) -> None:
        if self.cell is not None:
            if self.row is None:
                self.row = []
            self.row.append(tables_mod.cell_text("".join(self.cell)))
            self.cell = None

    def close_row(self) -> None:
        self.close_cell()
        if self.row is not None and any(self.row):
            self.rows.append(self.row)
        self.row = None


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, tuple[str, ...]]] = []
        self.outline: list[dict[str, object]] = []
        self.title: str | None = None
        self._in_title = False
        self._hidden: list[str] = []
        self._pre = 0
        self._buffer: list[str] = []
        self._heading: int | None = None
        self._path: list[tuple[int, str]] = []
        self._tables: list[_Table] = []  # open tables, innermost last
        self.tables: list[tables_mod.Table] = []

    # -- blocks ---------------------------------------------------------------------
    def flush(self) -> None:
        text = "".join(self._buffer)
        self._buffer = []
        if self._pre == 0:
            text = "\n".join(" ".join(line.split()) for line in text.split("\n"))  # as a browser collapses spaces
        if not text.strip():
            return
        if self._heading is not None:
            level, heading = self._heading, _SPACES.sub(" ", text).strip()
            self._path = [(lvl, h) for lvl, h in self._path if lvl < level] + [(level, heading)]
            self.outline.append({"level": level, "text": heading})
        self.blocks.append((text, tuple(h for _, h in self._path)))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and self.title is None:
            self._in_title, self.title = True, ""
            return
        if tag == "body":  # an unclosed <head> ends where the body starts
            self._hidden = [t for t in self._hidden if t != "head"]
        if tag in _HIDDEN:
            self._hidden.append(tag)
            return
        if self._hidden:
            return
        if tag == "table":
            self.flush()
            self._tables.append(_Table())
            return
        if self._tables and self._table_tag_start(tag):
            return
        if tag in _HEADINGS:
            self.flush()
            self._heading = _HEADINGS[tag]
        elif tag in _BLOCKS:
            self.flush()
            if tag == "pre":
                self._pre += 1
        elif tag == "br":
            self._buffer.append("\n")
        elif tag == "img":  # an image's text alternative is what it says (and what a reader hears)
            alt = next((value for name, value in attrs if name == "alt" and value), None)
            if alt:
                self.handle_data(f" {alt} ")
        elif tag in ("td", "th"):
            self._buffer.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN or tag == "title":
            return  # <script/>: nothing inside
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            return
        if tag in _HIDDEN:
            if tag in self._hidden:  # close it (and anything left open inside it)
                del self._hidden[len(self._hidden) - 1 - self._hidden[::-1].index(tag):]
            return
        if self._hidden:
            return
        if tag == "table" and self._tables:
            self._end_table()
            return
        if self._tables and self._table_tag_end(tag):
            return
        if tag in _HEADINGS:
            if self._heading is not None:
                self.flush()
            self._heading = None
        elif tag in _BLOCKS:
            self.flush()
            if tag == "pre" and self._pre:
                self._pre -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data
            return
        if self._hidden:
            return
        if self._tables and self._tables[-1].cell is not None:
            self._tables[-1].cell.append(data)
            return
        self._buffer.append(data if self._pre else _SPACES.sub(" ", data))

    # -- tables -----------------------------------------------------------------------
    def _table_tag_start(self, tag: str) -> bool:
        """Handle a start tag inside a table; False when it is not table structure or cell content."""
        table = self._tables[-1]
        if tag == "tr":
            table.close_row()
            table.row = []
            return True
        if tag in _CELLS:
            table.close_cell()
            if table.row is None:
                table.row = []
            if tag == "th" and not table.rows:
                table.header_cells += 1
            table.cell = []
            return True
        if table.cell is not None and (tag in _BLOCKS or tag in _HEADINGS or tag == "br"):
            table.cell.append(" ")  # a line or block inside a cell: the cell's words stay apart
            return True
        return False

    def _table_tag_end(self, tag: str) -> bool:
        table = self._tables[-1]
        if tag in _CELLS:
            table.close_cell()
            return True
        if tag == "tr":
            table.close_row()
            return True
        return table.cell is not None and (tag in _BLOCKS or tag in _HEADINGS)

    def _end_table(self) -> None:
        """Close the innermost table: its rows become a Table and one block of row lines."""
        self.flush()  # text inside the table but outside any cell (a caption) is a block before it
        table = self._tables.pop()
        table.close_row()
        if not table.rows:
            return
        rows = table.rows
        marked = table.header_cells > 0 and table.header_cells == len(rows[0])
        header = len(rows) > 1 and (marked or tables_mod.has_header(rows[0], rows[1:]))
        result = tables_mod.Table(index=len(self.tables), rows=rows, header=header)
        self.tables.append(result)
        lines = result.lines()
        if lines:
            self.blocks.append(("\n".join(lines), tuple(h for _, h in self._path)))

    def close(self) -> None:
        super().close()
        while self._tables:  # tables left open at the end of the document
            self._end_table()
