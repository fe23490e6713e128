"""Documents: page-aware text of PDF (pypdf), DOCX (python-docx) and PPTX (python-pptx);
images of scanned pages.

A PDF page with (almost) no text layer is treated as scanned: its embedded images are handed
back so that the caller can OCR them. DOCX has no fixed pages; explicit page breaks (and the
page breaks Word rendered last time it saved) number the pages. A PPTX "page" is a slide: its
title, text, tables and speaker notes. Tables of DOCX and PPTX become one line per row,
`Item: Lamp; Cost: 300` when the first row is a header (see tables.py), and are kept as rows
of cells on the page. PDF tables are found by pdfplumber's table finder (ruled tables: the lines
drawn around and between cells, https://github.com/jsvine/pdfplumber#extracting-tables); a page
with tables is then read by pdfplumber, the text around each table in order and each table as
its row lines, while pages without tables keep pypdf's text.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from functions.common.errors import InvalidObjectError
from functions.processing import tables as tables_mod

logger = logging.getLogger(__name__)

MAX_PAGES = 5000  # long PDFs are extracted in segments of SEGMENT_PAGES (segments.py)
MIN_TEXT_CHARS = 16  # below this a PDF page counts as scanned (no usable text layer)
MAX_IMAGES_PER_PAGE = 4
MAX_IMAGE_BYTES = 20 * 1024 * 1024
# pdfminer's layout analysis costs about 0.1 s a page: tables are looked for on the first pages
# only (the rest keep pypdf's text), so that a 2,000-page PDF still fits a Lambda's 15 minutes.
MAX_TABLE_PAGES = 300


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
class DocumentExtract:
    format: str
    pages: list[Page]
    metadata: dict = field(default_factory=dict)


def _open_pdf(path: Path):
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
    return reader, count


def pdf_page_count(path: Path) -> int:
    """Pages of the PDF. Raises InvalidObjectError (corrupt, encrypted, empty, above MAX_PAGES)."""
    return _open_pdf(path)[1]


def extract_pdf(path: Path, first_page: int = 1, last_page: int | None = None) -> DocumentExtract:
    """Text per page (of pages first_page..last_page, 1-based, inclusive: a segment), and images
    of pages without text. Raises InvalidObjectError."""
    from pypdf.errors import PdfReadError, PyPdfError

    reader, count = _open_pdf(path)
    pages: list[Page] = []
    for index in range(first_page - 1, min(count, last_page or count)):
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
    tables, table_pages = _pdf_tables(path, pages)
    info = {}
    try:
        meta = reader.metadata or {}
        info = {k.lstrip("/").lower(): str(v)[:200] for k, v in meta.items() if v is not None}
    except Exception:  # noqa: BLE001 - broken info dictionaries are common and harmless
        pass
    metadata = {"pages": count, "tables": tables, "info": info}
    if table_pages < len(pages):
        metadata["tables_looked_for_on_pages"] = table_pages
    return DocumentExtract(format="pdf", pages=pages, metadata=metadata)


def _pdf_tables(path: Path, pages: list[Page]) -> tuple[int, int]:
    """Find ruled tables with pdfplumber on the pages with a text layer (at most MAX_TABLE_PAGES);
    give each page with tables pdfplumber's text with the tables as row lines. Returns (tables
    found, pages looked at). A page pdfplumber cannot read keeps pypdf's text (logged)."""
    import pdfplumber

    count = 0
    looked = min(len(pages), MAX_TABLE_PAGES)
    try:
        pdf = pdfplumber.open(str(path))
    except Exception as exc:  # noqa: BLE001 - pypdf read the file; pdfminer may still refuse it
        logger.warning("pdfplumber cannot open the PDF, tables read as text: %s", exc)
        return 0, 0
    with pdf:
        for page in pages[:looked]:
            if page.scanned:
                continue
            plumbed = pdf.pages[page.number - 1]
            try:
                text, tables = _plumbed_page(plumbed, count)
            except Exception as exc:  # noqa: BLE001 - pdfminer raises many types for damaged content
                logger.warning("page %d: tables not read (%s: %s)", page.number, type(exc).__name__, exc)
                continue
            finally:
                plumbed.close()  # pdfplumber caches each page's objects until closed
            if tables:
                page.text, page.tables = text, tables
                count += len(tables)
    return count, looked


