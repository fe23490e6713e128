"""Kafka batch -> ExecutionInputs with deterministic names.

The ESM delivers at least once, so a batch can arrive again. Each execution's name is a
hash of the Kafka coordinates it covers plus the pipeline version: StartExecution with a
name already used (same input) starts nothing new, and ExecutionAlreadyExists means done.
https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Iterable

from functions.common.constants import MAX_EXECUTION_NAME, MAX_STATE_PAYLOAD_BYTES, MODALITIES, UNSUPPORTED
from functions.common.events import ExecutionInput, ObjectRef
from functions.streaming.msk_batch import Coordinates, DecodedRecord

# Inputs stay far below the 256 KiB state payload limit, and the execution's output (one
# StoreResult per object, collected by the Maps) stays below it too.
MAX_EXECUTION_INPUT_BYTES = MAX_STATE_PAYLOAD_BYTES // 4
MAX_OBJECTS_PER_EXECUTION = 100
_MODALITY_ORDER = {m: i for i, m in enumerate((*MODALITIES, UNSUPPORTED))}
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_DIGEST_CHARS = 64


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


def execution_name(coordinates: Iterable[Coordinates], pipeline_version: str) -> str:
    """A StartExecution name (<= 80 chars of [A-Za-z0-9_-]) that depends only on its inputs."""
    lines = "\n".join(str(c) for c in sorted(set(coordinates)))
    digest = hashlib.sha256(f"{pipeline_version}\n{lines}".encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
    prefix = _NAME_UNSAFE.sub("_", pipeline_version)[: MAX_EXECUTION_NAME - _DIGEST_CHARS - 1] or "batch"
    return f"{prefix}-{digest}"


def _ref_bytes(ref: ObjectRef) -> int:
    return len(ref.model_dump_json().encode("utf-8")) + 1  # + the list's comma


def plan_executions(
    records: Iterable[DecodedRecord],
    pipeline_version: str,
    max_input_bytes: int = MAX_EXECUTION_INPUT_BYTES,
    max_objects: int = MAX_OBJECTS_PER_EXECUTION,
) -> list[PlannedExecution]:
    """Dedupe, then cut the batch into executions that each stay under the size limits.

    Every object lands in exactly one execution. Raises ValueError if a single object cannot
    fit (keys are at most 1 KiB, so only a tiny max_input_bytes can cause that).
    """
    items = dedupe(records)
    empty = ExecutionInput(batch_id="x" * MAX_EXECUTION_NAME, pipeline_version=pipeline_version)
    overhead = len(empty.model_dump_json().encode("utf-8"))
    chunks: list[list[tuple[ObjectRef, list[Coordinates]]]] = []
    current: list[tuple[ObjectRef, list[Coordinates]]] = []
    size = overhead
    for ref, coords in items:
        need = _ref_bytes(ref)
        if overhead + need > max_input_bytes:
            raise ValueError(f"one object reference ({need} bytes) does not fit in {max_input_bytes} bytes")
        if current and (size + need > max_input_bytes or len(current) >= max_objects):
            chunks.append(current)
            current, size = [], overhead
        current.append((ref, coords))
        size += need
    if current:
        chunks.append(current)

    planned = []
    for chunk in chunks:
        coords = [c for _, cs in chunk for c in cs]
        name = execution_name(coords, pipeline_version)
        by_modality: dict[str, list[ObjectRef]] = {}
        for ref, _ in chunk:
            by_modality.setdefault(ref.modality, []).append(ref)
        execution_input = ExecutionInput(batch_id=name, pipeline_version=pipeline_version, **by_modality)
        planned.append(PlannedExecution(name=name, input=execution_input, coordinates=sorted(coords)))
    return planned
