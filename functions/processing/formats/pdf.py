"""PDF: page-aware text (pypdf), tables (pdfplumber) and the images of scanned pages.

A page with (almost) no text layer is treated as scanned: its embedded images are handed back
so that the caller can OCR them. Tables are found by pdfplumber's table finder (ruled tables:
the lines drawn around and between cells, https://github.com/jsvine/pdfplumber#extracting-tables);
a page with tables is then read by pdfplumber, the text around each table in order and each
table as its row lines (tables.py), while pages without tables keep pypdf's text.

pdfplumber joins characters into a word when the gap between them is under `x_tolerance`
(3 points by default): in tightly set text (scientific papers) that runs the words of a line
together ("Layoutsofmodernscientificdocuments"); a gap relative to the font size
(TEXT_SETTINGS) keeps them apart.

The images of a scanned page are turned upright before OCR: as the page shows them, after the
rotation or mirroring of their placement (the `cm` matrix in force where they are drawn) and
the page's /Rotate (PDF 32000-1:2008, 8.3.4 and 7.7.3.3).
"""
from __future__ import annotations

import io
import logging
import math
import re
from collections import Counter
from pathlib import Path

from functions.common.errors import InvalidObjectError
from functions.processing.formats import tables as tables_mod
from functions.processing.formats.document import MAX_PAGES, Document, Page

logger = logging.getLogger(__name__)

MAX_IMAGES_PER_PAGE = 4
MAX_IMAGE_BYTES = 20 * 1024 * 1024
# pdfminer's layout analysis costs about 0.1 s a page: tables are looked for on the first pages
# only (the rest keep pypdf's text), so that a 2,000-page PDF still fits a Lambda's 15 minutes.
MAX_TABLE_PAGES = 300
# Characters closer than 0.15 of their font size are one word (pdfplumber's extract_text and
# Table.extract keyword arguments; https://github.com/jsvine/pdfplumber#extracting-text).
TEXT_SETTINGS = {"x_tolerance_ratio": 0.15}
# A table is kept as rows of cells only when its cells hold this share of the words printed in
# its box (MAX_CELL_CHARS may cut a long cell, hence not all).
MIN_CELL_COVERAGE = 0.95
_WORD = re.compile(r"\w+")


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


def extract_pdf(path: Path, first_page: int = 1, last_page: int | None = None) -> Document:
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
    return Document(format="pdf", pages=pages, metadata=metadata)


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
            parts.append(page.crop((x0, y, x1, t_top), strict=False).extract_text(**TEXT_SETTINGS) or "")
        beside = page.crop((x0, max(t_top, y), x1, max(t_bottom, y)), strict=False).filter(
            lambda obj, b=table.bbox: not (obj.get("x0", 0) >= b[0] and obj.get("x1", 0) <= b[2]
                                           and obj.get("top", 0) >= b[1] and obj.get("bottom", 0) <= b[3]))
        parts.append(beside.extract_text(**TEXT_SETTINGS) or "")
        rows = [[tables_mod.cell_text(cell) for cell in row] for row in table.extract(**TEXT_SETTINGS)]
        rows = [row for row in rows if any(row)]
        inside = page.crop(table.bbox, strict=False).extract_text(**TEXT_SETTINGS) or ""
        if not _cells_hold(rows, inside):
            # A frame drawn around text (or a grid whose cells miss some of the words within
            # it): pdfplumber finds a "table", but its cells would lose text. Kept as text.
            parts.append(inside)
        elif rows:
            result = tables_mod.Table(index=first_index + len(tables), rows=rows,
                                      header=len(rows) > 1 and tables_mod.has_header(rows[0], rows[1:]))
            tables.append(result)
            parts.append("\n".join(result.lines()))
        y = max(y, t_bottom)
    if y < bottom:
        parts.append(page.crop((x0, y, x1, bottom), strict=False).extract_text(**TEXT_SETTINGS) or "")
    # Text placed beyond the page's box (a spread cut into pages, say) is not shown, but pypdf
    # reads it on every other page: a page with tables must not lose it.
    outside = page.filter(lambda obj: obj.get("object_type") == "char" and (
        obj["x1"] <= x0 or obj["x0"] >= x1 or obj["bottom"] <= top or obj["top"] >= bottom))
    parts.append(outside.extract_text(**TEXT_SETTINGS) or "")
    return "\n".join(p.strip() for p in parts if p.strip()), tables


