"""Fixtures to run a bench/ script in its tiny mode as a subprocess and read the tables it prints."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _markdown_rows(text: str, header: str) -> list[dict[str, str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    columns = [cell.strip() for cell in lines[start].strip().strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(columns, (cell.strip() for cell in line.strip().strip("|").split("|")))))
    return rows


@pytest.fixture
def bench_table():
    """bench_table(stdout, "| header starts") -> the rows of that printed markdown table as {column: cell}."""
    return _markdown_rows


@pytest.fixture
def run_bench():
    """run_bench("bench/x.py", *args) -> the finished process; its exit status 0 is asserted."""
    def run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stderr[-4000:]}"
        return done
    return run
