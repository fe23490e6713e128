"""Which modality an object is, from its key's extension and (optionally) its content type.

This is the uploader's claim only: `extract` sniffs the bytes and refuses a lie. Anything
we cannot place is "unsupported", which still travels through the state machine so that
it ends as a failure row with a reason instead of disappearing.
"""
from __future__ import annotations

import posixpath
from typing import Optional

from functions.common.constants import UNSUPPORTED

EXTENSIONS: dict[str, str] = {
    # image
    ".jpg": "image", ".jpeg": "image", ".png": "image", ".gif": "image", ".webp": "image",
    ".bmp": "image", ".tif": "image", ".tiff": "image",
    # video
    ".mp4": "video", ".m4v": "video", ".mov": "video", ".mkv": "video", ".webm": "video",
    ".avi": "video", ".mpeg": "video", ".mpg": "video",
    # audio
    ".mp3": "audio", ".wav": "audio", ".flac": "audio", ".ogg": "audio", ".oga": "audio",
    ".m4a": "audio", ".aac": "audio", ".opus": "audio",
    # text
    ".txt": "text", ".md": "text", ".markdown": "text", ".json": "text",
    ".log": "text", ".rst": "text", ".html": "text", ".htm": "text", ".xhtml": "text",
    ".yaml": "text", ".yml": "text", ".toml": "text", ".ini": "text", ".cfg": "text", ".conf": "text",
    ".xml": "text", ".jsonl": "text", ".ndjson": "text", ".tex": "text", ".adoc": "text",
    ".srt": "text", ".vtt": "text",
    # source code (not ".ts": it is also an MPEG transport stream; its content type decides)
    ".py": "text", ".js": "text", ".mjs": "text", ".jsx": "text", ".tsx": "text", ".java": "text",
    ".kt": "text", ".scala": "text", ".go": "text", ".rs": "text", ".c": "text", ".h": "text",
    ".cc": "text", ".cpp": "text", ".hpp": "text", ".cs": "text", ".rb": "text", ".php": "text",
    ".swift": "text", ".sh": "text", ".bash": "text", ".sql": "text", ".r": "text", ".lua": "text",
    ".pl": "text", ".css": "text", ".scss": "text",
    # document (CSV and TSV too: they are read as tables, their header cells labelling each row;
    # an e-mail message is a document whose attachments become objects of their own)
    ".pdf": "document", ".docx": "document", ".xlsx": "document", ".pptx": "document",
    ".csv": "document", ".tsv": "document", ".eml": "document", ".rtf": "document",
    ".odt": "document", ".ods": "document",
}

# Content types whose top-level type decides; the rest are looked up exactly.
_TOP_LEVEL: dict[str, str] = {"image": "image", "video": "video", "audio": "audio", "text": "text"}
_EXACT: dict[str, str] = {
    "application/pdf": "document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "document",
    "text/csv": "document",
    "application/csv": "document",
    "text/tab-separated-values": "document",
    "message/rfc822": "document",
    "application/rtf": "document",
    "text/rtf": "document",
    "application/vnd.oasis.opendocument.text": "document",
    "application/vnd.oasis.opendocument.spreadsheet": "document",
    "application/json": "text",
    "application/x-ndjson": "text",
    "application/xml": "text",
    "application/xhtml+xml": "text",
    "application/yaml": "text",
    "application/x-yaml": "text",
    "application/toml": "text",
    "application/javascript": "text",
    "application/x-sh": "text",
    "application/sql": "text",
}
# Structured syntax suffixes (RFC 6839): application/ld+json, application/atom+xml, ... are text.
_TEXT_SUFFIXES = ("+json", "+xml", "+yaml")
# Content types that say nothing about the object (S3 defaults, generic uploads).
_UNINFORMATIVE = {"", "application/octet-stream", "binary/octet-stream", "application/x-directory"}


def extension(key: str) -> str:
    """The lower-case extension of the key's last path segment ('' when there is none)."""
    name = posixpath.basename(key)
    if name.startswith(".") and name.count(".") == 1:  # ".bashrc" is a name, not an extension
        return ""
    return posixpath.splitext(name)[1].lower()


def from_content_type(content_type: Optional[str]) -> Optional[str]:
    """The modality a MIME type names, or None when it names none we support."""
    if not content_type:
        return None
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in _UNINFORMATIVE:
        return None
    if mime in _EXACT:
        return _EXACT[mime]
    top = mime.split("/", 1)[0]
    if top in _TOP_LEVEL:
        return _TOP_LEVEL[top]
    return "text" if top == "application" and mime.endswith(_TEXT_SUFFIXES) else None


def classify(key: str, content_type: Optional[str] = None) -> str:
    """Modality of an object: the extension decides; the content type breaks the tie when the
    extension is missing or unknown; otherwise "unsupported"."""
    by_extension = EXTENSIONS.get(extension(key))
    if by_extension is not None:
        return by_extension
    return from_content_type(content_type) or UNSUPPORTED


def needs_content_type(key: str) -> bool:
    """True when the extension alone cannot decide (worth a HeadObject for the content type)."""
    return extension(key) not in EXTENSIONS
