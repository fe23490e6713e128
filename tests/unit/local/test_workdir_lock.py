"""local.workdir: one run per work folder; a lock its holder never released says a run died."""
from __future__ import annotations

import json
import os

import pytest

from local.workdir import LOCK_FILE, WorkFolderBusy, acquire


def test_a_second_run_in_the_same_folder_is_refused_naming_the_holder(tmp_path):
    # Given a run holding the folder
    with acquire(tmp_path, command="python -m local run samples"):
        # When a second one tries (flock is per open file: a second open conflicts, even here)
        with pytest.raises(WorkFolderBusy) as refused:
            acquire(tmp_path)
    # Then it is told who holds it, and nothing of the holder's lock file changed meanwhile
    assert refused.value.holder["pid"] == os.getpid()
    assert "python -m local run samples" in str(refused.value) and "--work" in str(refused.value)


def test_a_clean_end_removes_the_lock_and_the_next_run_sees_no_crash(tmp_path):
    with acquire(tmp_path):
        assert (tmp_path / LOCK_FILE).is_file()
    assert not (tmp_path / LOCK_FILE).exists()
    with acquire(tmp_path) as lock:
        assert lock.previous is None


def test_a_lock_left_by_a_killed_run_is_stale_and_names_that_run(tmp_path):
    # Given the lock file of a run that was killed (its flock went with its process)
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": 999999, "started": 0, "command": "python -m local run"}))
    # When the next run starts, it takes the lock over and learns it resumes after a crash
    with acquire(tmp_path) as lock:
        assert lock.previous == {"pid": 999999, "started": 0, "command": "python -m local run"}
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
