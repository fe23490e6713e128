"""Redaction (compliance.redact): span replacement and offsets (functions/compliance/redaction.py),
then the scan step's rewrite of everything staged, over moto's in-process S3 with a pii stand-in
that finds planted values as the endpoint answers: retried after a crash half-way, retried after
it finished, and after a redelivery extracted the raw text again; and the scan's time budget."""
from __future__ import annotations

import json
from typing import Any

import pytest

from functions.common.constants import ENV_COMPLIANCE, MODEL_MODERATION, MODEL_OCR, MODEL_PII
from functions.common.events import ObjectRef, StepResult
from functions.common.model_client import ModelResult
from functions.common.settings import Settings
from functions.common.staging import Staging
from functions.compliance import redaction
from functions.compliance.findings import PII, STAGED_NAME, ComplianceManifest, Finding, Producer
from functions.compliance.redaction import Sweeper, as_extracted, redact_spans
from functions.processing.staging.manifest import Chunk, ExtractManifest, Page, StagedFile
from functions.processing.steps import scan
from functions.processing.steps.context import Context

MODEL = Producer(id="presidio-analyzer/test", version="1")
CARD, EMAIL, PHONE = "4111 1111 1111 1111", "jane.doe@example.com", "+1 212 555 0143"
PLANTED = {CARD: "CREDIT_CARD", EMAIL: "EMAIL_ADDRESS", PHONE: "PHONE_NUMBER"}


def _finding(kind: str, start: int, end: int, score: float = 1.0, ordinal: int = 0) -> Finding:
    return Finding(kind=PII, type=kind, chunk_ordinal=ordinal, score=score, start=start, end=end, model=MODEL)


# -- spans and offsets ------------------------------------------------------------------------
def test_each_span_becomes_its_type_and_findings_move_to_their_replacement():
    text = f"card {CARD} or mail {EMAIL} today"
    found = [_finding("CREDIT_CARD", 5, 5 + len(CARD)), _finding("EMAIL_ADDRESS", text.index(EMAIL), text.index(EMAIL) + len(EMAIL))]
    done = redact_spans(text, found)
    assert done.text == "card <CREDIT_CARD> or mail <EMAIL_ADDRESS> today"
    assert [done.text[f.start:f.end] for f in done.findings] == ["<CREDIT_CARD>", "<EMAIL_ADDRESS>"]
    assert [(f.metadata["extracted_start"], f.metadata["extracted_end"]) for f in done.findings] == [
        (f.start, f.end) for f in found]
    assert done.spans == 2


def test_overlapping_findings_share_one_replacement_named_by_the_best_score():
    text = f"pay {CARD}."
    # A card number also read as a phone number inside it, and a second reading of a wider span.
    found = [_finding("PHONE_NUMBER", 9, 18, score=0.4), _finding("CREDIT_CARD", 4, 4 + len(CARD), score=1.0),
             _finding("US_BANK_NUMBER", 4, 12, score=0.5)]
    done = redact_spans(text, found)
    assert done.text == "pay <CREDIT_CARD>."
    assert done.spans == 1
    assert {(f.type, f.start, f.end) for f in done.findings} == {(t, 4, 17) for t in ("PHONE_NUMBER", "CREDIT_CARD",
                                                                                     "US_BANK_NUMBER")}


