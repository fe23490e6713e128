"""The one table of file formats: what each is called, which modality it belongs to, the
extensions and MIME types that claim it, how detection recognises it and which reader reads it.

Read by classification (functions/streaming/classify.py: a key's extension or content type ->
modality), detection (detect.py: what the bytes really are, and which formats a modality
accepts), extraction (functions/processing/extract/: which reader, which extractor) and a test
that holds the README's table of formats to it (tests/unit/processing/test_format_registry.py).
Adding a format means its reader and its row here, nothing else.

Data only, no imports beyond the standard library: the forwarder and the Airflow workers
classify keys with it and carry none of the readers' libraries (a row names its reader as
"module:function" in this package, imported when extract first needs it).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# How extract reads a document format (functions/processing/extract/document.py).
PAGES = "pages"  # the reader returns a Document of pages (text, tables, scanned images)
SHEETS = "sheets"  # rows of sheets, chunked as tables (extract/sheets.py)
MESSAGE = "message"  # an e-mail message: one page, its attachments written back (extract/email.py)


@dataclass(frozen=True)
class Format:
    name: str  # what detection reports and objects.detected_format stores
    modality: str  # image | video | audio | text | document
    label: str  # how the README's table of formats names it
    description: str  # how a refusal names it ("the content is a DOCX document")
    extensions: tuple[str, ...] = ()  # lower case, with the dot
    mime_types: tuple[str, ...] = ()  # the first is the canonical one; the rest are aliases seen in the wild
    # "module:function" in functions.processing.formats, taking the file's path first; None for
    # formats extract decodes as text first (text, HTML, CSV) and for media (extract/audio.py, video.py)
    reader: str | None = None
    shape: str = PAGES  # documents only: how extract reads it
    zip_part: str | None = None  # Office Open XML: the package part that marks it (detect.py)

    def read(self) -> Callable[..., Any]:
        """The reader function (imported on first use)."""
        if self.reader is None:
            raise LookupError(f"format {self.name!r} has no reader")
        module, _, function = self.reader.partition(":")
        return getattr(importlib.import_module(f"functions.processing.formats.{module}"), function)


_IMAGE = "image:extract_image"
# Source code and plain-text formats read as plain text ("ts" is not one: it is also an MPEG
# transport stream; its content type decides).
_TEXT_EXTENSIONS = (
    ".txt", ".json", ".log", ".rst", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf",
    ".xml", ".jsonl", ".ndjson", ".tex", ".adoc", ".srt", ".vtt",
    ".py", ".js", ".mjs", ".jsx", ".tsx", ".java", ".kt", ".scala", ".go", ".rs", ".c", ".h", ".cc", ".cpp",
    ".hpp", ".cs", ".rb", ".php", ".swift", ".sh", ".bash", ".sql", ".r", ".lua", ".pl", ".css", ".scss",
)

FORMATS: tuple[Format, ...] = (
    # -- image: decoded by Pillow (formats/image.py)
    Format("jpeg", "image", "JPEG", "a JPEG image", (".jpg", ".jpeg"), ("image/jpeg",), _IMAGE),
    Format("png", "image", "PNG", "a PNG image", (".png",), ("image/png",), _IMAGE),
    Format("gif", "image", "GIF", "a GIF image", (".gif",), ("image/gif",), _IMAGE),
    Format("webp", "image", "WebP", "a WebP image", (".webp",), ("image/webp",), _IMAGE),
    Format("tiff", "image", "TIFF", "a TIFF image", (".tif", ".tiff"), ("image/tiff",), _IMAGE),
    Format("bmp", "image", "BMP", "a BMP image", (".bmp",), ("image/bmp", "image/x-ms-bmp"), _IMAGE),
    # -- video and audio: containers FFmpeg reads through PyAV (formats/media.py); detection
    # calls every one of them "media", and the key's claim says whether the soundtrack or the
    # pictures are wanted.
    Format("mp4", "video", "MP4", "an MPEG-4 video", (".mp4", ".m4v"), ("video/mp4",)),
    Format("mov", "video", "MOV", "a QuickTime movie", (".mov",), ("video/quicktime",)),
    Format("matroska", "video", "Matroska", "a Matroska video", (".mkv",), ("video/x-matroska", "application/x-matroska")),
    Format("webm", "video", "WebM", "a WebM video", (".webm",), ("video/webm",)),
    Format("avi", "video", "AVI", "an AVI video", (".avi",), ("video/x-msvideo", "video/avi")),
    Format("mpeg", "video", "MPEG program", "an MPEG program stream", (".mpeg", ".mpg"), ("video/mpeg", "video/dvd")),
    Format("mpegts", "video", "transport", "an MPEG transport stream", (), ("video/mp2t",)),
    Format("mp3", "audio", "MP3", "an MP3 file", (".mp3",), ("audio/mpeg",)),
    Format("wav", "audio", "WAV", "a WAV file", (".wav",), ("audio/wav", "audio/wave", "audio/x-wav")),
    Format("flac", "audio", "FLAC", "a FLAC file", (".flac",), ("audio/flac",)),
    Format("ogg", "audio", "Ogg", "an Ogg file", (".ogg", ".oga", ".opus"), ("audio/ogg", "audio/x-opus+ogg", "application/ogg")),
    Format("aac", "audio", "AAC", "an AAC file", (".aac",), ("audio/aac",)),
    Format("m4a", "audio", "M4A", "an MPEG-4 audio file", (".m4a",), ("audio/mp4", "audio/x-m4a")),
    # -- text: decoded and normalised (formats/text.py), HTML read for its visible text (formats/html.py),
    # Markdown with its tables (formats/markdown.py)
    Format("text", "text", "plain text", "plain text", _TEXT_EXTENSIONS,
           ("text/plain", "application/json", "application/x-ndjson", "application/xml", "application/yaml",
            "application/x-yaml", "application/toml", "application/javascript", "application/x-sh", "application/sql")),
    Format("html", "text", "HTML", "an HTML document", (".html", ".htm", ".xhtml"), ("text/html", "application/xhtml+xml")),
    # Markdown is plain text by its bytes; the claim decides that its pipe tables are read as
    # tables (formats/markdown.py).
    Format("markdown", "text", "Markdown", "a Markdown document", (".md", ".markdown"),
           ("text/markdown", "text/x-markdown")),
    # -- document
    Format("pdf", "document", "PDF", "a PDF document", (".pdf",), ("application/pdf",), "pdf:extract_pdf"),
    Format("docx", "document", "DOCX", "a DOCX document", (".docx",),
           ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",), "office:extract_docx",
           zip_part="word/document.xml"),
    Format("pptx", "document", "PPTX", "a PPTX presentation", (".pptx",),
           ("application/vnd.openxmlformats-officedocument.presentationml.presentation",), "office:extract_pptx",
           zip_part="ppt/presentation.xml"),
    Format("xlsx", "document", "XLSX", "an XLSX workbook", (".xlsx",),
           ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",), "tables:read_xlsx", SHEETS,
           zip_part="xl/workbook.xml"),
    # CSV and TSV have no signature: text is read as a table when the uploader calls it one.
    Format("csv", "document", "CSV", "CSV text", (".csv", ".tsv"),
           ("text/csv", "text/tab-separated-values", "application/csv"), None, SHEETS),
    # E-mail has no signature either: text starting with a header line that the uploader calls a message.
    Format("eml", "document", "EML", "an e-mail message (RFC 822)", (".eml",), ("message/rfc822",), "eml:read_eml",
           MESSAGE),
    Format("rtf", "document", "RTF", "an RTF document", (".rtf",), ("application/rtf", "text/rtf"), "rtf:extract_rtf"),
    # OpenDocument packages name their kind in their "mimetype" member, which is the MIME type.
    Format("odt", "document", "ODT", "an OpenDocument text", (".odt",), ("application/vnd.oasis.opendocument.text",),
           "opendocument:extract_odt"),
    Format("ods", "document", "ODS", "an OpenDocument spreadsheet", (".ods",),
           ("application/vnd.oasis.opendocument.spreadsheet",), "opendocument:extract_ods"),
)

BY_NAME: dict[str, Format] = {f.name: f for f in FORMATS}
MODALITY_BY_EXTENSION: dict[str, str] = {ext: f.modality for f in FORMATS for ext in f.extensions}
MODALITY_BY_MIME: dict[str, str] = {mime: f.modality for f in FORMATS for mime in f.mime_types}


def named(modality: str) -> tuple[Format, ...]:
    return tuple(f for f in FORMATS if f.modality == modality)


def mime_type(content_type: str | None) -> str:
    """The bare, lower-case MIME type of a Content-Type ('' when there is none): parameters such
    as `; charset=utf-8` dropped."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def claims(fmt: Format, key: str, content_type: str | None) -> bool:
    """Whether the object's key or content type says it is `fmt` (an uploader's claim, never
    proof: detection decides what the bytes are)."""
    return (bool(fmt.extensions) and key.lower().endswith(fmt.extensions)) or mime_type(content_type) in fmt.mime_types
