"""What a file really is, judged by its content (magic numbers), never by name or content type."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from functions.common.errors import InvalidObjectError, UnsupportedTypeError

HEAD_BYTES = 64 * 1024

# Which content families each modality accepts.
ACCEPTED: dict[str, tuple[str, ...]] = {
    "image": ("image",),
    "video": ("media",),
    "audio": ("media",),
    "text": ("text",),
    "document": ("pdf", "docx"),
}


@dataclass(frozen=True)
class Detected:
    family: str  # image | media | pdf | docx | text | archive | unknown
    format: str  # jpeg, png, mp4, wav, pdf, docx, text, zip, ...
    description: str


def sniff(head: bytes, path: Path | None = None) -> Detected:
    """Classify a file from its first bytes (and, for ZIP containers, its member names)."""
    if head.startswith(b"\xff\xd8\xff"):
        return Detected("image", "jpeg", "a JPEG image")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Detected("image", "png", "a PNG image")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Detected("image", "gif", "a GIF image")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Detected("image", "webp", "a WebP image")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Detected("image", "tiff", "a TIFF image")
    if head[:2] == b"BM" and len(head) > 14:
        return Detected("image", "bmp", "a BMP image")
    if head.startswith(b"%PDF-"):
        return Detected("pdf", "pdf", "a PDF document")
    if head[:4] == b"PK\x03\x04":
        if path is not None and _zip_has(path, "word/document.xml"):
            return Detected("docx", "docx", "a DOCX document")
        return Detected("archive", "zip", "a ZIP archive")
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("latin-1").strip()
        return Detected("media", "mp4", f"an ISO media file (brand {brand})")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Detected("media", "matroska", "a Matroska/WebM file")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Detected("media", "avi", "an AVI file")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Detected("media", "wav", "a WAV file")
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return Detected("media", "mp3", "an MPEG audio file")
    if head.startswith(b"fLaC"):
        return Detected("media", "flac", "a FLAC file")
    if head.startswith(b"OggS"):
        return Detected("media", "ogg", "an Ogg file")
    if head[:3] == b"\x47\x40\x00" or head[:1] == b"\x47" and len(head) > 188 and head[188:189] == b"\x47":
        return Detected("media", "mpegts", "an MPEG transport stream")
    if _looks_like_text(head):
        return Detected("text", "text", "plain text")
    for magic, fmt in ((b"\x1f\x8b", "gzip"), (b"7z\xbc\xaf", "7z"), (b"Rar!", "rar"), (b"\x7fELF", "elf")):
        if head.startswith(magic):
            return Detected("archive", fmt, f"a {fmt} file")
    return Detected("unknown", "binary", "binary data of an unknown format")


def check_modality(modality: str, detected: Detected, content_type: str | None) -> None:
    """Raise when the content is not what the object's modality (and claimed type) said.

    Raises UnsupportedTypeError for the unsupported modality, InvalidObjectError otherwise.
    """
    claimed = content_type or "no content type"
    if modality not in ACCEPTED:
        raise UnsupportedTypeError(
            f"unsupported type: claimed {claimed!r}; the content is {detected.description}, "
            "which the pipeline does not process"
        )
    if detected.family not in ACCEPTED[modality]:
        raise InvalidObjectError(
            f"content does not match its type: claimed {claimed!r} ({modality}) but the content is "
            f"{detected.description}"
        )


def _zip_has(path: Path, member: str) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return member in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _looks_like_text(head: bytes) -> bool:
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return True
    if not head or b"\x00" in head:
        return False
    # Control bytes other than whitespace are rare in text in any 8-bit or UTF-8 encoding.
    controls = sum(1 for b in head if b < 0x20 and b not in (0x09, 0x0A, 0x0D, 0x0C))
    return controls / len(head) < 0.01