def test_a_profane_sentence_is_not_redacted_and_still_covers_its_words_in_the_redacted_text():
    text = f"Hi. Mail {EMAIL} you damn fool. Bye."
    sentence = (text.index("Mail"), text.index("fool.") + len("fool."))
    flagged = Finding(kind="moderation", type="PROFANITY", chunk_ordinal=0, score=0.95, start=sentence[0],
                      end=sentence[1], model=Producer(id="alt-profanity-check", version="1.9.1"))
    done = redact_spans(text, [_finding("EMAIL_ADDRESS", text.index(EMAIL), text.index(EMAIL) + len(EMAIL)), flagged])
    assert done.text == "Hi. Mail <EMAIL_ADDRESS> you damn fool. Bye." and done.spans == 1
    moved = next(f for f in done.findings if f.type == "PROFANITY")
    assert done.text[moved.start:moved.end] == "Mail <EMAIL_ADDRESS> you damn fool."
    assert as_extracted([moved])[0].start == sentence[0] and as_extracted([moved])[0].end == sentence[1]
    # A flagged span that starts or ends inside a replaced value covers the whole replacement.
    inside = flagged.model_copy(update={"start": text.index(EMAIL) + 3, "end": text.index(EMAIL) + 5})
    moved = redact_spans(text, [_finding("EMAIL_ADDRESS", text.index(EMAIL), text.index(EMAIL) + len(EMAIL)),
                                inside]).findings[1]
    assert done.text[moved.start:moved.end] == "<EMAIL_ADDRESS>"


def test_adjacent_findings_stay_two_replacements():
    text = "JaneDoejane@x.io"
    done = redact_spans(text, [_finding("PERSON", 0, 7), _finding("EMAIL_ADDRESS", 7, 16)])
    assert done.text == "<PERSON><EMAIL_ADDRESS>"
    assert [(f.start, f.end) for f in done.findings] == [(0, 8), (8, 23)]


def test_redacting_again_from_the_extracted_offsets_gives_the_same_text_and_findings():
    text = f"a {EMAIL} b {CARD} c"
    found = [_finding("EMAIL_ADDRESS", 2, 2 + len(EMAIL)), _finding("CREDIT_CARD", text.index(CARD), text.index(CARD) + len(CARD))]
    first = redact_spans(text, found)
    again = redact_spans(text, as_extracted(first.findings))
    assert (again.text, again.findings) == (first.text, first.findings)


def test_a_span_outside_the_text_is_refused():
    with pytest.raises(ValueError, match="outside"):
        redact_spans("short", [_finding("PERSON", 2, 9)])


def test_moderation_findings_pass_through_untouched():
    label = Finding(kind="moderation", type="ANUS_EXPOSED", chunk_ordinal=0, score=0.9, model=MODEL)
    assert redact_spans("text", [label]).findings == [label]


def test_the_sweeper_replaces_whole_values_only_and_keeps_json_keys():
    sweeper = Sweeper({"Al": "PERSON", CARD: "CREDIT_CARD", "1111": "PHONE_NUMBER", "   ": "PERSON"})
    assert sweeper.text("Al paid. Also Alfred.") == "<PERSON> paid. Also Alfred."
    assert sweeper.text(f"x{CARD}") == "x4111 <PHONE_NUMBER> <PHONE_NUMBER> <PHONE_NUMBER>"
    assert sweeper.text(f"card {CARD} end") == "card <CREDIT_CARD> end"  # the longest value wins
    doc = {"Al": ["Al", {"cell": f"{CARD}"}], "n": 3}
    assert sweeper.value(doc) == {"Al": ["<PERSON>", {"cell": "<CREDIT_CARD>"}], "n": 3}
    assert not Sweeper({}) and Sweeper({}).text("Al") == "Al"


# -- the scan step's rewrite ------------------------------------------------------------------
class PiiStandIn:
    """pii answers as the endpoint does (offsets of every planted value in each text); the other
    roles are deployed but never asked here. Counts the texts it was sent."""

    def __init__(self) -> None:
        self.texts = 0

    def available(self, role: str) -> bool:
        return role != MODEL_MODERATION

    def invoke(self, role: str, items: list[Any], checkpoints: Any = None) -> ModelResult:
        assert role == MODEL_PII
        self.texts += len(items)
        outputs = []
        for item in items:
            found = []
            for value, kind in PLANTED.items():
                at = item["text"].find(value)
                while at >= 0:
                    found.append({"type": kind, "start": at, "end": at + len(value), "score": 1.0, "recognizer": "Fake"})
                    at = item["text"].find(value, at + 1)
            outputs.append(found)
        return ModelResult(outputs=outputs, model=MODEL.model_dump())


