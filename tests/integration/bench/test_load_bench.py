"""bench/load.py in a tiny mode: 6 files in two waves of 3 through the whole local pipeline; seed 1
gives text, a PNG, a PDF or DOCX and one corrupt PDF, so both outcomes are counted."""
from __future__ import annotations

import re


def test_the_load_benchmark_loses_and_duplicates_nothing(run_bench, tmp_path):
    done = run_bench("-m", "bench.load", "--files", "6", "--seed", "1", "--wave", "3", "--work", str(tmp_path))
    out = done.stdout
    listed = re.search(r"^files: 6 \((.*)\)$", out, re.M)
    assert listed, out
    kinds = {kind: int(n) for kind, n in re.findall(r"(\w+) (\d+)", listed.group(1))}
    assert sum(kinds.values()) == 6 and kinds.get("corrupt") == 1, out
    counts = {k: int(v) for k, v in re.findall(r"(\w+): (\d+)", re.search(r"^processed: .*$", out, re.M).group(0))}
    assert counts == {"processed": 6 - kinds["corrupt"], "failed": kinds["corrupt"], "duplicated": 0, "lost": 0,
                      "inconsistent": 0}, out
    executions = re.search(r"^executions: (\d+) \((.*)\)$", out, re.M)
    assert int(executions.group(1)) >= 2  # one wave's files cannot be in the next wave's execution
    assert executions.group(2) == f"SUCCEEDED {executions.group(1)}"
    assert float(re.search(r"files per minute: (\d+)", out).group(1)) > 0
    assert (tmp_path / "lambda.log").stat().st_size > 0  # the handlers' log went to --work
