"""`python -m local run`: argparse, --help, and arguments that fail before anything starts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from local import run as local_run
from local.workdir import acquire

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("command", [["--help"], ["run", "--help"], ["search", "--help"], ["serve", "--help"]])
def test_every_command_answers_help_without_starting_anything(command, tmp_path):
    done = subprocess.run([sys.executable, "-m", "local", *command], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m local")


def test_help_is_never_taken_for_a_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as ended:
        local_run.main(["run", "--help", "--work", str(tmp_path / "work")])
    assert ended.value.code == 0 and "--fresh" in capsys.readouterr().out
    assert not (tmp_path / "work").exists()  # nothing started, nothing created


@pytest.mark.parametrize("argv", [["run", "no-such-folder"], ["run", "--frsh"], ["rnu"]])
def test_a_misspelt_folder_or_option_fails_before_anything_starts(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    work = tmp_path / "work"
    with pytest.raises(SystemExit) as ended:
        local_run.main([*argv, "--work", str(work)] if argv[0] == "run" else argv)
    assert ended.value.code == 2
    assert "error:" in capsys.readouterr().err
    assert not work.exists()


def test_an_empty_folder_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        local_run.main(["run", str(tmp_path / "empty"), "--work", str(tmp_path / "work")])
    assert "no files in" in capsys.readouterr().err


def test_a_second_run_in_a_busy_work_folder_refuses_and_touches_nothing(tmp_path, capsys):
    # Given a run holding the work folder, with its results there
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("hello")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "report.html").write_text("the first run's report")
    with acquire(tmp_path / "work"):
        # When a second run starts there
        code = local_run.main(["run", str(tmp_path / "in"), "--work", str(tmp_path / "work")])
    # Then it refuses, says why, and leaves the first run's files alone
    assert code == 3
    assert "another run" in capsys.readouterr().err
    assert (tmp_path / "work" / "report.html").read_text() == "the first run's report"
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["report.html"]


def test_the_resume_line_says_what_is_skipped_and_what_is_reused():
    line = local_run.resume_line({"files": 10, "reused uploads": 10, "stored": 5, "failed before": 1, "staged": 2,
                                  "checkpoints": 7}, restored_keys=80)
    assert line.startswith("resuming: 5 of 10 files already stored")
    assert "2 interrupted with staged work (7 model-call checkpoints kept)" in line and "2 not started" in line
    assert local_run.resume_line({"files": 3, "reused uploads": 0, "stored": 0, "failed before": 0, "staged": 0,
                                  "checkpoints": 0}, restored_keys=0).startswith("nothing kept")
