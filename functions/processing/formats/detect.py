"""What a file really is, judged by its content (magic numbers), never by name or content type.

Signatures come from puremagic (https://github.com/cdgriffith/puremagic, pure Python, so it
runs in the Lambda layer without libmagic). Our own checks stay only where they add
something puremagic does not do: byte-order marks (read before any signature, because the
UTF-16 LE mark FF FE is also a valid MPEG audio frame sync), whether a ZIP really holds a
Word document, an Excel workbook or a PowerPoint presentation (or, by its "mimetype" member, an
OpenDocument text or spreadsheet), RTF and e-mail messages among text that a document claims to
be (as_claimed_document), MPEG transport streams and MPEG-2 audio frames (which puremagic does not
know), QuickTime/ISO media atoms (puremagic matches a four-letter atom name at offset 4, which
"For free shipping" also has: the atom structure must hold), UTF-16 text without a byte-order
mark (by its NUL pattern), short signatures that are words ("caffeine ..." begins with Core
Audio's "caff"), and plain text, which has no signature at all.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import puremagic

from functions.common.errors import InvalidObjectError, UnsupportedTypeError
from functions.processing.formats import registry
from functions.processing.formats.text import as_utf8, byte_order_mark, utf16_without_bom

HEAD_BYTES = 64 * 1024

# Which content families each modality accepts: a document is accepted as any document format.
ACCEPTED: dict[str, tuple[str, ...]] = {
    "image": ("image",),
    "video": ("media",),
    "audio": ("media",),
    "text": ("text",),
    "document": tuple(f.name for f in registry.named("document")),
}
_CSV, _EML = registry.BY_NAME["csv"], registry.BY_NAME["eml"]
# OpenDocument packages: ZIP archives whose first member, "mimetype", names the kind
# (OpenDocument 1.3 part 2, section 3.3).
_ODF_KINDS = {f.mime_types[0]: f for f in (registry.BY_NAME["odt"], registry.BY_NAME["ods"])}
# Office Open XML packages are ZIP archives; the part their content types name tells them apart.
_OFFICE_PARTS = tuple(f for f in registry.FORMATS if f.zip_part)
# Images and the containers FFmpeg (PyAV) reads, by puremagic's MIME type; any other audio/* or
# video/* type is media too, named by its extension.
_IMAGES = {mime: f for f in registry.named("image") for mime in f.mime_types}
_MEDIA = {mime: f.name for modality in ("video", "audio") for f in registry.named(modality) for mime in f.mime_types}
_HEADER_LINE = re.compile(rb"^(From [^\r\n]*\r?\n)?[!-9;-~]+:[^\r\n]*\r?\n")
_RTF_START = re.compile(rb"\s*\{\\rtf")
# puremagic's signatures of two bytes (confidence 0.2: "BM", "MZ", an MPEG frame sync) also
# begin ordinary text; below this confidence, content that reads as text is text.
_STRONG = 0.3
# QuickTime / ISO base media (ISO/IEC 14496-12 section 4.2): a file is a sequence of boxes, each a
# 32-bit big-endian size (1: a 64-bit size follows the type; 0: to the end of the file) and a
# four-character type. Files start with one of these top-level boxes (QuickTime movies written
# before ftyp existed start with moov, mdat, free, skip, wide or pnot).
_TOP_ATOMS = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"junk", b"uuid", b"pict", b"udta"}
_ATOM_TYPE = re.compile(rb"[A-Za-z0-9 \xa9_-]{4}")
_MAX_ATOMS = 64

_MEDIA_EXTENSIONS = {"m4a", "m4v", "3gp", "3g2", "mkv", "mka", "webm", "ogg", "opus", "oga", "ogv", "wma", "wmv"}
_ARCHIVES = {"application/x-gzip": "gzip", "application/gzip": "gzip", "application/x-7z-compressed": "7z",
             "application/vnd.rar": "rar", "application/x-rar-compressed": "rar", "application/x-tar": "tar",
             "application/x-bzip2": "bzip2", "application/x-xz": "xz", "application/zstd": "zstd"}
# Text formats puremagic knows by their first bytes (HTML, XML, scripts): read as text.
_TEXT_MIMES = {"application/json", "application/xml", "application/javascript", "application/x-sh",
               "application/xhtml+xml", "image/svg+xml"}
_HTML_START = re.compile(rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Detected:
    family: str  # image | media | pdf | docx | xlsx | pptx | csv | text | archive | unknown
    format: str  # jpeg, png, mp4, wav, pdf, docx, xlsx, pptx, csv, text, html, zip, ...
    description: str


def sniff(head: bytes, path: Path | None = None) -> Detected:
    """Classify a file from its first bytes (and, for ZIP containers, its member names).

    Takes the head of the file (HEAD_BYTES are enough) and, optionally, the whole file's path.
    Returns a Detected; never raises for any input.
    """
    bom = byte_order_mark(head)
    if bom is not None:
        label = bom[1].replace("-sig", "").upper().replace("-LE", " LE").replace("-BE", " BE")
        return Detected("text", "text", f"{label} text (with a byte-order mark)")
    if head[:4] == b"PK\x03\x04":
        # puremagic guesses an Office document from the ZIP header alone; the member list decides.
        members = _zip_members(path) if path is not None else set()
        if members is None:
            return Detected("archive", "zip", "a truncated or damaged ZIP archive (no readable member list)")
        for office in _OFFICE_PARTS:
            if office.zip_part in members:
                return Detected(office.name, office.name, office.description)
        odf = _odf_kind(path) if path is not None and "mimetype" in members else None
        if odf is not None:
            return Detected(odf.name, odf.name, odf.description)
        return Detected("archive", "zip", "a ZIP archive")
    if _is_mpeg_ts(head):
        return Detected("media", "mpegts", "an MPEG transport stream")
    match = _best_match(head)
    # UTF-16 without a byte-order mark is text too, but a strong signature (RIFF....WAVE) still wins.
    wide = utf16_without_bom(head)
    text = looks_like_text(head) or wide is not None
    known = _known(match, head) if match is not None else None
    if known is not None and match is not None:
        if known.family == "text":
            if text:
                return known
        elif not text or (match.confidence >= _STRONG and not _a_word(match) and _atoms_hold(head, path)):
            return known  # %PDF-, GIF89a, ...: a signature that long is not a coincidence
    if text:
        if wide is not None:
            label = wide.upper().replace("-LE", " LE").replace("-BE", " BE")
            return Detected("text", "text", f"{label} text (without a byte-order mark)")
        if _HTML_START.match(head):
            return Detected("text", "html", "an HTML document")
        return Detected("text", "text", "plain text")
    if _is_mpeg_audio_frame(head):
        return Detected("media", "mp3", "an MPEG audio file")
    # Other signatures puremagic knows are often ambiguous (two bytes shared by dozens of
    # formats); naming one would mislead more than it helps.
    return Detected("unknown", "binary", "binary data of an unknown format")


def check_modality(modality: str, detected: Detected, content_type: str | None, key: str | None = None) -> None:
    """Raise when the content is not what the object's modality (and claimed type) said.

    The message names what made the claim: the key's extension and/or the content type.
    Raises UnsupportedTypeError for the unsupported modality, InvalidObjectError otherwise.
    """
    claimed = _claim(key, content_type)
    if modality not in ACCEPTED:
        raise UnsupportedTypeError(
            f"unsupported type: {claimed}; the content is {detected.description}, "
            "which the pipeline does not process"
        )
    if detected.family not in ACCEPTED[modality]:
        raise InvalidObjectError(
            f"content does not match its type: {claimed} ({modality}) but the content is "
            f"{detected.description}"
        )


def _claim(key: str | None, content_type: str | None) -> str:
    """What the uploader claimed, in words: "the extension '.txt'", "claimed 'image/jpeg'", both,
    or that nothing was claimed."""
    parts = []
    extension = Path(key).suffix if key else ""
    if extension:
        parts.append(f"the extension {extension!r}")
    if content_type:
        parts.append(f"claimed {content_type!r}")
    return " and ".join(parts) if parts else "no extension or content type"


def as_table_text(detected: Detected, key: str, content_type: str | None) -> Detected:
    """Text that the object's key or content type calls CSV/TSV, as the table format "csv";
    anything else unchanged. The claim never turns binary content into a table."""
    if detected.family != "text" or detected.format != "text":
        return detected
    if registry.claims(_CSV, key, content_type):
        return Detected(_CSV.name, _CSV.name, _CSV.description)
    return detected


def as_claimed_document(detected: Detected, head: bytes, key: str, content_type: str | None) -> Detected:
    """What a document's text content is: RTF by its `{\\rtf` start, an e-mail message when the
    key or content type calls it one and it starts with a header line (see
    looks_like_message), CSV/TSV as as_table_text says; anything else unchanged.
    The claim never turns binary content into a document."""
    if detected.family != "text" or detected.format != "text":
        return detected
    if _RTF_START.match(head):
        rtf = registry.BY_NAME["rtf"]
        return Detected(rtf.name, rtf.name, rtf.description)
    if registry.claims(_EML, key, content_type) and looks_like_message(as_utf8(head)):
        return Detected(_EML.name, _EML.name, _EML.description)
    return as_table_text(detected, key, content_type)


def looks_like_message(head: bytes) -> bool:
    """Whether bytes start like an Internet message: a header line (an mbox `From ` line may precede it)."""
    return bool(_HEADER_LINE.match(head.lstrip(b"\r\n")))


def looks_like_text(head: bytes) -> bool:
    """Whether bytes without a byte-order mark read as text in UTF-8 or an 8-bit code page."""
    if not head or b"\x00" in head:
        return False
    # Control bytes other than whitespace are rare in text in any 8-bit or UTF-8 encoding.
    controls = sum(1 for b in head if b < 0x20 and b not in (0x09, 0x0A, 0x0D, 0x0C, 0x1B))
    return controls / len(head) < 0.01


def _atoms_hold(head: bytes, path: Path | None) -> bool:
    """False when puremagic's match rests on a QuickTime/ISO media atom name at offset 4 that is
    not inside a valid atom structure (a known first atom, sizes that chain to the next atom
    header and stay within the file); True for any other match."""
    if head[4:8] not in _TOP_ATOMS:
        return True
    try:
        total = path.stat().st_size if path is not None else None
    except OSError:
        total = None
    end = total if total is not None else len(head)
    offset = 0
    for _ in range(_MAX_ATOMS):
        if offset + 8 > len(head):
            return True  # every atom seen so far chains to the next, up to the end of the head
        size, kind = int.from_bytes(head[offset:offset + 4], "big"), head[offset + 4:offset + 8]
        if (offset == 0 and kind not in _TOP_ATOMS) or not _ATOM_TYPE.fullmatch(kind):
            return False
        if size == 0:
            return True  # the last atom, to the end of the file
        if size == 1:
            if offset + 16 > len(head):
                return False
            size = int.from_bytes(head[offset + 8:offset + 16], "big")
        if size < 8 or offset + size > end:
            return False
        offset += size
        if offset == end:
            return True
    return True


def _a_word(match: puremagic.PureMagicWithConfidence) -> bool:
    """Whether the signature is a short word of letters and digits ("caff": Core Audio, "fLaC",
    "OggS", "ID3") that text may begin with ("caffeine intake ...", "ID3 tags are ..."): such
    formats put binary sizes right after it, so content that still reads as text is text."""
    sig = match.byte_match or b""
    return match.offset == 0 and len(sig) <= 4 and sig.isalnum()


def _best_match(head: bytes) -> puremagic.PureMagicWithConfidence | None:
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        return None
    return matches[0] if matches else None


def _known(match: puremagic.PureMagicWithConfidence, head: bytes) -> Detected | None:
    """Our family and format for a puremagic match, or None for a format we do not map."""
    mime = (match.mime_type or "").lower()
    ext = (match.extension or "").lstrip(".").lower()
    if mime in _IMAGES:
        return Detected("image", _IMAGES[mime].name, _IMAGES[mime].description)
    if mime == "application/pdf":
        return Detected("pdf", "pdf", "a PDF document")
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("latin-1").strip()
        return Detected("media", _MEDIA.get(mime, ext or "mp4"), f"an ISO media file (brand {brand})")
    if mime in _MEDIA or mime.startswith(("audio/", "video/")) or ext in _MEDIA_EXTENSIONS:
        fmt = _MEDIA.get(mime, ext or "media")
        return Detected("media", fmt, f"an audio/video file ({match.name.strip()})")
    if mime in _ARCHIVES:
        return Detected("archive", _ARCHIVES[mime], f"a {_ARCHIVES[mime]} archive")
    if match.name.startswith("ELF"):
        return Detected("archive", "elf", "an ELF executable")
    if mime == "text/html":
        return Detected("text", "html", "an HTML document")
    if mime.startswith("text/") or mime in _TEXT_MIMES or mime.endswith(("+xml", "+json")):
        return Detected("text", "text", f"text ({match.name.strip()})")
    return None


def _zip_members(path: Path) -> set[str] | None:
    """The member names of a ZIP archive, or None when its central directory cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive:
            return set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def _odf_kind(path: Path) -> registry.Format | None:
    """The OpenDocument format of a package we read, by its "mimetype" member."""
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.getinfo("mimetype").file_size > 200:
                return None
            mime = archive.read("mimetype").decode("ascii", "replace").strip()
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        return None
    return _ODF_KINDS.get(mime)


def _is_mpeg_ts(head: bytes) -> bool:
    # 188-byte packets, each starting with the sync byte 0x47 (ISO/IEC 13818-1).
    return head[:3] == b"\x47\x40\x00" or (head[:1] == b"\x47" and len(head) > 188 and head[188:189] == b"\x47")


def _is_mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, then a version and a layer that are not reserved."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0x03, (head[1] >> 1) & 0x03
    return version != 0x01 and layer != 0x00
