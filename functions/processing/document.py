"""Documents: page-aware text of PDF (pypdf) and DOCX (python-docx); images of scanned pages.

A PDF page with (almost) no text layer is treated as scanned: its embedded images are handed
back so that the caller can OCR them. DOCX has no fixed pages; explicit page breaks (and the
page breaks Word rendered last time it saved) number the pages. Tables become text rows
`| cell | cell |` so that their content is searchable.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from functions.common.errors import InvalidObjectError

logger = logging.getLogger(__name__)

MAX_PAGES = 2000
MIN_TEXT_CHARS = 16  # below this a PDF page counts as scanned (no usable text layer)
MAX_IMAGES_PER_PAGE = 4
MAX_IMAGE_BYTES = 20 * 1024 * 1024


@dataclass
class Page:
    number: int  # 1-based
    text: str
    images: list[bytes] = field(default_factory=list)  # JPEG/PNG of a scanned page, for OCR
    tables: int = 0

    @property
    def scanned(self) -> bool:
        return len(self.text.strip()) < MIN_TEXT_CHARS


@dataclass
class DocumentExtract:
    format: str
    pages: list[Page]
    metadata: dict = field(default_factory=dict)


def extract_pdf(path: Path) -> DocumentExtract:
    """Text per page, and images of pages without text. Raises InvalidObjectError."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidObjectError("the PDF is password-protected")
        count = len(reader.pages)
    except InvalidObjectError:
        raise
    except RecursionError as exc:  # objects nested thousands deep exhaust the parser's stack
        raise InvalidObjectError("corrupt PDF: objects nested too deeply to parse") from exc
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, OSError, AssertionError) as exc:
        raise InvalidObjectError(f"corrupt or truncated PDF: {exc}") from exc
    if count == 0:
        raise InvalidObjectError("the PDF has no pages")
    if count > MAX_PAGES:
        raise InvalidObjectError(f"the PDF has {count} pages, above the limit of {MAX_PAGES}")
    pages: list[Page] = []
    for index in range(count):
        try:
            page = reader.pages[index]
            text = page.extract_text() or ""
        except RecursionError as exc:
            raise InvalidObjectError(f"corrupt PDF page {index + 1}: objects nested too deeply to parse") from exc
        except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AssertionError) as exc:
            raise InvalidObjectError(f"corrupt PDF page {index + 1}: {exc}") from exc
        result = Page(number=index + 1, text=text)
        if result.scanned:
            _refuse_image_bombs(page, index + 1)
            result.images = _page_images(page, index + 1)
        pages.append(result)
    info = {}
    try:
        meta = reader.metadata or {}
        info = {k.lstrip("/").lower(): str(v)[:200] for k, v in meta.items() if v is not None}
    except Exception:  # noqa: BLE001 - broken info dictionaries are common and harmless
        pass
    return DocumentExtract(format="pdf", pages=pages, metadata={"pages": count, "info": info})


def _refuse_image_bombs(page, number: int) -> None:
    """Refuse a page whose images declare more pixels than an image file may have, before
    anything decodes them (a few KB of Flate can declare gigabytes). Raises InvalidObjectError."""
    from functions.processing.image import MAX_PIXELS

    try:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        images = [x.get_object() for x in (xobjects.get_object().values() if xobjects is not None else [])]
        sizes = [(int(x.get("/Width", 0)), int(x.get("/Height", 0))) for x in images if x.get("/Subtype") == "/Image"]
    except Exception:  # noqa: BLE001 - unreadable resources: _page_images skips them
        return
    for width, height in sizes:
        if width * height > MAX_PIXELS:
            raise InvalidObjectError(
                f"PDF page {number} has an image of {width}x{height} pixels, above the {MAX_PIXELS} pixel limit"
                " (decompression bomb?)"
            )


def _page_images(page, number: int) -> list[bytes]:
    images: list[bytes] = []
    try:
        for image in list(page.images)[:MAX_IMAGES_PER_PAGE]:
            pil = image.image
            if pil is None or pil.width * pil.height > 64_000_000:
                continue
            out = io.BytesIO()
            pil.convert("RGB" if pil.mode not in ("L", "RGB") else pil.mode).save(out, "PNG")
            if out.tell() <= MAX_IMAGE_BYTES:
                images.append(out.getvalue())
    except Exception as exc:  # noqa: BLE001 - an undecodable image means no OCR, not a failure
        logger.warning("page %d: cannot read images: %s", number, exc)
    return images


def extract_docx(path: Path) -> DocumentExtract:
    """Paragraphs and tables in body order, split into pages at page breaks."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise InvalidObjectError(f"corrupt DOCX: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - lxml / zipfile raise many types for damaged files
        raise InvalidObjectError(f"corrupt DOCX: {type(exc).__name__}: {exc}") from exc
    body = document.element.body
    pages: list[Page] = [Page(number=1, text="")]
    lines: list[str] = []

    def new_page() -> None:
        pages[-1].text = "\n".join(lines).strip()
        lines.clear()
        pages.append(Page(number=len(pages) + 1, text=""))

    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            text_parts: list[str] = []
            for node in child.iter():
                name = node.tag.rsplit("}", 1)[-1]
                if name == "t" and node.text:
                    text_parts.append(node.text)
                elif name == "tab":
                    text_parts.append("\t")
                elif (name == "br" and node.get(_W + "type") == "page") or name == "lastRenderedPageBreak":
                    if text_parts:
                        lines.append("".join(text_parts))
                        text_parts = []
                    if lines or pages[-1].tables:
                        new_page()
            if text_parts:
                lines.append("".join(text_parts))
        elif tag == "tbl":
            table = Table(child, document)
            for row in table.rows:
                cells = [" ".join(cell.text.split()) for cell in row.cells]
                lines.append("| " + " | ".join(cells) + " |")
            pages[-1].tables += 1
    pages[-1].text = "\n".join(lines).strip()
    pages = [p for p in pages if p.text or p.number == 1]
    for i, page in enumerate(pages, start=1):
        page.number = i
    core = document.core_properties
    info = {k: str(getattr(core, k)) for k in ("title", "author", "created", "modified") if getattr(core, k, None)}
    return DocumentExtract(
        format="docx",
        pages=pages,
        metadata={"pages": len(pages), "tables": sum(p.tables for p in pages), "info": info},
    )


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
