"""Precision and recall per personal-data type of the pii model role (Presidio's analyzer over
spaCy's en_core_web_sm, model_artifacts/pii) on a labelled set this script generates, or on
Microsoft presidio-research's public synthetic set.

    .venv/bin/python bench/pii_accuracy.py [--per-kind 60] [--seed 7] [--tiny]
    .venv/bin/python bench/pii_accuracy.py --public synth_dataset_v2.json [--tiny]

The generated set: documents, e-mails (headers and body), speech transcripts with digits (as
Whisper writes them) and spoken transcripts with digits as words (as PocketSphinx writes them),
with planted values of each type at known offsets, plus look-alikes that must not be flagged:
order numbers, ISBNs, card numbers that fail the Luhn checksum, SSNs in the ranges the SSA never
issues, dates that are not birth dates, reference numbers (written and spoken). A finding is a
true positive when its type and span equal a planted value's (spans that overlap but differ count
as a miss and a false positive, the strict reading). It runs the role's own ``analyze``
in-process (the same code the endpoint serves). Prints a markdown table, one row per type.

``--public PATH``: the records of presidio-research's ``data/synth_dataset_v2.json`` (MIT; a list
of {"full_text", "spans": [{"entity_type", "start_position", "end_position"}]}), or the excerpt
``bench/pii_public_sample.json`` (its first 60 records, with provenance and licence). Its types
map to ours where they mean the same (GPE -> LOCATION); its other labels (STREET_ADDRESS,
ORGANIZATION, DATE_TIME, ...) are no type of ours and are not scored, and our DATE_OF_BIRTH has no
label there. Scored twice: exact spans, and overlapping spans of the same type (one to one).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIRST = ["Maria", "James", "Aiko", "Olumide", "Sofia", "Liam", "Priya", "Mateo", "Hannah", "Noah"]
LAST = ["Garcia", "Okafor", "Tanaka", "Schneider", "Novak", "Patel", "Dubois", "Kowalski", "Nguyen", "Brown"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net"]
CITIES = ["Chicago", "Denver", "Berlin", "Madrid", "Toronto", "Lisbon"]
# IBANs with valid check digits (ECBS examples and test accounts).
IBANS = ["DE89 3704 0044 0532 0130 00", "GB29 NWBK 6016 1331 9268 19", "FR14 2004 1010 0505 0001 3M02 606",
         "NL91 ABNA 0417 1643 00", "ES91 2100 0418 4502 0005 1332"]
MONTHS = ["January", "March", "May", "July", "September", "November"]


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def card(rng: random.Random, valid: bool = True) -> str:
    body = "4" + "".join(str(rng.randint(0, 9)) for _ in range(14))
    check = luhn_digit(body)
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    digits = body + check
    return " ".join(digits[i:i + 4] for i in range(0, 16, 4))


def ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(101, 899) if n != 666])
    return f"{area:03d}-{rng.randint(10, 99):02d}-{rng.randint(1000, 9999):04d}"


def phone(rng: random.Random) -> str:
    return f"+1 {rng.choice([212, 312, 415, 617, 720])}-555-{rng.randint(100, 199):04d}"


def ip(rng: random.Random) -> str:
    return f"{rng.randint(11, 199)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def dob(rng: random.Random) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {rng.randint(1950, 2004)}"


def name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


class Builder:
    """A text with its planted spans."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[tuple[str, int, int]] = []
        self.length = 0

    def add(self, text: str, kind: str | None = None) -> Builder:
        if kind:
            self.spans.append((kind, self.length, self.length + len(text)))
        self.parts.append(text)
        self.length += len(text)
        return self

    def done(self) -> tuple[str, list[tuple[str, int, int]]]:
        return "".join(self.parts), self.spans


def document(rng: random.Random) -> tuple[str, list[tuple[str, int, int]]]:
    person = name(rng)
    b = Builder().add("Customer record. Account holder ").add(person, "PERSON").add(", born on ")
    b.add(dob(rng), "DATE_OF_BIRTH").add(". Payment card ").add(card(rng), "CREDIT_CARD")
    b.add(" was charged for order number ").add(f"{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}")
    b.add(". Refunds go to IBAN ").add(rng.choice(IBANS), "IBAN_CODE").add(". Social security number: ")
    b.add(ssn(rng), "US_SSN").add(". The book ordered has ISBN 978-3-16-148410-0 and shipped on ")
    b.add(f"{rng.randint(1, 28)} {rng.choice(MONTHS)} 2024").add(". A card number on file, ").add(card(rng, valid=False))
    b.add(", was rejected.\n")
    return b.done()


