"""Office Open XML: DOCX (python-docx) and PPTX (python-pptx) as paged documents.

DOCX has no fixed pages; explicit page breaks (and the page breaks Word rendered last time it
saved) number the pages. A PPTX "page" is a slide: its title, text, tables and speaker notes.
Tables become one line per row, `Item: Lamp; Cost: 300` when the first row is a header (see
tables.py), and are kept as rows of cells on the page.
"""
from __future__ import annotations

from pathlib import Path

from functions.common.errors import InvalidObjectError
from functions.processing.formats import tables as tables_mod
from functions.processing.formats.document import MAX_PAGES, Document, Page


def extract_docx(path: Path) -> Document:
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
    return Document(
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


def extract_pptx(path: Path) -> Document:
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
    return Document(
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
