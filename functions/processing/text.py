"""Text: encoding detection, normalisation and chunking with overlap."""
from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

from functions.common.errors import InvalidObjectError

_PREFERRED = ("cp1252", "latin_1", "iso8859_15")
_SAMPLE_BYTES = 256 * 1024  # enough for charset-normalizer; it never needs the whole file
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_BLANKS = re.compile(r"\n{3,}")
_TRAILING = re.compile(r"[ \t]+\n")


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str


@dataclass(frozen=True)
class TextChunk:
    text: str
    word_start: int
    word_end: int  # exclusive


def decode(data: bytes) -> DecodedText:
    """Decode bytes of unknown encoding. Raises InvalidObjectError for empty or binary data."""
    if not data.strip():
        raise InvalidObjectError("the text file is empty")
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return DecodedText(data.decode(name, errors="replace"), name)
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
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


def normalise(text: str) -> str:
    """NFC, Unix newlines, no control characters, no trailing spaces, at most one blank line."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text.replace("\x0c", "\n"))
    text = _TRAILING.sub("\n", text)
    return _BLANKS.sub("\n\n", text).strip()


def chunk_words(text: str, size: int, overlap: int) -> list[TextChunk]:
    """Windows of `size` words; each starts `size - overlap` words after the previous one.

    Words are whitespace-separated tokens (the unit TEXT_CHUNK_TOKENS counts). The last window
    is not repeated when the previous one already reached the end.
    """
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError("need size > 0 and 0 <= overlap < size")
    words = text.split()
    chunks: list[TextChunk] = []
    stride = size - overlap
    start = 0
    while start < len(words):
        end = min(start + size, len(words))
        chunks.append(TextChunk(" ".join(words[start:end]), start, end))
        if end == len(words):
            break
        start += stride
    return chunks
