"""Paged documents (PDF, DOCX, PPTX, RTF, ODT, ODS, e-mail): each page's text in chunks, scanned
pages read by OCR, and each chunk's metadata holding the rows of the tables it contains."""
from __future__ import annotations

import bisect
from typing import Any

from functions.common.constants import MODEL_OCR
from functions.common.model_client import Blob
from functions.processing.chunking.text import iter_chunks
from functions.processing.extract import email
from functions.processing.extract.job import ExtractJob, ocr_text, span
from functions.processing.formats import pdf, registry, tables
from functions.processing.formats.document import Document, Page
from functions.processing.formats.text import normalise
from functions.processing.staging.chunks import ChunkWriter

# Where a table row's line lies in a page's normalised text: (start, end, table, row index).
_RowSpan = tuple[int, int, tables.Table, int]


def extract(job: ExtractJob) -> None:
    m = job.manifest
    segment = m.segment
    fmt = registry.BY_NAME[m.detected_format]
    if fmt.shape == registry.MESSAGE:
        doc = email.read(job)
    elif segment is not None and segment.first_page is not None:  # a long PDF, a range of pages at a time
        doc = pdf.extract_pdf(job.source, segment.first_page, segment.last_page)
    else:
        doc = fmt.read()(job.source)
    m.metadata.update(doc.metadata)
    m.metadata["scanned_pages"] = [p.number for p in doc.pages if p.scanned]
    ocr_pages = _read_scanned_pages(job, doc)
    m.metadata["ocr_pages"] = sorted(ocr_pages)
    full: list[str] = []
    settings = job.settings
    with ChunkWriter(job.staging, m, settings.max_chunks) as chunks:
        for page in doc.pages:
            text = normalise(page.text)
            full.append(text)
            page_rows = table_rows(text, page.tables)
            for c in iter_chunks(text, settings.text_chunk_tokens, settings.text_chunk_overlap):
                metadata: dict[str, Any] = {**span(c), "ocr": page.number in ocr_pages}
                in_chunk = tables_in(page_rows, c.char_start, c.char_end)
                if in_chunk:
                    metadata["tables"] = in_chunk
                chunks.add("page_text", text=c.text, page=page.number, metadata=metadata)
    joined = "\n\f\n".join(full).strip()
    if joined:
        m.artefacts["text"] = job.stage_text("text.txt", joined)


def _read_scanned_pages(job: ExtractJob, doc: Document) -> set[int]:
    """OCR of the images of scanned pages, which becomes their text; the pages read."""
    scanned: list[Page] = [p for p in doc.pages if p.scanned and p.images]
    items: list[tuple[int, Blob]] = []
    for page in scanned:
        for j, data in enumerate(page.images):
            staged = job.stage(f"pages/{page.number:05d}_{j}.png", data, "image/png")
            items.append((page.number, job.blob(staged, "image")))
    if not items:
        return set()
    outputs = job.call(MODEL_OCR, [blob for _, blob in items])
    if outputs is None:
        return set()
    by_page: dict[int, list[str]] = {}
    for (number, _), output in zip(items, outputs):
        by_page.setdefault(number, []).append(ocr_text(output))
    for page in scanned:
        page.text = "\n".join(t for t in by_page.get(page.number, []) if t)
    return {page.number for page in scanned}


def table_rows(text: str, page_tables: list[tables.Table]) -> list[_RowSpan]:
    """Where each table row's line lies in the page's normalised text, in text order (also used
    for the tables of HTML and Markdown text, extract/text.py)."""
    found: list[_RowSpan] = []
    cursor = 0
    for table in page_tables:
        first = 1 if table.header else 0
        for i, row in enumerate(table.rows[first:], start=first):
            line = normalise(tables.row_text(row, table.labels))
            at = text.find(line, cursor) if line else -1
            if at >= 0:
                found.append((at, at + len(line), table, i))
                cursor = at + len(line)
    return found


def tables_in(rows: list[_RowSpan], start: int, end: int) -> list[dict[str, Any]]:
    """The tables a chunk [start, end) holds rows of: each table's index, header and those rows
    (cells as text), with their 0-based positions in the table. `rows` are in text order and do
    not overlap (table_rows), so the first one is found by bisection."""
    by_table: dict[int, dict[str, Any]] = {}
    first = bisect.bisect_right(rows, start, key=lambda r: r[1])
    for row_start, row_end, table, i in rows[first:]:
        if row_start >= end:
            break
        if row_end > start:
            entry = by_table.setdefault(table.index, {"table": table.index, "header": table.labels, "rows": [],
                                                      "row_indexes": []})
            entry["rows"].append(table.rows[i])
            entry["row_indexes"].append(i)
    return list(by_table.values())
