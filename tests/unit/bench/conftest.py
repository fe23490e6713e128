"""Fixtures to run a bench/ script in its tiny mode as a subprocess and read the tables it prints."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.tables import markdown_rows

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def bench_table():
    """bench_table(stdout, "| header starts") -> the rows of that printed markdown table as {column: cell}."""
    return markdown_rows


@pytest.fixture
def run_bench():
    """run_bench("bench/x.py", *args) -> the finished process; its exit status 0 is asserted."""
    def run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stderr[-4000:]}"
        return done
    return run
