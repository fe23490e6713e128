"""bench/duplicates.py in a tiny mode: 5 files of which 2 are copies, twice through the four
steps' handlers (without and with reuse) on the whole local pipeline's stand-ins."""
from __future__ import annotations

import ast
import re


def test_the_duplicates_benchmark_saves_model_calls(run_bench, bench_table, tmp_path):
    done = run_bench("bench/duplicates.py", "--files", "5", "--duplicates", "0.4", "--work", str(tmp_path))
    out = done.stdout
    assert re.search(r"^5 files, 2 duplicates \(40%\)", out, re.M), out
    rows = {r["model role"]: r for r in bench_table(out, "| model role |")}
    without, with_reuse = (int(rows["all"][c]) for c in ("invocations without reuse", "with reuse"))
    assert rows["all"]["saved"].startswith(f"{without - with_reuse} (")
    assert without > with_reuse > 0  # the copies' calls were saved, the originals' made
    for role, r in rows.items():
        assert int(r["with reuse"]) <= int(r["invocations without reuse"]), role
    passes = {}
    for line in out.splitlines():
        m = re.match(r"^(without reuse|with reuse): [\d.]+ s, (\{.*\}), (\d+) reused, (\d+) chunks and (\d+) vectors stored$", line)
        if m:
            passes[m.group(1)] = (ast.literal_eval(m.group(2)), *(int(g) for g in m.groups()[2:]))
    assert passes["without reuse"][0] == passes["with reuse"][0] == {"succeeded": 5}
    assert (passes["without reuse"][1], passes["with reuse"][1]) == (0, 2)  # each copy reused its first's result
    assert passes["without reuse"][2:] == passes["with reuse"][2:]  # the same rows stored either way
    assert passes["with reuse"][2] > 0