def _plumbed_page(page, first_index: int) -> tuple[str, list[tables_mod.Table]]:
    """The page's text with each table's rows as lines where the table stands, and its tables."""
    found = sorted(page.find_tables(), key=lambda t: (t.bbox[1], t.bbox[0]))
    if not found:
        return "", []
    x0, top, x1, bottom = page.bbox
    parts: list[str] = []
    tables: list[tables_mod.Table] = []
    y = top
    for table in found:
        t_x0, t_top, t_x1, t_bottom = table.bbox
        if t_top > y:
            parts.append(page.crop((x0, y, x1, t_top), strict=False).extract_text() or "")
        beside = page.crop((x0, max(t_top, y), x1, max(t_bottom, y)), strict=False).filter(
            lambda obj, b=table.bbox: not (obj.get("x0", 0) >= b[0] and obj.get("x1", 0) <= b[2]
                                           and obj.get("top", 0) >= b[1] and obj.get("bottom", 0) <= b[3]))
        parts.append(beside.extract_text() or "")
        rows = [[tables_mod.cell_text(cell) for cell in row] for row in table.extract()]
        rows = [row for row in rows if any(row)]
        if rows:
            result = tables_mod.Table(index=first_index + len(tables), rows=rows,
                                      header=len(rows) > 1 and tables_mod.has_header(rows[0], rows[1:]))
            tables.append(result)
            parts.append("\n".join(result.lines()))
        y = max(y, t_bottom)
    if y < bottom:
        parts.append(page.crop((x0, y, x1, bottom), strict=False).extract_text() or "")
    return "\n".join(p.strip() for p in parts if p.strip()), tables


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
    table_count = 0

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
            table = _docx_table(Table(child, document), table_count)
            table_count += 1
            lines.extend(table.lines())
            pages[-1].tables.append(table)
    pages[-1].text = "\n".join(lines).strip()
    pages = [p for p in pages if p.text or p.number == 1]
    for i, page in enumerate(pages, start=1):
        page.number = i
    core = document.core_properties
    info = {k: str(getattr(core, k)) for k in ("title", "author", "created", "modified") if getattr(core, k, None)}
    return DocumentExtract(
        format="docx",
        pages=pages,
        metadata={"pages": len(pages), "tables": table_count, "info": info},
    )


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_table(table, index: int) -> tables_mod.Table:
    """A DOCX table as rows of cell texts; a cell spanning columns counts once. The first row is
    a header when Word marks it as one (repeat as header row) or when it looks like one."""
    rows: list[list[str]] = []
    marked = False
    for number, row in enumerate(table.rows):
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(tables_mod.cell_text(cell.text))
        rows.append(cells)
        if number == 0:
            tr_pr = row._tr.trPr
            marked = tr_pr is not None and tr_pr.find(_W + "tblHeader") is not None
    header = bool(rows) and len(rows) > 1 and (marked or tables_mod.has_header(rows[0], rows[1:]))
    return tables_mod.Table(index=index, rows=rows, header=header)


def extract_pptx(path: Path) -> DocumentExtract:
    """One page per slide: its title, the text of its shapes (groups included) in reading order,
    its tables (one line per row) and its speaker notes. Raises InvalidObjectError."""
    import pptx
    from pptx.exc import PackageNotFoundError

    tables_mod.check_zip_size(path, "PPTX")
    try:
        presentation = pptx.Presentation(str(path))
        slides = list(presentation.slides)
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise InvalidObjectError(f"corrupt PPTX: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - lxml / zipfile raise many types for damaged files
        raise InvalidObjectError(f"corrupt PPTX: {type(exc).__name__}: {exc}") from exc
    if not slides:
        raise InvalidObjectError("the PPTX has no slides")
    if len(slides) > MAX_PAGES:
        raise InvalidObjectError(f"the PPTX has {len(slides)} slides, above the limit of {MAX_PAGES}")
    pages: list[Page] = []
    table_count = 0
    notes_slides: list[int] = []
    for number, slide in enumerate(slides, start=1):
        page = Page(number=number, text="")
        lines: list[str] = []
        try:
            title = slide.shapes.title
            if title is not None and title.has_text_frame and title.text_frame.text.strip():
                lines.append(title.text_frame.text.strip())
            for shape in _shapes(slide.shapes):
                if title is not None and shape.shape_id == title.shape_id:
                    continue
                if getattr(shape, "has_table", False) and shape.has_table:
                    rows = [[tables_mod.cell_text(cell.text) for cell in row.cells] for row in shape.table.rows]
                    table = tables_mod.Table(table_count, rows, header=len(rows) > 1 and (
                        shape.table.first_row or tables_mod.has_header(rows[0], rows[1:])))
                    table_count += 1
                    lines.extend(table.lines())
                    page.tables.append(table)
                elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                    text = shape.text_frame.text.strip()
                    if text:
                        lines.append(text)
            if slide.has_notes_slide:
                notes_frame = slide.notes_slide.notes_text_frame
                notes = notes_frame.text.strip() if notes_frame is not None else ""
                if notes:
                    lines.append(f"Speaker notes: {notes}")
                    notes_slides.append(number)
        except Exception as exc:  # noqa: BLE001 - a damaged slide part surfaces only while it is read
            raise InvalidObjectError(f"corrupt PPTX slide {number}: {type(exc).__name__}: {exc}") from exc
        page.text = "\n".join(lines).replace("\x0b", "\n")  # a vertical tab is PowerPoint's line break
        pages.append(page)
    core = presentation.core_properties
    info = {k: str(getattr(core, k)) for k in ("title", "author", "created", "modified") if getattr(core, k, None)}
    return DocumentExtract(
        format="pptx",
        pages=pages,
        metadata={"pages": len(pages), "slides": len(pages), "tables": table_count, "notes_slides": notes_slides,
                  "info": info},
    )


def _shapes(shapes):
    """Shapes in reading order (top to bottom, then left to right), groups opened."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    flat = []
    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            flat.extend(_shapes(shape.shapes))
        else:
            flat.append(shape)
    return sorted(flat, key=lambda s: ((s.top or 0), (s.left or 0)))
