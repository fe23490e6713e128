"""bench/large_text.py in a tiny mode: 20 KB of log lines through the four steps, each in a
process of its own, on the whole local pipeline's stand-ins."""
from __future__ import annotations

import ast
import re


def test_the_large_text_benchmark_stores_every_chunk_it_cut(run_bench, bench_table, tmp_path):
    done = run_bench("bench/large_text.py", "--mb", "0.02", "--work", str(tmp_path))
    head = re.search(r"^0\.02 MB of text -> ([\d,]+) chunks \(([\d,]+) words\), (\d+) staged pages", done.stdout, re.M)
    assert head, done.stdout
    chunks, words, pages = (int(g.replace(",", "")) for g in head.groups())
    assert chunks > 1 and words > chunks and pages == 0  # 20 KB: several chunks, all in the manifest
    rows = bench_table(done.stdout, "| step | seconds |")
    assert [r["step"] for r in rows] == ["extract", "generate", "embed", "store"]
    for r in rows:
        assert float(r["seconds"]) >= 0 and float(r["peak RSS MB"]) > 0
    stored = ast.literal_eval(rows[-1]["produced"])
    assert stored == {"status": "succeeded", "chunks": chunks, "embeddings": chunks}
