"""Text: encoding detection and normalisation (chunking is functions/processing/chunking/text.py)."""
from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

from functions.common.errors import InvalidObjectError

# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_PREFERRED = ("cp1252", "latin_1", "iso8859_15")
_SAMPLE_BYTES = 256 * 1024  # enough for charset-normalizer; it never needs the whole file
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_BLANKS = re.compile(r"\n{3,}")
_WORD = re.compile(r"\S+")
_TRAILING = re.compile(r"[ \t]+\n")


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str


def decode(data: bytes, declared: str | None = None) -> DecodedText:
    """Decode bytes of unknown encoding: a byte-order mark decides, then valid UTF-8 (which
    text in a legacy code page almost never is), then `declared` (an encoding the file names
    itself, such as an HTML <meta charset>), then charset-normalizer's guess.

    UTF-16 and UTF-32 (which only a byte-order mark tells apart from binary) are decoded
    strictly. Raises InvalidObjectError for empty or binary data, and for UTF-16/UTF-32 that is
    cut inside a code unit or holds invalid code units (a lone surrogate).
    """
    if not data.strip():
        raise InvalidObjectError("the text file is empty")
    bom = byte_order_mark(data)
    if bom is not None:
        mark, name = bom
        if name == "utf-8-sig":
            return DecodedText(data.decode(name, errors="replace"), name)
        return DecodedText(_decode_wide(data[len(mark):], name, len(mark)), name)
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    codec = _codec(declared) if declared else None
    if codec is not None:
        try:
            return DecodedText(data.decode(codec), codec)
        except UnicodeDecodeError:
            pass  # the declaration is wrong: judge the bytes
    from charset_normalizer import from_bytes

    results = list(from_bytes(data[:_SAMPLE_BYTES]))
    if not results:
        raise InvalidObjectError("the text file's encoding cannot be detected (binary data?)")
    best = results[0]
    # Short samples fit several single-byte code pages equally well (same chaos); prefer the
    # most widespread Western one then, instead of a language guess from a few words.
    for candidate in results:
        if candidate.encoding in _PREFERRED and candidate.chaos <= best.chaos:
            best = candidate
            break
    return DecodedText(data.decode(best.encoding, errors="replace"), best.encoding)


def byte_order_mark(data: bytes) -> tuple[bytes, str] | None:
    """The (mark, Python codec) of a Unicode byte-order mark `data` starts with, or None."""
    for bom, codec in BOMS:
        if data.startswith(bom):
            return bom, codec
    return None


def _decode_wide(body: bytes, codec: str, offset: int) -> str:
    label = codec.upper().replace("-LE", " LE").replace("-BE", " BE")
    unit = 4 if "32" in codec else 2
    if len(body) % unit:
        raise InvalidObjectError(
            f"the {label} text is truncated: it ends inside a {unit}-byte code unit "
            f"({len(body) + offset} bytes with the byte-order mark)"
        )
    try:
        return body.decode(codec)
    except UnicodeDecodeError as exc:
        raise InvalidObjectError(f"the {label} text is invalid at byte {exc.start + offset}: {exc.reason}") from exc


def _codec(name: str) -> str | None:
    """Python's codec for an encoding label, or None. As in the WHATWG Encoding standard
    (https://encoding.spec.whatwg.org/#names-and-labels), Latin-1 and ASCII labels mean windows-1252."""
    try:
        codec = codecs.lookup(name.strip()).name
    except LookupError:
        return None
    return "cp1252" if codec in ("latin-1", "iso8859-1", "ascii") else codec


def count_words(text: str) -> int:
    """Words separated by whitespace (without building the list `text.split()` would)."""
    return sum(1 for _ in _WORD.finditer(text))


def normalise(text: str) -> str:
    """NFC, Unix newlines, no control characters, no trailing spaces, at most one blank line."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text.replace("\x0c", "\n"))
    text = _TRAILING.sub("\n", text)
    return _BLANKS.sub("\n\n", text).strip()
