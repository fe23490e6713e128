"""bench/models.py runs in a tiny mode (one role, one batch size), so the benchmark cannot rot
unnoticed: it crashed for a while on output_fn's return value."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_model_benchmark_runs_the_chain_the_bare_model_and_the_data_path_in_a_tiny_mode(tmp_path):
    figures = tmp_path / "figures.json"
    figures.write_text(json.dumps({"sources": {"other": {"measured": False}}, "figures": {"other": {"speech": {}}}}))
    done = subprocess.run([sys.executable, "bench/models.py", "--roles", "text_embedding", "--sizes", "1",
                           "--text-words", "20", "--min-items", "8", "--figures-out", str(figures), "--source", "tiny"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    [row] = [line for line in done.stdout.splitlines() if line.startswith("| text_embedding | 1 |")]
    assert float(row.split("|")[5]) > 0  # items per second, measured
    [summary] = [line for line in done.stdout.splitlines() if line.startswith("| text_embedding | ") and "(batch 1)" in line]
    assert "float32" in summary
    written = json.loads(figures.read_text())
    assert written["sources"]["other"] == {"measured": False}  # other sources kept
    measured = written["figures"]["tiny"]["text_embedding"]
    assert measured["chain_batch"] == 1 and measured["device"] == "cpu"
    assert min(measured["chain_items_per_s"], measured["model_items_per_s"], measured["data_path_items_per_s"]) > 0
    assert written["sources"]["tiny"]["measured"] is True
