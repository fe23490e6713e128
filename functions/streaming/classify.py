"""Which modality an object is, from its key's extension and (optionally) its content type.

This is the uploader's claim only: `extract` sniffs the bytes and refuses a lie. Anything
we cannot place is "unsupported", which still travels through the state machine so that
it ends as a failure row with a reason instead of disappearing.
"""
from __future__ import annotations

import posixpath
from typing import Optional

from functions.common.constants import UNSUPPORTED
from functions.processing.formats import registry

# Extensions and exact MIME types come from the format registry; a content type's top-level
# type decides for the rest.
EXTENSIONS = registry.MODALITY_BY_EXTENSION
_TOP_LEVEL: dict[str, str] = {"image": "image", "video": "video", "audio": "audio", "text": "text"}
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
    mime = registry.mime_type(content_type)
    if mime in _UNINFORMATIVE:
        return None
    if mime in registry.MODALITY_BY_MIME:
        return registry.MODALITY_BY_MIME[mime]
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