class CrashOnce:
    """An S3 client that fails the first PutObject of keys ending in `suffix` (the Lambda ran out
    of time right there)."""

    def __init__(self, client: Any, suffix: str) -> None:
        self._client, self._suffix, self.crashed = client, suffix, False

    def put_object(self, **kwargs: Any) -> Any:
        if not self.crashed and kwargs["Key"].endswith(self._suffix):
            self.crashed = True
            raise TimeoutError("Task timed out")
        return self._client.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


OBJ = ObjectRef(bucket="test-ingest-bucket", key="mail/claim.eml", size=100, modality="document")
TEXT0 = f"From {EMAIL}: please charge {CARD}."
TEXT1 = "Nothing personal on this page."
TEXT2 = f"Call me on {PHONE} about the claim."


def _stage_raw(s3, bucket: str, extract_s: float = 1.0) -> Staging:
    """What extract leaves: page 0 in extract.json, page 1 in chunks/, the text artefact, an OCR
    answer, a segment's output and a summary of an earlier execution."""
    staging = Staging(s3, bucket, "v1", OBJ)
    page1 = [Chunk(ordinal=2, kind="page_text", text=TEXT1, page=2),
             Chunk(ordinal=3, kind="page_text", text=TEXT2, page=2, metadata={"tables": [[["phone", PHONE]]]})]
    pointer = staging.put_json("chunks/00001.json", [c.model_dump(mode="json") for c in page1])
    text = staging.put_bytes("text.txt", "\f".join([TEXT0, "ok", TEXT1, TEXT2]).encode(), scan.TEXT_PLAIN)
    staging.put_json("model-calls/ocr/abc.json", {"outputs": [{"text": TEXT2, "words": [{"text": PHONE}]}],
                                                  "model": {"id": "ocr", "version": "1"}})
    staging.put_json("segments/0000.json", ExtractManifest(
        object=OBJ, pipeline_version="v1", modality="document", detected_format="eml",
        segment={"number": 0, "first_page": 1, "last_page": 1}, chunks=[Chunk(ordinal=0, kind="page_text", text=TEXT0)],
    ).model_dump(mode="json"))
    staging.put_json("generate.json", {"generated": [{"content": {"summary": f"claim by {EMAIL}"}}]})
    staging.put_bytes("thumbnail.jpg", b"\xff\xd8 not text", "image/jpeg")
    extract = ExtractManifest(
        object=OBJ, pipeline_version="v1", modality="document", detected_format="eml",
        metadata={"headers": {"from": EMAIL, "subject": "claim"}},
        chunks=[Chunk(ordinal=0, kind="page_text", text=TEXT0, page=1, metadata={"segments": [{"text": EMAIL}]}),
                Chunk(ordinal=1, kind="page_text", text="ok", page=1)],
        chunk_pages=[Page(key=pointer.key, number=1, first_ordinal=2, count=2)],
        artefacts={"text": StagedFile(key=text.key, size=1, content_type=scan.TEXT_PLAIN)},
        timings={"extract_s": extract_s})
    staging.put_json("extract.json", extract.model_dump(mode="json"))
    return staging


def _ctx(s3, bucket: str, models: PiiStandIn) -> Context:
    return Context(s3=s3, settings=Settings.from_env({"STAGING_BUCKET": bucket}), models=models)  # type: ignore[arg-type]


def _step() -> StepResult:
    return StepResult(object=OBJ, pipeline_version="v1", step="extract", manifest={"bucket": "b", "key": "k"})


def _staged(s3, bucket: str) -> dict[str, bytes]:
    """{name under the object's staging prefix: bytes} of everything staged."""
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k.split("/", 3)[3]: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def _findings(staging: Staging) -> list[tuple[int, str, int, int, str | None]]:
    doc = ComplianceManifest.model_validate(staging.get_json(STAGED_NAME))
    return [(f.chunk_ordinal, f.type, f.start or 0, f.end or 0, f.value_hash) for f in doc.findings]


