"""Unsafe content in images and video keyframes, through the moderation model role (NudeNet).

The endpoint returns every detection of its 18 body-part classes; an image is flagged with a
label when the label is one the policy names (catalog MODERATION_LABELS) at a score of at least
the policy's threshold (catalog MODERATION_THRESHOLD, cdk.json compliance.moderation_threshold).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from functions.compliance.findings import MODERATION, Finding, Producer
from functions.compliance.settings import CompliancePolicy


def flagged(ordinal: int, output: Any, model: Producer, policy: CompliancePolicy, *, page: Optional[int] = None,
            time_start: Optional[float] = None, time_end: Optional[float] = None) -> list[Finding]:
    """One finding per flagging label of one image (its best detection; the boxes of all of them
    in metadata). Raises ValueError for an output that is not {"labels": [...]}."""
    if not isinstance(output, dict) or not isinstance(output.get("labels"), list):
        raise ValueError("the moderation model returned no {\"labels\": [...]} for an image")
    best: dict[str, dict[str, Any]] = {}
    boxes: dict[str, list[Any]] = {}
    for det in output["labels"]:
        label, score = str(det["label"]), float(det["score"])
        if label not in policy.moderation_labels or score < policy.moderation_threshold:
            continue
        boxes.setdefault(label, []).append(det.get("box"))
        if label not in best or score > float(best[label]["score"]):
            best[label] = det
    return [Finding(kind=MODERATION, type=label, chunk_ordinal=ordinal, score=float(det["score"]),
                    recognizer=model.id, page=page, time_start=time_start, time_end=time_end,
                    metadata={"boxes": boxes[label]}, model=model)
            for label, det in sorted(best.items())]


def scan_images(ordinals: Sequence[int], outputs: Sequence[Any], model: Producer, policy: CompliancePolicy,
                where: dict[int, dict[str, Any]]) -> list[Finding]:
    """The flagging findings of images `ordinals` (their chunks' page and time range in `where`)."""
    out: list[Finding] = []
    for ordinal, output in zip(ordinals, outputs, strict=True):
        out.extend(flagged(ordinal, output, model, policy, **where.get(ordinal, {})))
    return out
