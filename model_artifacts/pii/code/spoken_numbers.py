"""Numbers read out as words, written as digits, with a map back to the text as written.

A speech model may write "five three six two two eight seven four one" where a document has
"536-22-8741" (PocketSphinx always does), and Presidio's recognizers read digits only. The pii
role analyses the normalised text and maps every finding back to the original offsets, so the
caller's stored text, not this copy, is what the offsets point into.

What becomes digits (case-insensitive, whole words):

* digit words ``zero``..``nine``, and ``oh`` as zero only next to another number word
  (``Oh, one more thing`` stays as written);
* ``double``/``triple`` before a digit word ("double five" -> 55);
* teens and tens, with a unit after a ten ("twenty three" -> 23, "ninety" -> 90, "nineteen eighty"
  -> 1980);
* a digit word before ``hundred``, with an optional ten or teen after it ("eight hundred" -> 800,
  "five hundred twenty one" -> 521; "eight hundred five five five" -> 800555, as a phone number
  is read).

Consecutive number words separated by spaces, commas or hyphens form one run, written as one
string of digits; a run is rewritten only if it yields at least ``MIN_RUN_DIGITS`` digits.
A run of exactly nine digits is written in the SSN layout ``ddd-dd-dddd``, because Presidio scores
nine bare digits 0.05 (its "very weak" pattern) and the layout 0.5; the pii role then keeps a US_SSN
read from words only where Presidio found its context ("social security", "SSN") before it.

Not handled: "thousand", "million" and "and" inside a number ("one hundred and five"), ordinals,
"dash" or "dot" said aloud (IP addresses, e-mail), letters spelled out (IBANs), homophones a
speech model may write for digits ("to", "for"), and digits mixed with words ("five 3 six").

Offsets: ``Normalised.to_original(start, end)`` maps a span of the normalised text to the span of
the original text it was read from; a span that starts or ends inside a run's digits extends to
the whole words those digits came from.

text2num 3.1.0 (MIT) was considered: it finds number words with their token positions, but has no
"oh" or "double", does not join digit runs, and is a 0.9 MB compiled extension per Python version;
word2number converts one whole phrase to one integer. Neither saves this module's work.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MIN_RUN_DIGITS = 3
SSN_DIGITS = 9

_DIGITS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
           "seven": "7", "eight": "8", "nine": "9"}
_TEENS = {"ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
          "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19"}
_TENS = {"twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6", "seventy": "7", "eighty": "8",
         "ninety": "9"}
_REPEAT = {"double": 2, "triple": 3}
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
# What may stand between two words of one run: speech models write spaces; people type commas
# and hyphens ("five-three-six", "twenty-three").
_GAP = re.compile(r"[\s,\-]+")


@dataclass(frozen=True)
class _Word:
    text: str  # lower case
    start: int
    end: int


@dataclass(frozen=True)
class _Item:
    """Digits read from consecutive words (one item per number: "twenty three" is one)."""

    digits: str
    start: int  # in the original text
    end: int
    oh: bool = False  # a bare "oh"


@dataclass(frozen=True)
class Normalised:
    """The normalised text and, where it differs from the original, each character's source span."""

    text: str
    original: str
    _starts: tuple[int, ...] | None = None
    _ends: tuple[int, ...] | None = None
    runs: tuple[tuple[int, int], ...] = ()  # spans of the normalised text written from words

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that ``text[start:end]`` was read from (end exclusive)."""
        if self._starts is None or self._ends is None or end <= start:
            return start, end
        return self._starts[start], self._ends[end - 1]

    def from_words(self, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` overlaps digits that were number words in the original."""
        return any(s < end and start < e for s, e in self.runs)


