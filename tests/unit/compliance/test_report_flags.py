"""The local report's per-file compliance line (local/report.py) from objects.compliance."""
from __future__ import annotations

from local.report import compliance_text


def test_counts_per_type_and_label_are_shown_per_file():
    summary = {"counts": {"pii": {"EMAIL_ADDRESS": 2, "CREDIT_CARD": 1}, "moderation": {}}, "unavailable": []}
    assert compliance_text(summary) == "pii: CREDIT_CARD 1, EMAIL_ADDRESS 2; moderation: none"


def test_a_role_that_was_not_there_is_not_reported_as_clean():
    summary = {"counts": {"pii": {}, "moderation": {}}, "unavailable": ["moderation"]}
    assert compliance_text(summary) == "pii: none; moderation: none (images not scanned: model not available)"
    # Profanity comes from the pii role: found with the moderation role missing, it is still shown.
    summary = {"counts": {"pii": {}, "moderation": {"PROFANITY": 1}}, "unavailable": ["moderation"]}
    assert compliance_text(summary) == "pii: none; moderation: PROFANITY 1 (images not scanned: model not available)"
    summary = {"counts": {"pii": {}, "moderation": {}}, "unavailable": ["pii"]}
    assert compliance_text(summary) == ("pii: not scanned (model not available); "
                                        "moderation: none (text not scanned: model not available)")
    assert compliance_text(None) is None  # never scanned: nothing claimed
