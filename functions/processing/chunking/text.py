"""Text into chunks the embedding model takes whole, with overlap.

Chunks are measured in tokens of the text_embedding model's own tokenizer (all-MiniLM-L6-v2,
vendored as tokenizer/tokenizer.json, see tokenizer/NOTICE), so that the model embeds every
chunk whole instead of truncating it at TEXT_EMBEDDING_MAX_TOKENS.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from functions.common.constants import TEXT_CHUNK_MAX_TOKENS

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

TOKENIZER_FILE = Path(__file__).resolve().parent / "tokenizer" / "tokenizer.json"
# Characters tokenized at a time (some 16,000 tokens, dozens of chunks): memory stays bounded
# for any text, and re-tokenizing the tail each window hands to the next costs about 1 %.
_WINDOW_CHARS = 64 * 1024
_SPACES = (" ", "\n", "\t")


@dataclass(frozen=True)
class TextChunk:
    """A piece of the text the embedding model takes whole.

    `char_start`/`char_end` (exclusive) are offsets in the text that was chunked, and
    `text == source[char_start:char_end]`; `token_start`/`token_end` (exclusive) are positions
    in that text's stream of model tokens ([CLS]/[SEP] not counted).
    """

    text: str
    char_start: int
    char_end: int
    token_start: int
    token_end: int


@functools.lru_cache(maxsize=1)
def embedding_tokenizer() -> Tokenizer:
    """The text_embedding model's tokenizer, loaded once per container from the vendored file.

    Truncation and padding (the file asks for 128) are switched off: the chunker needs every
    token to count them.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_tokens(text: str) -> int:
    """Model tokens of `text`, [CLS]/[SEP] not counted."""
    return len(embedding_tokenizer().encode(text, add_special_tokens=False).ids)


def iter_chunks(text: str, size: int, overlap: int) -> Iterator[TextChunk]:
    """Chunks of at most `size` model tokens; each starts about `overlap` tokens before the
    previous one ended. A generator: a large text's chunks never all exist at once.

    Chunks end and start where whitespace separates words; a run of more than `size` tokens
    without whitespace (a URL, base64, CJK text) is cut between the tokenizer's pre-tokens
    (punctuation, CJK characters) and, failing those, between its word pieces. Every chunk,
    tokenized on its own, has at most `size` tokens plus [CLS]/[SEP]. The overlap never exceeds
    `overlap` tokens. Whitespace-only text gives no chunks.

    Raises ValueError unless 0 < size <= TEXT_CHUNK_MAX_TOKENS and 0 <= overlap < size.
    """
    if not 0 < size <= TEXT_CHUNK_MAX_TOKENS or not 0 <= overlap < size:
        raise ValueError(f"need 0 < size <= {TEXT_CHUNK_MAX_TOKENS} and 0 <= overlap < size")
    tokenizer = embedding_tokenizer()
    chunks: list[TextChunk] = []
    pos = 0  # where the next chunk starts: the text is tokenized a window at a time from here
    token_base = 0  # the token index of `pos` in the text's token stream
    window_chars = _WINDOW_CHARS
    while pos < len(text):
        end = min(len(text), pos + window_chars)
        final = end == len(text)
        if not final:
            # End the window between words, so that no word is tokenized cut in two.
            cut = max(text.rfind(space, pos, end) for space in _SPACES)
            end = cut if cut > pos else end
        window = _Window(text, pos, end, tokenizer.encode(text[pos:end], add_special_tokens=False))
        taken = window.chunk(chunks, size, overlap, token_base, final)
        # Hand over every chunk but the last: the next window needs where that one ended.
        yield from chunks[:-1]
        del chunks[:-1]
        if final:
            break
        if taken == 0:  # not one chunk's worth of tokens (and a next one's start) in the window
            window_chars *= 2
            continue
        window_chars = _WINDOW_CHARS
        pos += window.offsets[taken][0]
        token_base += taken
    yield from chunks


