"""Spreadsheets and CSV/TSV as tables: chunks of whole rows (header cells as labels), each
naming its sheet and rows."""
from __future__ import annotations

from functions.common.errors import InvalidObjectError
from functions.processing.chunking.rows import chunk_rows
from functions.processing.chunking.text import count_tokens
from functions.processing.extract.job import ExtractJob
from functions.processing.formats import registry, tables
from functions.processing.formats import text as text_format
from functions.processing.staging.chunks import ChunkWriter


def extract(job: ExtractJob) -> None:
    m = job.manifest
    fmt = registry.BY_NAME[m.detected_format]
    if fmt.reader is not None:  # a workbook
        sheets = fmt.read()(job.source)
        m.metadata["sheets"] = [s.name for s in sheets]
    else:  # CSV or TSV: text, decoded as any text is
        decoded = text_format.decode(job.read_text_bytes("CSV file"))
        tab = (m.object.key.lower().endswith(".tsv")
               or registry.mime_type(m.object.content_type) == "text/tab-separated-values")
        sheets = [tables.read_csv(decoded.text, tab_separated=tab)]
        m.metadata["encoding"] = decoded.encoding
    rows = 0
    texts: list[str] = []
    with ChunkWriter(job.staging, m, job.settings.max_chunks) as chunks:
        for sheet in tables.capped(sheets):
            for piece in chunk_rows(sheet.rows, job.settings.text_chunk_tokens, count_tokens, sheet.name):
                chunks.add("table_rows", text=piece.text, metadata=piece.metadata())
                rows += len(piece.rows)
                texts.append(piece.text)
    if not chunks.count:
        raise InvalidObjectError("the table holds no cells with content")
    m.metadata["rows"] = rows
    m.artefacts["text"] = job.stage_text("text.txt", "\n\n".join(t for t in texts if t))
