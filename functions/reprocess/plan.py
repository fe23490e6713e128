"""A run's stale objects as pipeline executions with deterministic names, cut by the same
planner as the dispatcher's (functions/streaming/executions.py: `cut`, `hashed_name`)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Optional

from functions.common.events import ExecutionInput, ObjectRef
from functions.streaming.executions import (
    MAX_EXECUTION_INPUT_BYTES,
    MAX_OBJECTS_PER_EXECUTION,
    cut,
    execution_input,
    hashed_name,
    identity,
)

# Execution names: "rp-<pipeline version>-<digest>"; "rp" marks reprocessing (the dispatcher's
# names start with the pipeline version), so a re-sent batch never collides with a Kafka batch's name.
_NAME_TAG = "rp"


def execution_name(refs: Iterable[ObjectRef], pipeline_version: str,
                   attempts: Optional[Mapping[tuple[str, str, str], str]] = None) -> str:
    """A StartExecution name (<= 80 chars of [A-Za-z0-9_-]) that depends only on what it carries.

    The same objects for the same pipeline version always get the same name, so re-sending a
    batch that is running or done starts nothing (ExecutionAlreadyExists). `attempts` (from
    `core.stale`) marks objects sent again after a recorded failure: a newer failure, a new name.
    https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
    """
    attempts = attempts or {}
    lines = ("\x1f".join((*ident, attempts[ident]) if ident in attempts else ident)
             for ident in sorted(identity(ref) for ref in refs))
    return hashed_name(pipeline_version, lines, tag=_NAME_TAG)


def plan(refs: Sequence[ObjectRef], pipeline_version: str,
         max_objects: int = MAX_OBJECTS_PER_EXECUTION,
         max_input_bytes: int = MAX_EXECUTION_INPUT_BYTES,
         attempts: Optional[Mapping[tuple[str, str, str], str]] = None) -> list[tuple[str, ExecutionInput]]:
    """Cut stale refs into (name, ExecutionInput) pairs under the dispatcher's size limits.

    The refs are sorted first, so the same set of stale objects (with the same `attempts`,
    see `core.Checked`) always yields the same names. Raises ValueError if a single object
    cannot fit in `max_input_bytes`.
    """
    planned = []
    for chunk in cut(sorted(refs, key=identity), pipeline_version, lambda ref: ref, max_input_bytes, max_objects):
        name = execution_name(chunk, pipeline_version, attempts)
        planned.append((name, execution_input(name, pipeline_version, chunk)))
    return planned