def email(rng: random.Random) -> tuple[str, list[tuple[str, int, int]]]:
    sender, to = name(rng), name(rng)
    s_addr = f"{sender.split()[0].lower()}.{sender.split()[1].lower()}@{rng.choice(DOMAINS)}"
    t_addr = f"{to.split()[0].lower()}@{rng.choice(DOMAINS)}"
    b = Builder().add("From: ").add(s_addr, "EMAIL_ADDRESS").add("\nTo: ").add(t_addr, "EMAIL_ADDRESS")
    b.add("\nSubject: Invoice 2024-").add(str(rng.randint(10000, 99999))).add("\n\nHello ").add(to.split()[0], "PERSON")
    b.add(",\nplease call me at ").add(phone(rng), "PHONE_NUMBER").add(" about ticket #").add(str(rng.randint(100000, 999999)))
    b.add(". The server at ").add(ip(rng), "IP_ADDRESS").add(" logged the upload.\nRegards,\n").add(sender, "PERSON").add("\n")
    return b.done()


def transcript(rng: random.Random) -> tuple[str, list[tuple[str, int, int]]]:
    b = Builder().add("okay so my social security number is ").add(ssn(rng), "US_SSN")
    b.add(" and you can reach me on ").add(phone(rng), "PHONE_NUMBER").add(" my card is ").add(card(rng), "CREDIT_CARD")
    b.add(" and i was born on ").add(dob(rng), "DATE_OF_BIRTH").add(" the reference is ").add(str(rng.randint(10**8, 10**9 - 1)))
    b.add(" thanks\n")
    return b.done()


DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]
TENS_WORDS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def say_digits(digits: str, rng: random.Random) -> str:
    """Digits read out one by one, as a speech model writes them: "oh" or "zero", sometimes "double"."""
    words: list[str] = []
    i = 0
    while i < len(digits):
        d = int(digits[i])
        word = rng.choice(["oh", "zero"]) if d == 0 else DIGIT_WORDS[d]
        if i + 1 < len(digits) and digits[i + 1] == digits[i] and rng.random() < 0.3:
            words.append(f"double {word}")
            i += 2
            continue
        words.append(word)
        i += 1
    return " ".join(words)


def say_year(year: int) -> str:
    """A year of the 1900s as people say it: "nineteen eighty one" (the normaliser reads no "thousand")."""
    tens, unit = divmod(year - 1900, 10)
    return "nineteen " + TENS_WORDS[tens] + (f" {DIGIT_WORDS[unit]}" if unit else "")


def spoken(rng: random.Random) -> tuple[str, list[tuple[str, int, int]]]:
    """A call as PocketSphinx transcribes it: lower case, no punctuation, numbers as words."""
    digits = lambda value: "".join(ch for ch in value if ch.isdigit())  # noqa: E731
    b = Builder().add("okay so my social security number is ").add(say_digits(digits(ssn(rng)), rng), "US_SSN")
    b.add(" and you can call me on ").add(say_digits(digits(phone(rng))[1:], rng), "PHONE_NUMBER")
    b.add(" my card number is ").add(say_digits(digits(card(rng)), rng), "CREDIT_CARD")
    born = f"the {rng.choice(ORDINALS)} of {rng.choice(MONTHS).lower()} {say_year(rng.randint(1950, 1999))}"
    b.add(" and i was born on ").add(born, "DATE_OF_BIRTH")
    b.add(" the reference is ").add(say_digits(str(rng.randint(10**8, 10**9 - 1)), rng))
    b.add(" and my old card ").add(say_digits(digits(card(rng, valid=False)), rng)).add(" was declined thanks\n")
    return b.done()


def labelled_set(per_kind: int, seed: int) -> list[tuple[str, str, list[tuple[str, int, int]]]]:
    rng = random.Random(seed)
    return [(kind, *make(rng)) for kind, make in (("document", document), ("email", email), ("transcript", transcript),
                                                               ("spoken", spoken))
            for _ in range(per_kind)]


def score(model: dict, analyze, items) -> tuple[Counter, Counter, Counter]:
    tp, fp, fn = Counter(), Counter(), Counter()
    for _, text, planted in items:
        found = {(f["type"], f["start"], f["end"]) for f in analyze(text, model)}
        truth = set(planted)
        for kind, _, _ in found & truth:
            tp[kind] += 1
        for kind, _, _ in found - truth:
            fp[kind] += 1
        for kind, _, _ in truth - found:
            fn[kind] += 1
    return tp, fp, fn


# presidio-research's labels that mean one of our types; the rest are no type of ours.
PUBLIC_TYPES = {"PERSON": "PERSON", "EMAIL_ADDRESS": "EMAIL_ADDRESS", "PHONE_NUMBER": "PHONE_NUMBER",
                "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN_CODE", "US_SSN": "US_SSN", "IP_ADDRESS": "IP_ADDRESS",
                "GPE": "LOCATION"}
PUBLIC_SAMPLE = Path(__file__).resolve().parent / "pii_public_sample.json"


