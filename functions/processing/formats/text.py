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
# UTF-16 without a byte-order mark (RFC 2781 allows it; Windows tools write it) is told from
# binary by where its NULs are: text in Latin, Greek or Cyrillic script has a NUL in the high
# byte of most code units and almost never in the low byte. Scripts whose code units have no
# NUL byte (CJK) cannot be told apart from binary this way and stay refused.
_WIDE_SAMPLE = 4096
_WIDE_MIN_UNITS = 4
_WIDE_HIGH_NULS = 0.3  # at least this share of the code units has a NUL high byte
_WIDE_LOW_NULS = 0.02  # at most this share has a NUL low byte (U+0000, U+0100, ... are rare in text)
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
    """Decode bytes of unknown encoding: a byte-order mark decides, then the NUL pattern of UTF-16
    without one (utf16_without_bom), then valid UTF-8 (which
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
    wide = utf16_without_bom(data)
    if wide is not None:
        return DecodedText(_decode_wide(data, wide, 0), wide)
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


def utf16_without_bom(data: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" when `data` (no byte-order mark) reads as UTF-16 by the
    position of its NUL bytes and decodes as such; None otherwise."""
    sample = data[:_WIDE_SAMPLE]
    sample = sample[:len(sample) - len(sample) % 2]
    units = len(sample) // 2
    if units < _WIDE_MIN_UNITS or b"\x00" not in sample:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd >= _WIDE_HIGH_NULS * units and even <= _WIDE_LOW_NULS * units:
        codec = "utf-16-le"
    elif even >= _WIDE_HIGH_NULS * units and odd <= _WIDE_LOW_NULS * units:
        codec = "utf-16-be"
    else:
        return None
    text = sample.decode(codec, errors="replace")
    # A sample cut inside a surrogate pair ends in one replacement character; more is not text.
    if text[:-1].count("\ufffd") or len(_CONTROL.findall(text)) > 0.01 * len(text):
        return None
    return codec


def wide_text_codec(data: bytes) -> tuple[int, str] | None:
    """(bytes to skip, codec) of UTF-16 or UTF-32 text, with a byte-order mark or UTF-16 without
    one; None for anything else (UTF-8 with a mark included: it is ASCII-compatible)."""
    bom = byte_order_mark(data)
    if bom is not None:
        return None if bom[1] == "utf-8-sig" else (len(bom[0]), bom[1])
    codec = utf16_without_bom(data)
    return (0, codec) if codec is not None else None


def as_utf8(data: bytes) -> bytes:
    """UTF-16/UTF-32 text (wide_text_codec) re-encoded as UTF-8, so that byte-oriented parsers
    (the e-mail package, header checks) read it; any other bytes unchanged."""
    wide = wide_text_codec(data)
    if wide is None:
        return data
    skip, codec = wide
    body = data[skip:]
    unit = 4 if "32" in codec else 2
    return body[:len(body) - len(body) % unit].decode(codec, errors="replace").encode("utf-8")


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
