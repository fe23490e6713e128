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
    """Paragraphs and tables in body order (content controls opened), split into pages at page
    breaks; the text of the headers and footers (each distinct one once) before the first page's
    body and after the last page's. A table inside a table cell is a table of its own, its row
    lines after its parent's. XML comments and processing instructions are skipped.
    Raises InvalidObjectError for a damaged file."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
        headers, footers = _docx_headers_footers(document)
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise InvalidObjectError(f"corrupt DOCX: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - lxml / zipfile raise many types for damaged files
        raise InvalidObjectError(f"corrupt DOCX: {type(exc).__name__}: {exc}") from exc
    pages: list[Page] = [Page(number=1, text="")]
    lines: list[str] = list(headers)
    found: list[tables_mod.Table] = []

    def new_page() -> None:
        pages[-1].text = "\n".join(lines).strip()
        lines.clear()
        pages.append(Page(number=len(pages) + 1, text=""))

    for kind, element in _docx_blocks(document.element.body):
        if kind == "p":
            text_parts: list[str] = []
            for name, node in _docx_runs(element):
                if name == "break":
                    if text_parts:
                        lines.append("".join(text_parts))
                        text_parts = []
                    if lines or pages[-1].tables:
                        new_page()
                else:
                    text_parts.append(node)
            if text_parts:
                lines.append("".join(text_parts))
        else:
            for table in _docx_tables(element, len(found)):
                found.append(table)
                lines.extend(table.lines())
                pages[-1].tables.append(table)
    lines.extend(footers)
    pages[-1].text = "\n".join(lines).strip()
    pages = [p for p in pages if p.text or p.number == 1]
    for i, page in enumerate(pages, start=1):
        page.number = i
    core = document.core_properties
    info = {k: str(getattr(core, k)) for k in ("title", "author", "created", "modified") if getattr(core, k, None)}
    return Document(
        format="docx",
        pages=pages,
        metadata={"pages": len(pages), "tables": len(found), "headers": len(headers), "footers": len(footers),
                  "info": info},
    )


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _local(node) -> str | None:
    """An element's tag without its namespace; None for comments and processing instructions
    (lxml gives them a function as their tag)."""
    tag = node.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else None


def _docx_blocks(container):
    """("p" | "tbl", element) for the block-level content of a body, cell, header or footer in
    order; content controls (w:sdt) and custom XML wrappers are opened."""
    for child in container.iterchildren():
        name = _local(child)
        if name in ("p", "tbl"):
            yield name, child
        elif name in ("sdt", "customXml"):
            content = child.find(_W + "sdtContent") if name == "sdt" else child
            if content is not None:
                yield from _docx_blocks(content)


def _docx_runs(paragraph):
    """("text", str) pieces of a paragraph and ("break", None) at each page break."""
    for node in paragraph.iter():
        name = _local(node)
        if name == "t" and node.text:
            yield "text", node.text
        elif name == "tab":
            yield "text", "\t"
        elif (name == "br" and node.get(_W + "type") == "page") or name == "lastRenderedPageBreak":
            yield "break", None
        elif name in ("br", "cr"):  # a line break inside the paragraph
            yield "text", "\n"


def _paragraph_text(paragraph) -> str:
    return "".join(text for kind, text in _docx_runs(paragraph) if kind == "text")


def _docx_tables(tbl, first_index: int) -> list[tables_mod.Table]:
    """A DOCX table as rows of cell texts, then the tables nested in its cells (depth first), each
    a Table of its own. A cell spanning columns counts once; a cell's text is its own paragraphs.
    The first row is a header when Word marks it as one (repeat as header row) or when it looks
    like one."""
    rows: list[list[str]] = []
    nested: list = []
    marked = False
    for number, tr in enumerate(r for r in tbl.iterchildren() if _local(r) == "tr"):
        cells: list[str] = []
        for tc in (c for c in tr.iterchildren() if _local(c) == "tc"):
            texts: list[str] = []
            for kind, element in _docx_blocks(tc):
                if kind == "p":
                    texts.append(_paragraph_text(element))
                else:
                    nested.append(element)
            cells.append(tables_mod.cell_text("\n".join(texts)))
        if number == 0:
            tr_pr = tr.find(_W + "trPr")
            marked = tr_pr is not None and tr_pr.find(_W + "tblHeader") is not None
        if any(cells):
            rows.append(cells)
    header = len(rows) > 1 and (marked or tables_mod.has_header(rows[0], rows[1:]))
    result = [tables_mod.Table(index=first_index, rows=rows, header=header)]
    for element in nested:
        result.extend(_docx_tables(element, first_index + len(result)))
    return result


def _docx_headers_footers(document) -> tuple[list[str], list[str]]:
    """The text lines of the document's headers and of its footers (default, first-page and
    even-page ones of every section), each distinct part once, tables as row lines."""
    seen: set[str] = set()
    found: dict[str, list[str]] = {"header": [], "footer": []}
    for section in document.sections:
        for kind in ("header", "footer"):
            for variant in ("", "first_page_", "even_page_"):
                part = getattr(section, f"{variant}{kind}")
                if part.is_linked_to_previous:
                    continue  # no part of its own: the previous section's (or none)
                name = str(part.part.partname)
                if name in seen:
                    continue
                seen.add(name)
                for block, element in _docx_blocks(part._element):
                    if block == "p":
                        text = _paragraph_text(element).strip()
                        if text:
                            found[kind].append(text)
                    else:
                        for table in _docx_tables(element, 0):
                            found[kind].extend(table.lines())
    return found["header"], found["footer"]


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