def _assert_redacted(s3, bucket: str, staging: Staging) -> None:
    staged = _staged(s3, bucket)
    for name, data in staged.items():
        for value in PLANTED:
            assert value.encode() not in data, (name, value)
    extract = ExtractManifest.model_validate(staging.get_json("extract.json"))
    page1 = [Chunk.model_validate(c) for c in staging.get_json("chunks/00001.json")]
    texts = {c.ordinal: c.text or "" for c in [*extract.chunks, *page1]}
    assert texts[0] == "From <EMAIL_ADDRESS>: please charge <CREDIT_CARD>."
    assert texts[1] == "ok" and texts[2] == TEXT1 and texts[3] == "Call me on <PHONE_NUMBER> about the claim."
    for ordinal, kind, start, end, _ in _findings(staging):
        assert texts[ordinal][start:end] == f"<{kind}>"
    assert extract.metadata["headers"]["from"] == "<EMAIL_ADDRESS>" and extract.metadata["redacted"] == {"spans": 3}
    assert staging.get_json("model-calls/ocr/abc.json") == {"redacted": True}  # extract asks OCR again
    assert ExtractManifest.model_validate(staging.get_json("segments/0000.json")).segment is None
    assert staged["thumbnail.jpg"] == b"\xff\xd8 not text"
    assert extract.artefacts["text"].size == len(staged["text.txt"])


@pytest.fixture
def redact_on(monkeypatch):
    monkeypatch.setenv(ENV_COMPLIANCE, json.dumps({"redact": True, "hash_salt": "k"}))


def test_scan_with_redaction_leaves_no_value_anywhere_in_staging(s3, staging_bucket, redact_on):
    staging = _stage_raw(s3, staging_bucket)
    models = PiiStandIn()
    scan.run(_step(), _ctx(s3, staging_bucket, models))
    _assert_redacted(s3, staging_bucket, staging)
    assert [(o, t) for o, t, *_ in _findings(staging)] == [(0, "EMAIL_ADDRESS"), (0, "CREDIT_CARD"), (3, "PHONE_NUMBER")]
    assert all(h and len(h) == 32 for *_, h in _findings(staging))


@pytest.mark.parametrize("crash_at", ["chunks/00001.json", "extract.json", "text.txt"])
def test_a_retry_after_a_crash_half_way_keeps_the_findings_and_finishes(s3, staging_bucket, redact_on, crash_at):
    staging = _stage_raw(s3, staging_bucket)
    s3.create_bucket(Bucket="other-bucket")
    clean = _stage_raw(s3, "other-bucket")
    scan.run(_step(), _ctx(s3, "other-bucket", PiiStandIn()))  # the same object without a crash
    expected = _findings(clean)

    crashing = CrashOnce(s3, crash_at)
    with pytest.raises(TimeoutError):
        scan.run(_step(), _ctx(crashing, staging_bucket, PiiStandIn()))
    retry = PiiStandIn()
    scan.run(_step(), _ctx(s3, staging_bucket, retry))

    assert _findings(staging) == expected
    _assert_redacted(s3, staging_bucket, staging)
    # Past compliance.json the retry only finishes the rewrite: nothing is sent to the model.
    assert retry.texts == 0


def test_a_retry_after_the_rewrite_finished_keeps_the_findings(s3, staging_bucket, redact_on):
    staging = _stage_raw(s3, staging_bucket)
    scan.run(_step(), _ctx(s3, staging_bucket, PiiStandIn()))
    first = _findings(staging)
    retry = PiiStandIn()
    scan.run(_step(), _ctx(s3, staging_bucket, retry))
    assert _findings(staging) == first and retry.texts == 0
    _assert_redacted(s3, staging_bucket, staging)


