"""Fixtures to run a bench/ script that starts the whole local pipeline (PostgreSQL, moto, Kafka,
the model containers) in its tiny mode as a subprocess, and to read the tables it prints.

One model worker per container (SAGEMAKER_MODEL_SERVER_WORKERS=1, the container's own setting)
and one OpenMP thread per process halve the containers' start-up on a 2-core machine; the
figures are not what these runs check, only that the script runs and its counts add up."""
from __future__ import annotations

import os
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
def run_bench(tmp_path):
    """run_bench("bench/x.py", *args) (or "-m", "bench.x", ...) -> the finished process; its exit
    status 0 is asserted. Afterwards every PostgreSQL left running on a data directory under
    tmp_path (the scripts' --work) is stopped (bench.pipeline.stop_postgres says why one is left)."""
    from bench.pipeline import stop_postgres

    def run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        env = {**os.environ, "SAGEMAKER_MODEL_SERVER_WORKERS": "1", "OMP_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
        assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        return done
    yield run
    for pgdata in tmp_path.rglob("pg"):
        if (pgdata / "postmaster.pid").exists():
            stop_postgres(pgdata)