def _item_at(words: list[_Word], i: int, text: str) -> tuple[_Item | None, int]:
    """The number item starting at words[i] and the index after it; (None, i) if none starts there."""
    w = words[i]
    # The next word, if nothing but a space, comma or hyphen stands between: "twenty. Three" is two.
    nxt = words[i + 1] if _joined(words, i, text) else None
    if w.text in _REPEAT and nxt is not None and nxt.text in _DIGITS:
        return _Item(_DIGITS[nxt.text] * _REPEAT[w.text], w.start, nxt.end), i + 2
    if w.text in _TEENS:
        return _Item(_TEENS[w.text], w.start, w.end), i + 1
    if w.text in _TENS:
        if nxt is not None and nxt.text in _DIGITS and nxt.text not in ("zero", "oh"):
            return _Item(_TENS[w.text] + _DIGITS[nxt.text], w.start, nxt.end), i + 2
        return _Item(_TENS[w.text] + "0", w.start, w.end), i + 1
    if w.text in _DIGITS:
        if nxt is not None and nxt.text == "hundred" and w.text not in ("zero", "oh"):
            rest, after = _item_at(words, i + 2, text) if _joined(words, i + 1, text) else (None, i + 2)
            # Only a ten or a teen joins: "eight hundred five five five ..." is a phone number (800 555).
            if rest is not None and (words[i + 2].text in _TENS or words[i + 2].text in _TEENS):
                return _Item(_DIGITS[w.text] + rest.digits.rjust(2, "0"), w.start, rest.end), after
            return _Item(_DIGITS[w.text] + "00", w.start, nxt.end), i + 2
        return _Item(_DIGITS[w.text], w.start, w.end, oh=w.text == "oh"), i + 1
    return None, i


def _joined(words: list[_Word], i: int, text: str) -> bool:
    """Whether words[i + 1] exists and only a space, comma or hyphen stands between it and words[i]."""
    return i + 1 < len(words) and _GAP.fullmatch(text[words[i].end:words[i + 1].start]) is not None


def _runs(text: str) -> list[list[_Item]]:
    """Maximal runs of number items joined only by spaces, commas or hyphens."""
    words = [_Word(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text)]
    runs: list[list[_Item]] = []
    current: list[_Item] = []
    i = 0
    while i < len(words):
        item, after = _item_at(words, i, text)
        if item is None:
            if current:
                runs.append(current)
                current = []
            i += 1
            continue
        if current and not _GAP.fullmatch(text[current[-1].end:item.start]):
            runs.append(current)
            current = []
        current.append(item)
        i = after
    if current:
        runs.append(current)
    return [kept for run in runs if (kept := _trim_oh(run, text))]


def _trim_oh(run: list[_Item], text: str) -> list[_Item]:
    """The run without an interjection "oh": one before a comma at its start, or a run of only "oh"s."""
    while run and run[0].oh and "," in text[run[0].end:run[1].start if len(run) > 1 else run[0].end]:
        run = run[1:]
    if all(item.oh for item in run) or sum(len(item.digits) for item in run) < MIN_RUN_DIGITS:
        return []
    return run


def normalise(text: str) -> Normalised:
    """``text`` with runs of number words written as digits (see the module docstring)."""
    runs = _runs(text)
    if not runs:
        return Normalised(text, text)
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for run in runs:
        for j in range(pos, run[0].start):  # the text between runs, unchanged
            out.append(text[j])
            starts.append(j)
            ends.append(j + 1)
        # Each digit points at the words it was read from.
        chars = [(d, item.start, item.end) for item in run for d in item.digits]
        if len(chars) == SSN_DIGITS:
            chars = [*chars[:3], ("-", chars[2][2], chars[3][1]), *chars[3:5], ("-", chars[4][2], chars[5][1]),
                     *chars[5:]]
        begin = len(out)
        for ch, s, e in chars:
            out.append(ch)
            starts.append(s)
            ends.append(e)
        spans.append((begin, len(out)))
        pos = run[-1].end
    for j in range(pos, len(text)):
        out.append(text[j])
        starts.append(j)
        ends.append(j + 1)
    return Normalised("".join(out), text, tuple(starts), tuple(ends), tuple(spans))
