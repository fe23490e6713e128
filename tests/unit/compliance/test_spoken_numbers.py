"""The pii role's words-to-digits normalisation (model_artifacts/pii/code/spoken_numbers.py): what
becomes digits, what stays as written, and offsets back into the original text."""
from __future__ import annotations

import pytest

from model_artifacts.code_modules import load_inference

spoken = load_inference("pii").spoken_numbers  # imported beside inference.py, as in model.tar.gz


def _runs(text: str) -> list[tuple[str, str]]:
    """Each rewritten run: (its digits, the original words it maps back to)."""
    n = spoken.normalise(text)
    return [(n.text[s:e], text[slice(*n.to_original(s, e))]) for s, e in n.runs]


def test_a_spoken_ssn_reads_in_the_ssn_layout_and_maps_back_to_its_words():
    text = "my social security number is five three six two two eight seven four one and thanks"
    n = spoken.normalise(text)
    assert n.text == "my social security number is 536-22-8741 and thanks"
    start = n.text.index("536")
    assert text[slice(*n.to_original(start, start + 11))] == "five three six two two eight seven four one"
    # The text around the run keeps its own offsets.
    assert text[slice(*n.to_original(n.text.index("and"), n.text.index("and") + 3))] == "and"
    assert n.to_original(0, 2) == (0, 2)


def test_a_span_inside_a_run_maps_to_the_whole_words_its_digits_came_from():
    text = "card five three twenty one"
    n = spoken.normalise(text)
    assert n.text == "card 5321"
    assert text[slice(*n.to_original(6, 7))] == "three"
    assert text[slice(*n.to_original(6, 8))] == "three twenty one"  # the "2" of "21" is both its words


def test_a_card_read_in_groups_with_commas_is_one_run():
    assert _runs("card four one one one, one one one one, one one one one, one one one one.") == [
        ("4111111111111111", "four one one one, one one one one, one one one one, one one one one")]


@pytest.mark.parametrize(("said", "digits"), [
    ("double five seven", "557"),
    ("triple oh seven", "0007"),
    ("nineteen eighty one", "1981"),
    ("eight hundred five five five", "800555"),
    ("five hundred twenty one", "521"),
    ("FIVE Three six", "536"),
    ("five-three-six", "536"),
])
def test_number_words_read_as_digits(said, digits):
    assert [d for d, _ in _runs(said)] == [digits]


def test_oh_is_zero_only_inside_a_run_of_digit_words():
    assert spoken.normalise("oh two oh seven one").text == "02071"
    assert spoken.normalise("Oh, one two three").text == "Oh, 123"  # the interjection stays a word
    for text in ("oh oh oh", "oh well, I see", "Oh no"):
        assert spoken.normalise(text).text == text


@pytest.mark.parametrize("text", [
    "someone has one cat and two dogs",  # single number words: fewer than three digits
    "twenty three people came",
    "tone, bone, stone",  # words that contain a digit word
    "five. Three. Six.",  # sentences, not one number
    "one hundred and five",  # "and" ends the run: only "one hundred" is read
])
def test_look_alikes_are_not_read_as_one_number(text):
    n = spoken.normalise(text)
    assert all(len(n.text[s:e]) < 4 for s, e in n.runs), n.text


def test_text_without_number_words_is_returned_unchanged():
    n = spoken.normalise("Paid with card 4111 1111 1111 1111.")
    assert n.text == "Paid with card 4111 1111 1111 1111." and n.runs == ()
    assert n.to_original(15, 34) == (15, 34)


def test_from_words_tells_digits_read_from_words_from_written_ones():
    n = spoken.normalise("SSN 536-22-8741 or five three six two two eight seven four one")
    written = (4, 15)
    said = (n.text.rindex("536"), n.text.rindex("536") + 11)
    assert not n.from_words(*written) and n.from_words(*said)


def test_the_normalised_text_is_never_longer_than_the_original():
    """The endpoint's per-item limit is checked on the text as sent; the analysed copy must fit it."""
    for text in ("one two three four five six seven eight nine", "oh oh seven", "double five five",
                 "eight hundred", "twenty"):
        assert len(spoken.normalise(text).text) <= len(text)