def public_set(path: Path, limit: int | None) -> list[tuple[str, str, list[tuple[str, int, int]], list[tuple[str, int, int]]]]:
    """(kind, text, spans of our types, spans of the set's other labels) per record of presidio-research's format."""
    data = json.loads(path.read_text(encoding="utf-8"))
    records = data["records"] if isinstance(data, dict) else data
    items = []
    for r in records[:limit]:
        spans = [(s["entity_type"], int(s["start_position"]), int(s["end_position"])) for s in r["spans"]]
        ours = [(PUBLIC_TYPES[t], a, b) for t, a, b in spans if t in PUBLIC_TYPES]
        other = [(t, a, b) for t, a, b in spans if t not in PUBLIC_TYPES]
        items.append(("public", r["full_text"], ours, other))
    return items


def score_overlap(model: dict, analyze, items) -> tuple[Counter, Counter, Counter, Counter, Counter, Counter]:
    """Exact and overlap counts, findings of types the set does not label, and false positives
    that lie over a span the set labels with another of its types (why they are "false")."""
    tp, fp, fn, tp_o, unlabelled, over_other = Counter(), Counter(), Counter(), Counter(), Counter(), Counter()
    for _, text, truth, other in items:
        found = [(f["type"], f["start"], f["end"]) for f in analyze(text, model)]
        labelled = [f for f in found if f[0] in PUBLIC_TYPES.values()]
        unlabelled.update(f[0] for f in found if f[0] not in PUBLIC_TYPES.values())
        exact = set(labelled) & set(truth)
        for kind, _, _ in exact:
            tp[kind] += 1
        for f in set(labelled) - exact:
            fp[f[0]] += 1
            hit = next((t for t, a, b in other if a < f[2] and f[1] < b), None)
            if hit and not any(k == f[0] and a < f[2] and f[1] < b for k, a, b in truth):
                over_other[f"{f[0]} over {hit}"] += 1
        for kind, _, _ in set(truth) - exact:
            fn[kind] += 1
        free = list(truth)
        for kind, a, b in labelled:  # one to one: each labelled span matches one finding at most
            match = next((t for t in free if t[0] == kind and t[1] < b and a < t[2]), None)
            if match:
                free.remove(match)
                tp_o[kind] += 1
    return tp, fp, fn, tp_o, unlabelled, over_other


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.3f}" if den else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-kind", type=int, default=60, help="texts of each kind (document, e-mail, transcript, spoken)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tiny", action="store_true", help="5 texts of each kind, or 60 public records (the CI check)")
    parser.add_argument("--public", type=Path, metavar="PATH",
                        help=f"presidio-research's synth_dataset_v2.json, or {PUBLIC_SAMPLE.name} (its first 60 records)")
    args = parser.parse_args(argv)
    if args.public and not args.public.is_file():
        parser.error(f"--public: no file {args.public}")
    from model_artifacts.code_modules import load_inference

    inference = load_inference("pii")
    model = inference.model_fn(None)
    model["profanity"] = None  # personal data only: the profanity flag has its own bench (bench/profanity.py)
    if args.public:
        return _public(model, inference.analyze, public_set(args.public, 60 if args.tiny else None), args.public)
    items = labelled_set(5 if args.tiny else args.per_kind, args.seed)
    started = time.monotonic()
    tp, fp, fn = score(model, inference.analyze, items)
    seconds = time.monotonic() - started
    print(f"model: {model['info']['id']} {model['info']['version']}; {len(items)} texts, "
          f"{sum(len(t) for _, t, _ in items)} characters, {seconds:.1f} s\n")
    print("| type | planted | found | precision | recall |")
    print("|---|---|---|---|---|")
    for kind in sorted(set(tp) | set(fp) | set(fn)):
        found = tp[kind] + fp[kind]
        print(f"| {kind} | {tp[kind] + fn[kind]} | {found} | {_ratio(tp[kind], found)} | "
              f"{_ratio(tp[kind], tp[kind] + fn[kind])} |")
    return 0


def _public(model: dict, analyze, items, path: Path) -> int:
    started = time.monotonic()
    tp, fp, fn, tp_o, unlabelled, over_other = score_overlap(model, analyze, items)
    seconds = time.monotonic() - started
    print(f"model: {model['info']['id']} {model['info']['version']}; {path.name}: {len(items)} records, "
          f"{sum(len(t) for _, t, _, _ in items)} characters, {seconds:.1f} s\n")
    print("| type | labelled | found | precision (exact) | recall (exact) | precision (overlap) | recall (overlap) |")
    print("|---|---|---|---|---|---|---|")
    for kind in sorted(set(tp) | set(fp) | set(fn)):
        found, labelled = tp[kind] + fp[kind], tp[kind] + fn[kind]
        print(f"| {kind} | {labelled} | {found} | {_ratio(tp[kind], found)} | {_ratio(tp[kind], labelled)} | "
              f"{_ratio(tp_o[kind], found)} | {_ratio(tp_o[kind], labelled)} |")
    print(f"\nfound, no label of this type in the set: {dict(sorted(unlabelled.items())) or 'none'}")
    print(f"false positives over a span labelled with a type that is not ours: {dict(over_other.most_common()) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
