"""Text, HTML and Markdown: decoded, normalised (HTML read for its visible text and headings,
HTML and Markdown tables kept as rows of cells) and cut into chunks of the embedding model's
tokens with overlap; a chunk holding table rows names them in its metadata, as for documents."""
from __future__ import annotations

from typing import Any

from functions.common.errors import InvalidObjectError
from functions.processing.chunking.text import iter_chunks
from functions.processing.extract.document import table_rows, tables_in
from functions.processing.extract.job import ExtractJob, span
from functions.processing.formats import html, markdown, registry
from functions.processing.formats import tables as tables_mod
from functions.processing.formats import text as text_format
from functions.processing.formats.detect import sniff
from functions.processing.staging.chunks import ChunkWriter

_HTML = registry.BY_NAME["html"]
_MARKDOWN = registry.BY_NAME["markdown"]


def extract(job: ExtractJob) -> None:
    m = job.manifest
    data = job.read_text_bytes("text file")
    # HTML by its sniffed content or by its claim: a fragment without <html> is still read as
    # HTML when the uploader says it is.
    claims_html = m.detected_format == _HTML.name or registry.claims(_HTML, m.object.key, m.object.content_type)
    decoded = text_format.decode(data, declared=html.declared_charset(data) if claims_html else None)
    del data  # a large file's bytes and its text need not both stay in memory
    page: html.HtmlText | None = None
    found: list[tables_mod.Table] = []
    # HTML in UTF-16 shows its <html> only once decoded.
    if claims_html or sniff(decoded.text[:1024].encode("utf-8")).format == _HTML.name:
        m.detected_format = _HTML.name
        page = html.extract(decoded.text)
        text, found = page.text, page.tables
        if not text:
            raise InvalidObjectError("the HTML file holds no visible text (only markup, scripts or styles)")
    elif registry.claims(_MARKDOWN, m.object.key, m.object.content_type):
        m.detected_format = _MARKDOWN.name
        read = markdown.extract(decoded.text)
        text, found = read.text, read.tables
        if not text:
            raise InvalidObjectError("the Markdown file holds no text after normalisation")
    else:
        text = text_format.normalise(decoded.text)
        if not text:
            raise InvalidObjectError("the text file holds no text after normalisation")
    m.metadata.update(encoding=decoded.encoding, characters=len(text), words=text_format.count_words(text),
                      lines=text.count("\n") + 1)
    if page is not None:
        m.metadata.update(title=page.title, headings=page.outline)
    if found:
        m.metadata["tables"] = len(found)
    rows = table_rows(text, found)
    settings = job.settings
    with ChunkWriter(job.staging, m, settings.max_chunks) as chunks:
        for piece in iter_chunks(text, settings.text_chunk_tokens, settings.text_chunk_overlap):
            metadata: dict[str, Any] = span(piece)
            if page is not None:
                metadata["headings"] = page.headings_at(piece.char_start)
            in_chunk = tables_in(rows, piece.char_start, piece.char_end) if rows else []
            if in_chunk:
                metadata["tables"] = in_chunk
            chunks.add("text", text=piece.text, metadata=metadata)
    m.artefacts["text"] = job.stage_text("text.txt", text)
