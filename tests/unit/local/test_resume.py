"""What a rerun in the same work folder starts from: the same sample bytes, stale pgserver
handles dropped, and the store states that say a file was skipped as up to date."""
from __future__ import annotations

import hashlib
import json
import os

from local.results import _drop_dead_handles
from local.run import _prepare_folder, skipped_up_to_date


def _digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()  # noqa: S324
            for p in folder.rglob("*") if p.is_file()}


def test_a_rerun_keeps_the_generated_sample_bytes_so_nothing_becomes_a_new_version(tmp_path):
    # Given the sample set a first run generated (PDF, Office and e-mail files carry timestamps)
    first = _digests(_prepare_folder(None, tmp_path, fresh=True))
    # When a rerun prepares it again (without --fresh), the files are the same bytes
    assert _digests(_prepare_folder(None, tmp_path, fresh=False)) == first


def test_pgserver_handles_of_killed_processes_are_dropped(tmp_path):
    # Given the handle list of a server whose first user was killed with -9 (pid gone)
    (tmp_path / ".handle_pids.json").write_text(json.dumps([999999999, os.getpid()]))
    _drop_dead_handles(tmp_path)
    # Then only live users remain, so the last one to exit stops the server
    assert json.loads((tmp_path / ".handle_pids.json").read_text()) == [os.getpid()]


def _exited(name: str, output: dict) -> dict:
    return {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name, "output": json.dumps(output)}}


def test_files_the_store_state_reports_up_to_date_are_counted_as_skipped():
    events = [
        _exited("text: store", {"key": "a.txt", "status": "up_to_date", "modality": "text"}),
        _exited("text: store", {"key": "b.txt", "status": "succeeded", "modality": "text"}),
        _exited("text: extract", {"up_to_date": True, "status": "up_to_date"}),  # not store: not counted
        {"type": "TaskSucceeded", "taskSucceededEventDetails": {"output": '{"Payload": {"status": "up_to_date"}}'}},
    ]
    assert skipped_up_to_date([events, [_exited("image: store", {"status": "up_to_date"})]]) == 2