def _cells_hold(rows: list[list[str]], inside: str) -> bool:
    """Whether the cells hold (nearly) every word printed inside the table's box."""
    printed = Counter(_WORD.findall(inside.lower()))
    if not printed:
        return True
    held = Counter(_WORD.findall(" ".join(" ".join(row) for row in rows).lower()))
    return sum((printed & held).values()) >= MIN_CELL_COVERAGE * sum(printed.values())


def _refuse_image_bombs(page, number: int) -> None:
    """Refuse a page whose images declare more pixels than an image file may have, before
    anything decodes them (a few KB of Flate can declare gigabytes). Raises InvalidObjectError."""
    from functions.processing.formats.image import MAX_PIXELS

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
    """PNGs of the page's images (at most MAX_IMAGES_PER_PAGE), each turned as the page shows it."""
    images: list[bytes] = []
    try:
        placements = _image_placements(page)
        for image in list(page.images)[:MAX_IMAGES_PER_PAGE]:
            pil = image.image
            if pil is None or pil.width * pil.height > 64_000_000:
                continue
            name = image.name.rsplit(".", 1)[0]
            pil = upright(pil, placements.get(name), int(page.rotation or 0))
            out = io.BytesIO()
            pil.convert("RGB" if pil.mode not in ("L", "RGB") else pil.mode).save(out, "PNG")
            if out.tell() <= MAX_IMAGE_BYTES:
                images.append(out.getvalue())
    except Exception as exc:  # noqa: BLE001 - an undecodable image means no OCR, not a failure
        logger.warning("page %d: cannot read images: %s", number, exc)
    return images


_Matrix = tuple[float, float, float, float, float, float]


def _multiply(m: _Matrix, n: _Matrix) -> _Matrix:
    """m x n for PDF matrices [a b c d e f] (the new `cm` m is applied before the CTM n)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (a * a2 + b * c2, a * b2 + b * d2, c * a2 + d * c2, c * b2 + d * d2,
            e * a2 + f * c2 + e2, e * b2 + f * d2 + f2)


def _image_placements(page) -> dict[str, _Matrix]:
    """The CTM in force where each image XObject is drawn (`/Name Do`) in the page's content
    stream, by the image's name without its slash (the first drawing of each)."""
    from pypdf.generic import ContentStream

    contents = page.get_contents()
    if contents is None:
        return {}
    ctm: _Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    stack: list[_Matrix] = []
    found: dict[str, _Matrix] = {}
    for operands, operator in ContentStream(contents, page.pdf).operations:
        if operator == b"q":
            stack.append(ctm)
        elif operator == b"Q":
            ctm = stack.pop() if stack else ctm
        elif operator == b"cm" and len(operands) == 6:
            ctm = _multiply(tuple(float(x) for x in operands), ctm)  # type: ignore[arg-type]
        elif operator == b"Do" and operands:
            found.setdefault(str(operands[0]).lstrip("/"), ctm)
    return found


def upright(image, placement: _Matrix | None, page_rotation: int):
    """`image` (PIL) as the page shows it: mirrored when its placement matrix flips it, turned by
    the quarter turns of its placement and then by the page's /Rotate (degrees clockwise)."""
    from PIL import Image

    quarter_turns = 0
    if placement is not None:
        a, b, c, d = placement[:4]
        if a * d - b * c < 0:  # a reflection: the image's rows run bottom to top
            image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
            c, d = -c, -d
        # Where the image's x axis points on the page: (1, 0) upright, (0, -1) turned clockwise.
        quarter_turns = round(math.degrees(math.atan2(-b, a)) / 90) % 4
    clockwise = (quarter_turns * 90 + page_rotation) % 360
    return image.rotate(-clockwise, expand=True) if clockwise else image