def test_a_redelivery_that_extracts_raw_text_again_is_scanned_and_redacted_again(s3, staging_bucket, redact_on):
    staging = _stage_raw(s3, staging_bucket)
    scan.run(_step(), _ctx(s3, staging_bucket, PiiStandIn()))
    first = _findings(staging)
    _stage_raw(s3, staging_bucket, extract_s=2.5)  # extract ran again: raw pages, another extract.json
    again = PiiStandIn()
    scan.run(_step(), _ctx(s3, staging_bucket, again))
    assert again.texts > 0 and _findings(staging) == first
    _assert_redacted(s3, staging_bucket, staging)


def test_without_redaction_nothing_staged_is_rewritten(s3, staging_bucket, monkeypatch):
    monkeypatch.delenv(ENV_COMPLIANCE, raising=False)
    staging = _stage_raw(s3, staging_bucket)
    before = _staged(s3, staging_bucket)
    scan.run(_step(), _ctx(s3, staging_bucket, PiiStandIn()))
    after = _staged(s3, staging_bucket)
    assert {k: v for k, v in after.items() if k != STAGED_NAME} == before
    assert [(o, t, s) for o, t, s, *_ in _findings(staging)][0] == (0, "EMAIL_ADDRESS", TEXT0.index(EMAIL))


def test_redaction_without_the_pii_role_fails_the_object(s3, staging_bucket, redact_on):
    _stage_raw(s3, staging_bucket)

    class NoPii(PiiStandIn):
        def available(self, role: str) -> bool:
            return role == MODEL_OCR

    from functions.compliance.settings import ComplianceConfigError

    with pytest.raises(ComplianceConfigError, match="pii model role is not deployed"):
        scan.run(_step(), _ctx(s3, staging_bucket, NoPii()))


# -- the time budget --------------------------------------------------------------------------
class Clock:
    """The scan step's monotonic clock: each pii call takes `per_call` seconds."""

    def __init__(self, per_call: float) -> None:
        self.now, self.per_call = 0.0, per_call

    def __call__(self) -> float:
        return self.now


def _budgeted(monkeypatch, per_call: float, group: int = 1) -> Clock:
    clock = Clock(per_call)
    monkeypatch.setattr(scan, "monotonic", clock)
    monkeypatch.setattr(scan, "BUDGET_GROUP", group)
    original = PiiStandIn.invoke

    def slow(self, role, items, checkpoints=None):
        clock.now += clock.per_call
        return original(self, role, items, checkpoints)

    monkeypatch.setattr(PiiStandIn, "invoke", slow)
    return clock


def test_texts_past_the_time_budget_are_counted_as_not_scanned(s3, staging_bucket, monkeypatch):
    monkeypatch.setenv(ENV_COMPLIANCE, json.dumps({"scan_budget_seconds": 25}))
    staging = _stage_raw(s3, staging_bucket)
    _budgeted(monkeypatch, per_call=10)  # calls at t=0, 10, 20; the fourth text is left
    models = PiiStandIn()
    scan.run(_step(), _ctx(s3, staging_bucket, models))
    manifest = ComplianceManifest.model_validate(staging.get_json(STAGED_NAME))
    assert models.texts == 3
    assert (manifest.not_scanned, manifest.first_not_scanned) == (1, 3)
    assert manifest.summary()["not_scanned"] == {"chunks": 1, "from_ordinal": 3}
    assert {f.type for f in manifest.findings} == {"EMAIL_ADDRESS", "CREDIT_CARD"}  # the phone was on chunk 3


def test_with_redaction_a_scan_out_of_time_fails_the_object_and_rewrites_nothing(s3, staging_bucket, monkeypatch):
    monkeypatch.setenv(ENV_COMPLIANCE, json.dumps({"redact": True, "scan_budget_seconds": 25}))
    _stage_raw(s3, staging_bucket)
    before = _staged(s3, staging_bucket)
    _budgeted(monkeypatch, per_call=10)
    with pytest.raises(redaction.RedactionIncompleteError, match="1 chunk texts were not scanned"):
        scan.run(_step(), _ctx(s3, staging_bucket, PiiStandIn()))
    assert _staged(s3, staging_bucket) == before
