"""Kafka batch -> ExecutionInputs with deterministic names; the one planner and name hasher
of pipeline executions (reprocessing plans and names its executions with `cut`,
`execution_input` and `hashed_name` too: functions/reprocess/plan.py).

The ESM delivers at least once, so a batch can arrive again. Each execution's name is a
hash of the Kafka coordinates it covers plus the pipeline version: StartExecution with a
name already used (same input) starts nothing new, and ExecutionAlreadyExists means done.
https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from functions.common.constants import (
    MAX_EXECUTION_NAME,
    MAX_HISTORY_EVENTS,
    MAX_STATE_PAYLOAD_BYTES,
    MODALITIES,
    UNSUPPORTED,
)
from functions.common.events import ExecutionInput, ObjectRef
from functions.streaming.msk_batch import Coordinates, DecodedRecord

# Inputs stay far below the 256 KiB state payload limit, and the execution's output (one
# StoreResult per object, collected by the Maps) stays below it too.
MAX_EXECUTION_INPUT_BYTES = MAX_STATE_PAYLOAD_BYTES // 4

# History events one batch execution can write in the worst case (every Task uses all its
# retries and takes the longest path, a long object's segments run as child executions of their
# own): EXECUTION_FIXED_EVENTS + objects x EXECUTION_EVENTS_PER_OBJECT. Computed from the
# definition by step_functions.definition.history_cost (this module ships without it) and pinned
# to it by tests/unit/streaming/test_executions.py; regenerate both when the definition changes.
EXECUTION_FIXED_EVENTS = 30
EXECUTION_EVENTS_PER_OBJECT = 402  # 346 before the scan step (issue 27)
# Headroom under the 25,000-event quota (an execution that passes it fails with every object in
# it): a tenth, for events the count above cannot foresee.
HISTORY_EVENTS_BUDGET = MAX_HISTORY_EVENTS * 9 // 10
# The most objects one execution carries: what the history budget allows, and never more than
# 100 (a failed execution is redone whole: smaller ones waste less).
MAX_OBJECTS_PER_EXECUTION = min(100, (HISTORY_EVENTS_BUDGET - EXECUTION_FIXED_EVENTS) // EXECUTION_EVENTS_PER_OBJECT)
_MODALITY_ORDER = {m: i for i, m in enumerate((*MODALITIES, UNSUPPORTED))}
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_DIGEST_CHARS = 64
# A tagged name gives 16 of the digest's hex digits to its tag and a longer readable label.
_TAGGED_DIGEST_CHARS = 48
T = TypeVar("T")


@dataclass
class PlannedExecution:
    name: str
    input: ExecutionInput
    coordinates: list[Coordinates] = field(default_factory=list)

    def input_json(self) -> str:
        return self.input.model_dump_json()


def identity(ref: ObjectRef) -> tuple[str, str, str]:
    """What makes two refs the same work: one version of one object."""
    return (ref.bucket, ref.key, ref.version_id or "")


def _sequencer_rank(ref: ObjectRef) -> tuple[int, str]:
    # S3 sequencers are hex of varying length; compare them right-aligned.
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
    seq = (ref.sequencer or "").upper()
    return (len(seq.lstrip("0")), seq.lstrip("0"))


def dedupe(records: Iterable[DecodedRecord]) -> list[tuple[ObjectRef, list[Coordinates]]]:
    """One entry per object version, with every Kafka coordinate that carried it.

    For an unversioned bucket (no version id) the latest write wins (highest sequencer).
    Returned in a stable order: modality, bucket, key, version.
    """
    kept: dict[tuple[str, str, str], tuple[ObjectRef, list[Coordinates]]] = {}
    for record in records:
        ident = identity(record.ref)
        if ident not in kept:
            kept[ident] = (record.ref, [record.coordinates])
            continue
        ref, coords = kept[ident]
        coords.append(record.coordinates)
        if _sequencer_rank(record.ref) > _sequencer_rank(ref):
            kept[ident] = (record.ref, coords)
    return sorted(kept.values(), key=lambda item: (_MODALITY_ORDER[item[0].modality], identity(item[0])))


def hashed_name(label: str, lines: Iterable[str], tag: str = "") -> str:
    """A StartExecution name (<= 80 chars of [A-Za-z0-9_-]) that depends only on its inputs.

    The name is `label` made safe and cut short, then the sha256 of `label` and `lines`:
    "<label>-<64 hex digits>" ("batch" for an empty label), or with a `tag`
    "<tag>-<label>-<48 hex digits>". Callers pass `lines` in a fixed order.
    """
    digest_chars = _TAGGED_DIGEST_CHARS if tag else _DIGEST_CHARS
    joined = "\n".join(lines)
    digest = hashlib.sha256(f"{label}\n{joined}".encode()).hexdigest()[:digest_chars]
    safe = _NAME_UNSAFE.sub("_", label)
    if tag:
        return f"{tag}-{safe[: MAX_EXECUTION_NAME - digest_chars - len(tag) - 2]}-{digest}"
    return f"{safe[: MAX_EXECUTION_NAME - digest_chars - 1] or 'batch'}-{digest}"


def execution_name(coordinates: Iterable[Coordinates], pipeline_version: str) -> str:
    """The name of the execution that carries the records at `coordinates` (see hashed_name)."""
    return hashed_name(pipeline_version, (str(c) for c in sorted(set(coordinates))))


def _ref_bytes(ref: ObjectRef) -> int:
    return len(ref.model_dump_json().encode("utf-8")) + 1  # + the list's comma


def cut(
    items: Iterable[T],
    pipeline_version: str,
    ref: Callable[[T], ObjectRef],
    max_input_bytes: int = MAX_EXECUTION_INPUT_BYTES,
    max_objects: int = MAX_OBJECTS_PER_EXECUTION,
) -> list[list[T]]:
    """Cut `items` (in the order given; `ref(item)` is the object each carries) into runs whose
    ExecutionInput stays within `max_input_bytes` and `max_objects`.

    Greedy, and each run starts afresh at its first item, so a suffix of the items that begins
    at a run's first item is cut into exactly the same runs (dispatch relies on that). Raises
    ValueError if a single object cannot fit (keys are at most 1 KiB, so only a tiny
    max_input_bytes can cause that).
    """
    empty = ExecutionInput(batch_id="x" * MAX_EXECUTION_NAME, pipeline_version=pipeline_version)
    overhead = len(empty.model_dump_json().encode("utf-8"))
    chunks: list[list[T]] = []
    current: list[T] = []
    size = overhead
    for item in items:
        need = _ref_bytes(ref(item))
        if overhead + need > max_input_bytes:
            raise ValueError(f"one object reference ({need} bytes) does not fit in {max_input_bytes} bytes")
        if current and (size + need > max_input_bytes or len(current) >= max_objects):
            chunks.append(current)
            current, size = [], overhead
        current.append(item)
        size += need
    if current:
        chunks.append(current)
    return chunks


def execution_input(name: str, pipeline_version: str, refs: Sequence[ObjectRef]) -> ExecutionInput:
    """The state machine's input for one execution: its refs grouped by modality, in order."""
    by_modality: dict[str, list[ObjectRef]] = {}
    for ref in refs:
        by_modality.setdefault(ref.modality, []).append(ref)
    return ExecutionInput(batch_id=name, pipeline_version=pipeline_version, **by_modality)


def plan_executions(
    records: Iterable[DecodedRecord],
    pipeline_version: str,
    max_input_bytes: int = MAX_EXECUTION_INPUT_BYTES,
    max_objects: int = MAX_OBJECTS_PER_EXECUTION,
) -> list[PlannedExecution]:
    """Dedupe, then cut the batch into executions that each stay under the size limits.

    Every object lands in exactly one execution. Raises ValueError if a single object cannot
    fit (see `cut`).
    """
    planned = []
    for chunk in cut(dedupe(records), pipeline_version, lambda item: item[0], max_input_bytes, max_objects):
        coords = [c for _, cs in chunk for c in cs]
        name = execution_name(coords, pipeline_version)
        planned.append(PlannedExecution(name=name, input=execution_input(name, pipeline_version, [r for r, _ in chunk]),
                                        coordinates=sorted(coords)))
    return planned
