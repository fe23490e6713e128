"""The pii role's own analyze() (Presidio over en_core_web_sm, model_artifacts/pii) on planted
values and look-alikes, numbers read out as words, and bench/pii_accuracy.py in its tiny modes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow  # loads the spaCy pipeline (seconds) and runs the bench


@pytest.fixture(scope="module")
def pii_model():
    from model_artifacts.code_modules import load_inference

    inference = load_inference("pii")
    return inference, inference.model_fn(None)


def _found(pii_model, text: str) -> list[tuple[str, str]]:
    inference, model = pii_model
    return [(f["type"], text[f["start"]:f["end"]]) for f in inference.analyze(text, model)]


def test_planted_values_are_found_with_their_exact_spans(pii_model):
    text = ("Invoice for Maria Garcia, born on 4 March 1981. Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, "
            "SSN 536-22-8741, mail maria.garcia@example.com, from 192.168.10.4.")
    found = set(_found(pii_model, text))
    assert {("PERSON", "Maria Garcia"), ("DATE_OF_BIRTH", "4 March 1981"), ("CREDIT_CARD", "4111 1111 1111 1111"),
            ("IBAN_CODE", "DE89 3704 0044 0532 0130 00"), ("US_SSN", "536-22-8741"),
            ("EMAIL_ADDRESS", "maria.garcia@example.com"), ("IP_ADDRESS", "192.168.10.4")} <= found


def test_look_alikes_are_not_flagged(pii_model):
    text = ("Order number 1234-5678-9012 shipped on 3 May 2024. ISBN 978-3-16-148410-0. "
            "Card 4111 1111 1111 1112 was refused. Ticket 078-05-1120.")
    found = _found(pii_model, text)
    assert not [f for f in found if f[0] in ("CREDIT_CARD", "US_SSN", "DATE_OF_BIRTH", "IBAN_CODE")], found


def test_empty_and_blank_text_have_no_findings(pii_model):
    assert _found(pii_model, "") == [] and _found(pii_model, " \n\t") == []


def test_non_english_text_keeps_the_pattern_types(pii_model):
    """Stated behaviour: the English model reads other languages; pattern recognizers (e-mail,
    cards, IBAN, IP) do not depend on the language, names and dates do (README)."""
    text = "Bitte überweisen Sie an DE89 3704 0044 0532 0130 00 und schreiben Sie an kunde@beispiel.de."
    found = set(_found(pii_model, text))
    assert {("IBAN_CODE", "DE89 3704 0044 0532 0130 00"), ("EMAIL_ADDRESS", "kunde@beispiel.de")} <= found


def test_the_endpoint_refuses_an_item_above_its_time_budget(pii_model):
    import json

    inference, _ = pii_model
    body = json.dumps({"inputs": ["x" * (inference.MAX_ITEM_CHARS + 1)]})
    with pytest.raises(Exception, match=r"\[input\].*characters"):
        inference.input_fn(body, "application/json")


def test_a_spoken_ssn_with_context_is_found_over_its_words(pii_model):
    """As PocketSphinx writes it: digits as words, no punctuation (model_artifacts/pii/code/spoken_numbers.py)."""
    text = "please call me back my social security number is five three six two two eight seven four one thanks"
    assert _found(pii_model, text) == [("US_SSN", "five three six two two eight seven four one")]


def test_the_same_number_spoken_or_written_has_one_canonical_form(pii_model):
    """What the caller hashes (functions/compliance/pii.py): the digits, however they were given."""
    inference, model = pii_model
    said = "my social security number is five three six two two eight seven four one"
    written = ["My SSN is 536-22-8741.", "My social security number is 536 22 8741."]
    forms = {f["canonical"] for text in [said, *written] for f in inference.analyze(text, model) if f["type"] == "US_SSN"}
    assert forms == {"536228741"}
    cards = {f["canonical"] for text in ("Card 4111 1111 1111 1111.", "Card 4111-1111-1111-1111.")
             for f in inference.analyze(text, model) if f["type"] == "CREDIT_CARD"}
    assert cards == {"4111111111111111"}
    iban = [f for f in inference.analyze("IBAN DE89 3704 0044 0532 0130 00", model) if f["type"] == "IBAN_CODE"]
    assert iban[0]["canonical"] == "DE89370400440532013000"
    assert all("canonical" not in f for f in inference.analyze("Write to maria@example.com", model))


def test_a_spoken_card_number_is_found_and_a_spoken_invalid_one_is_not(pii_model):
    valid = "my card number is four one one one one one one one one one one one one one one one"
    assert _found(pii_model, valid) == [("CREDIT_CARD", valid[len("my card number is "):])]
    assert _found(pii_model, valid[:-3] + "two") == []  # fails the Luhn checksum


def test_nine_spoken_digits_without_ssn_context_are_not_an_ssn(pii_model):
    said = "the order number is five three six two two eight seven four one"
    assert _found(pii_model, said) == []
    # Written digits keep Presidio's own reading (the SSN layout is enough without context).
    assert ("US_SSN", "536-22-8741") in _found(pii_model, "Ticket 536-22-8741 closed.")


def test_a_birthday_without_a_day_or_year_is_not_a_date_of_birth(pii_model):
    assert _found(pii_model, "My birthday is on the weekend") == []
    assert _found(pii_model, "She was born on 2/8/1935") == [("DATE_OF_BIRTH", "2/8/1935")]


def test_a_card_number_is_not_also_a_phone_number(pii_model):
    """libphonenumber reads 16 bare digits starting 49 as a German number; the Luhn-valid card wins."""
    said = "my card number is four nine eight three zero two oh five four one double three seven four seven four"
    assert [t for t, _ in _found(pii_model, said)] == ["CREDIT_CARD"]


def test_the_accuracy_bench_runs_in_its_tiny_mode():
    from bench.tables import markdown_rows

    out = subprocess.run([sys.executable, str(ROOT / "bench" / "pii_accuracy.py"), "--tiny"], capture_output=True,
                         text=True, check=True, cwd=ROOT, timeout=300).stdout
    rows = {r["type"]: r for r in markdown_rows(out, "| type")}
    assert float(rows["CREDIT_CARD"]["recall"]) == 1.0 and float(rows["CREDIT_CARD"]["precision"]) == 1.0
    assert float(rows["US_SSN"]["recall"]) == 1.0


def test_the_accuracy_bench_reads_the_public_presidio_research_excerpt():
    from bench.tables import markdown_rows

    out = subprocess.run([sys.executable, str(ROOT / "bench" / "pii_accuracy.py"), "--tiny", "--public",
                          str(ROOT / "bench" / "pii_public_sample.json")],
                         capture_output=True, text=True, check=True, cwd=ROOT, timeout=300).stdout
    rows = {r["type"]: r for r in markdown_rows(out, "| type")}
    assert "60 records" in out
    assert int(rows["CREDIT_CARD"]["labelled"]) == 6 and float(rows["CREDIT_CARD"]["precision (exact)"]) == 1.0
    assert float(rows["US_SSN"]["recall (exact)"]) == 1.0


def test_a_profane_sentence_is_flagged_by_the_profanity_model_and_a_clean_one_is_not(pii_model):
    inference, model = pii_model
    text = "Thanks for the report.\nThis is fucking ridiculous, what a load of shit. See you on Tuesday."
    found = [f for f in inference.analyze(text, model) if f["type"] == inference.PROFANITY]
    assert [text[f["start"]:f["end"]] for f in found] == ["This is fucking ridiculous, what a load of shit."]
    assert found[0]["score"] >= 0.9 and found[0]["model"] == {"id": "alt-profanity-check",
                                                              "version": f"1.9.1+{inference.rules_version()}"}
    assert not [f for f in inference.analyze("The hell of a good quarter for the Scunthorpe office.", model)
                if f["type"] == inference.PROFANITY and f["score"] >= 0.9]


def test_profanity_units_are_sentences_and_lines_no_longer_than_the_limit(pii_model):
    inference, _ = pii_model
    text = "  One. Two!\n\nThree?  " + "word " * 300
    spans = inference.units(text)
    pieces = [text[s:e] for s, e in spans]
    assert pieces[:3] == ["One.", "Two!", "Three?"]
    assert all(0 < e - s <= inference._UNIT_MAX_CHARS for s, e in spans)
    assert " ".join(pieces[3:]).split() == ["word"] * 300  # the long run is cut between words, nothing lost
    assert inference.units("") == [] and inference.units(" \n ") == []
