"""Markdown read as text, with its pipe tables kept as rows of cells.

Markdown is plain text to read; only its tables (GitHub Flavored Markdown, https://github.github.com/gfm/#tables-extension-)
change shape: the header line, the delimiter line (`| --- | :-: |`) and the body lines become
a Table (tables.py) and its row lines (`Item: Lamp; Cost: 300`), like any other format's tables.
Everything else is normalised like any text (text.normalise). Never raises.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from functions.processing.formats import tables as tables_mod
from functions.processing.formats.text import normalise

_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass
class MarkdownText:
    text: str
    tables: list[tables_mod.Table] = field(default_factory=list)  # in text order


def split_row(line: str) -> list[str]:
    """The cells of a pipe-table line: outer pipes dropped, `\\|` kept as a pipe inside a cell."""
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    cells = re.split(r"(?<!\\)\|", body)
    return [tables_mod.cell_text(cell.replace("\\|", "|")) for cell in cells]


def extract(markup: str) -> MarkdownText:
    """The normalised text of a Markdown document, its pipe tables as row lines, and the tables."""
    lines = markup.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    found: list[tables_mod.Table] = []
    fenced = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            fenced = not fenced
        if (not fenced and "|" in line and i + 1 < len(lines) and _DELIMITER.match(lines[i + 1])
                and "|" in lines[i + 1] + line.strip()[1:]):
            labels = split_row(line)
            if len(split_row(lines[i + 1])) == len(labels):
                rows = [labels]
                i += 2
                while i < len(lines) and "|" in lines[i] and lines[i].strip():
                    cells = split_row(lines[i])[:len(labels)]
                    rows.append(cells + [""] * (len(labels) - len(cells)))
                    i += 1
                # A GFM table always has a header row; a table of that row alone is kept as a row.
                table = tables_mod.Table(index=len(found), rows=rows, header=len(rows) > 1 and any(labels))
                found.append(table)
                out.append("\n".join(table.lines() or [tables_mod.row_text(labels)]))
                continue
        out.append(line)
        i += 1
    return MarkdownText(normalise("\n".join(out)), found)
