"""RTF as a paged document.

striprtf (https://github.com/joshy/striprtf, pure Python) turns the control words into text
(`\\par` lines, `\\'hh` and `\\u` characters in the document's code page); `\\page` breaks number
the pages. RTF tables come out as text (striprtf keeps no cell structure).
"""
from __future__ import annotations

import re
from pathlib import Path

from functions.common.errors import InvalidObjectError
from functions.processing.formats.document import MAX_PAGES, Document, Page

MAX_RTF_BYTES = 32 * 1024 * 1024  # striprtf works through regular expressions over the whole text
_PAGE_BREAK = re.compile(r"\\page(?![A-Za-z])")  # the control word \page, not \pagebb or \pgwsxn


def extract_rtf(path: Path) -> Document:
    """The text of an RTF document, split into pages at `\\page`. Raises InvalidObjectError for
    a file that is not RTF, one cut before its last group closes, or one above MAX_RTF_BYTES."""
    from striprtf.striprtf import rtf_to_text

    size = path.stat().st_size
    if size > MAX_RTF_BYTES:
        raise InvalidObjectError(f"the RTF file is {size} bytes, above the limit of {MAX_RTF_BYTES}")
    raw = path.read_bytes()
    if not raw.lstrip().startswith(b"{\\rtf"):
        raise InvalidObjectError("not an RTF document: it does not start with {\\rtf")
    open_groups = _open_groups(raw)
    if open_groups:
        raise InvalidObjectError(f"corrupt or truncated RTF: {open_groups} group(s) never closed")
    # RTF is 7-bit text; 8-bit bytes outside escapes are read as the default ANSI code page.
    marked = _PAGE_BREAK.sub(lambda _: "\\par \f\\par ", raw.decode("latin-1"))
    try:
        text = rtf_to_text(marked, encoding=_codepage(raw), errors="replace")
    except Exception as exc:  # noqa: BLE001 - a regex-based reader: anything it raises is a bad file
        raise InvalidObjectError(f"corrupt RTF: {type(exc).__name__}: {exc}") from exc
    texts = text.split("\f")
    if len(texts) > MAX_PAGES:
        raise InvalidObjectError(f"the RTF document has {len(texts)} pages, above the limit of {MAX_PAGES}")
    pages = [Page(number=i, text=t.strip()) for i, t in enumerate(texts, start=1)]
    pages = [p for p in pages if p.text] or [Page(number=1, text="")]
    for i, page in enumerate(pages, start=1):
        page.number = i
    if not any(p.text for p in pages):
        raise InvalidObjectError("the RTF document holds no text")
    return Document(format="rtf", pages=pages, metadata={"pages": len(pages)})


def _open_groups(raw: bytes) -> int:
    """Groups opened with `{` and never closed (escaped braces `\\{` `\\}` do not count)."""
    depth = 0
    escaped = False
    for byte in raw:
        if escaped:
            escaped = False
        elif byte == 0x5C:  # backslash
            escaped = True
        elif byte == 0x7B:
            depth += 1
        elif byte == 0x7D:
            depth -= 1
    return max(depth, 0)


def _codepage(raw: bytes) -> str:
    found = re.search(rb"\\ansicpg(\d+)", raw[:4096])
    return f"cp{int(found.group(1))}" if found else "cp1252"