class _Window:
    """One tokenized window of the text: where its chunks end, where the next ones start."""

    def __init__(self, text: str, pos: int, end: int, encoding: Encoding) -> None:
        self.text, self.pos, self.end = text, pos, end
        self.encoding = encoding
        self.offsets: list[tuple[int, int]] = encoding.offsets  # relative to pos
        self._word_ids: list[int | None] | None = None

    def chunk(self, out: list[TextChunk], size: int, overlap: int, token_base: int, final: bool) -> int:
        """Append this window's chunks to `out`; return the token where the next window starts.

        A window that is not the text's last keeps its tail for the next one: a chunk is cut
        only where the tokens after it are known (the last token may be a word cut by the window).
        """
        n = len(self.offsets)
        start = 0
        stop: int | None
        while start < n:
            previous_end = out[-1].token_end - token_base if out else 0
            while True:
                if final and n - start <= size:
                    stop = n
                elif not final and start + size + 1 >= n:
                    return start
                else:
                    # Past the previous chunk's end, or it holds nothing new, and not before half
                    # its tokens, or it is mostly empty: a long "word" (base64, a URL) is cut
                    # inside rather than after the last space before it.
                    stop = self._boundary_before(max(start + size // 2, previous_end), start + size)
                    if stop is None:
                        # The previous chunk ended inside a character of several word pieces
                        # (a Hangul syllable) that cannot all fit after `start`: less overlap.
                        following = self._boundary_after(start + 1, n - 1, (self._piece_start,))
                        if following < previous_end:
                            start = following
                            continue
                        stop = start + size
                stop = self._fit(start, stop, size)
                if stop > previous_end or start >= previous_end:
                    break
                # Tokenized on its own, the chunk holds nothing past the previous one: less overlap.
                start = self._boundary_after(start + 1, previous_end, (self._piece_start,))
            char_start = self.pos + self.offsets[start][0]
            char_end = self._char_end(stop)
            out.append(TextChunk(self.text[char_start:char_end], char_start, char_end, token_base + start, token_base + stop))
            if stop >= n:
                return n
            start = self._boundary_after(max(start + 1, stop - overlap), stop)
        return n

    def _space_before(self, k: int) -> bool:
        """Whether whitespace separates token k from token k - 1 (what the normaliser drops,
        such as control characters, is in between too, but is not a word break)."""
        gap = self.text[self.pos + self.offsets[k - 1][1] : self.pos + self.offsets[k][0]]
        return any(c.isspace() for c in gap)

    def _pre_token_start(self, k: int) -> bool:
        if self._word_ids is None:
            self._word_ids = self.encoding.word_ids
        return self._word_ids[k] != self._word_ids[k - 1]

    def _piece_start(self, k: int) -> bool:
        # Word pieces of one character (a Hangul syllable decomposes into several) share it.
        return self.offsets[k][0] >= self.offsets[k - 1][1]

    def _boundary_before(self, floor: int, limit: int) -> int | None:
        """The last break in (floor, limit]: between words, else pre-tokens, else word pieces."""
        for test in (self._space_before, self._pre_token_start, self._piece_start):
            for k in range(limit, floor, -1):
                if test(k):
                    return k
        return None

    def _boundary_after(self, first: int, limit: int, tests: tuple = ()) -> int:
        """The first break in [first, limit]: between words, else pre-tokens, else word pieces."""
        for test in tests or (self._space_before, self._pre_token_start, self._piece_start):
            for k in range(first, limit + 1):
                if test(k):
                    return k
        return first

    def _char_end(self, stop: int) -> int:
        # Up to the next token (or the window's end), so characters the normaliser drops stay
        # in the chunk; whitespace at the end does not.
        end = self.pos + (self.offsets[stop][0] if stop < len(self.offsets) else self.end - self.pos)
        while end > self.pos and self.text[end - 1].isspace():
            end -= 1
        return end

    def _fit(self, start: int, stop: int, size: int) -> int:
        """`stop`, moved back until the chunk tokenized on its own has at most `size` tokens.

        Between words and pre-tokens the chunk's own tokens are the window's; a chunk that
        starts or ends inside a pre-token may tokenize into more word pieces than it held.
        """
        n = len(self.offsets)
        whole = (start == 0 or self._pre_token_start(start)) and (stop >= n or self._pre_token_start(stop))
        if whole:
            return stop
        tokenizer = embedding_tokenizer()
        char_start = self.pos + self.offsets[start][0]
        while stop > start + 1:
            excess = len(tokenizer.encode(self.text[char_start : self._char_end(stop)], add_special_tokens=False).ids) - size
            if excess <= 0:
                break
            stop = max(start + 1, stop - excess)
            while stop > start + 1 and not self._piece_start(stop):
                stop -= 1
        return stop
