"""The scan step's compliance settings (env COMPLIANCE, JSON, from cdk.json's `compliance`)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from functions.common.constants import ENV_COMPLIANCE
from functions.common.settings import ConfigurationError, EnvironmentSettings, parse_json

# NudeNet's classes that flag an image as unsafe (its *_COVERED, FACE_*, FEET_*, BELLY_* and ARMPITS_*
# classes do not), and the score from which they do (cdk.json compliance.moderation_threshold).
DEFAULT_MODERATION_LABELS: tuple[str, ...] = ("FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED",
                                              "FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED", "ANUS_EXPOSED")
DEFAULT_MODERATION_THRESHOLD = 0.6
# The profanity classifier's score from which a sentence flags the text (cdk.json
# compliance.profanity_threshold): 0.9 keeps the per-sentence flag's precision at about 0.875 on
# OLID (bench/README.md). The pii endpoint sends nothing below PROFANITY_MIN_SCORE (its decision
# boundary), so a lower setting could not take effect and is refused.
DEFAULT_PROFANITY_THRESHOLD = 0.9
PROFANITY_MIN_SCORE = 0.5
# Seconds the scan step spends sending chunk texts before it stops (the rest are recorded as not
# scanned): its Lambda has 15 minutes, and what it stages after scanning (compliance.json, and with
# redaction the rewritten pages) must still fit. cdk_app/orchestration.py derives it from the timeout.
DEFAULT_SCAN_BUDGET_SECONDS = 720.0


class ComplianceConfigError(ConfigurationError):
    """COMPLIANCE is missing or malformed."""


class CompliancePolicy(BaseModel):
    """Which moderation labels flag an image at which score, which profanity score flags a text, the key of the findings' value
    hashes, whether found values are redacted (functions/compliance/redaction.py) and how long
    the scan may send texts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    moderation_labels: tuple[str, ...] = DEFAULT_MODERATION_LABELS
    moderation_threshold: float = Field(default=DEFAULT_MODERATION_THRESHOLD, ge=0, le=1)
    profanity_threshold: float = Field(default=DEFAULT_PROFANITY_THRESHOLD, ge=PROFANITY_MIN_SCORE, le=1)
    # HMAC key of value_hash: the same value gives the same hash within one deployment (to count
    # distinct values, to find an object again by a value one holds), and nothing outside it.
    hash_salt: str = Field(default="local", min_length=1, repr=False)
    # cdk.json compliance.redact: stored chunk text, the lexical index, embeddings and generated
    # summaries are made from text with every value found replaced by <TYPE> (README, "Redaction").
    redact: bool = False
    scan_budget_seconds: float = Field(default=DEFAULT_SCAN_BUDGET_SECONDS, gt=0)


class ComplianceSettings(EnvironmentSettings):
    config_error = ComplianceConfigError

    policy: CompliancePolicy = Field(default_factory=CompliancePolicy, validation_alias=ENV_COMPLIANCE)

    @field_validator("policy", mode="before")
    @classmethod
    def _json(cls, raw: Any) -> Any:
        return parse_json(raw)
