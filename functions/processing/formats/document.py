"""What a paged reader returns: a Document of Pages, each with its text, its tables (rows of
cells) and, for a scanned page, its images for OCR. The readers: pdf.py (PDF), office.py (DOCX,
PPTX), opendocument.py (ODT, ODS), rtf.py (RTF), eml.py (e-mail messages).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from functions.processing.formats import tables as tables_mod

MAX_PAGES = 5000  # long PDFs are extracted in segments of SEGMENT_PAGES (staging/segments.py)
MIN_TEXT_CHARS = 16  # below this a PDF page counts as scanned (no usable text layer)


@dataclass
class Page:
    number: int  # 1-based
    text: str
    images: list[bytes] = field(default_factory=list)  # JPEG/PNG of a scanned page, for OCR
    tables: list[tables_mod.Table] = field(default_factory=list)  # in the order of their rows in `text`

    @property
    def scanned(self) -> bool:
        return len(self.text.strip()) < MIN_TEXT_CHARS


@dataclass
class Document:
    format: str
    pages: list[Page]
    metadata: dict = field(default_factory=dict)
