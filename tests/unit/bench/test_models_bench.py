"""bench/models.py runs in a tiny mode (one role, one batch size), so the benchmark cannot rot
unnoticed: it crashed for a while on output_fn's return value."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_model_benchmark_runs_the_real_chain_in_a_tiny_mode():
    done = subprocess.run([sys.executable, "bench/models.py", "--roles", "text_embedding", "--sizes", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    [row] = [line for line in done.stdout.splitlines() if line.startswith("| text_embedding | 1 |")]
    assert float(row.split("|")[5]) > 0  # items per second, measured
