"""Precision and recall per personal-data type of the pii model role (Presidio's analyzer over
spaCy's en_core_web_sm, model_artifacts/pii) on a labelled set this script generates.

    .venv/bin/python bench/pii_accuracy.py [--per-kind 60] [--seed 7] [--tiny]

The set: documents, e-mails (headers and body) and speech transcripts (as a speech model writes
them: lower case, digits as digits) with planted values of each type at known offsets, plus
look-alikes that must not be flagged: order numbers, ISBNs, card numbers that fail the Luhn
checksum, SSNs in the ranges the SSA never issues, dates that are not birth dates. A finding is
a true positive when its type and span equal a planted value's (spans that overlap but differ
count as a miss and a false positive, the strict reading). It runs the role's own
``analyze`` in-process (the same code the endpoint serves). Prints a markdown table, one row per
type, and the look-alikes flagged.
"""
from __future__ import annotations

import argparse
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


def labelled_set(per_kind: int, seed: int) -> list[tuple[str, str, list[tuple[str, int, int]]]]:
    rng = random.Random(seed)
    return [(kind, *make(rng)) for kind, make in (("document", document), ("email", email), ("transcript", transcript))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-kind", type=int, default=60, help="texts of each kind (document, e-mail, transcript)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tiny", action="store_true", help="5 texts of each kind (the CI check)")
    args = parser.parse_args(argv)
    from model_artifacts.code_modules import load_inference

    inference = load_inference("pii")
    model = inference.model_fn(None)
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
        precision = tp[kind] / found if found else float("nan")
        recall = tp[kind] / (tp[kind] + fn[kind]) if tp[kind] + fn[kind] else float("nan")
        print(f"| {kind} | {tp[kind] + fn[kind]} | {found} | {precision:.3f} | {recall:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
