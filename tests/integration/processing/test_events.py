"""The JSON samples under tests/events/ parse with the step models and drive the handlers."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from lambda_context import FakeLambdaContext

from functions.common.events import FailureInput, StepResult, WorkItem
from functions.migrate.runner import discover

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name, model", [
    ("extract_work_item.json", WorkItem),
    ("generate_step_result.json", StepResult),
    ("store_step_result.json", StepResult),
    ("record_failure_input.json", FailureInput),
])
def test_event_samples_match_the_step_models(name, model):
    model.model_validate(_load(name))


def test_store_passes_an_up_to_date_result_through(bare_pipeline):
    result = bare_pipeline.invoke("store", _load("store_step_result.json"))
    assert result["status"] == "up_to_date" and result["chunks"] == 0


def test_record_failure_sample_writes_the_error_message_as_reason(bare_pipeline):
    result = bare_pipeline.invoke("record_failure", _load("record_failure_input.json"))
    assert result == {**result, "status": "failed", "reason": "corrupt or truncated PDF: EOF marker not found"}


def test_migrate_custom_resource_create_reports_the_schema_version(db, monkeypatch):
    from functions.migrate import handler

    handler.database.clear()
    result = handler.lambda_handler(_load("migrate_custom_resource_create.json"), FakeLambdaContext())
    handler.database.clear().close()
    assert result["PhysicalResourceId"] == "pipeline-schema"
    assert result["Data"]["SchemaVersion"] == str(discover()[-1].version) and result["Data"]["Applied"] == ""
