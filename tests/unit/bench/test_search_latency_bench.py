"""bench/search_latency.py in a tiny mode: 1,000 bulk-loaded chunks, 5 queries through every leg
and the whole search."""
from __future__ import annotations


def test_the_search_latency_benchmark_times_each_leg_and_the_whole_search(run_bench, bench_table):
    done = run_bench("bench/search_latency.py", "--sizes", "1000", "--queries", "5", "--chunks-per-file", "4")
    rows = {r["what"]: r for r in bench_table(done.stdout, "| chunks | what |")}
    assert list(rows) == ["text leg", "lexical leg (bm25)", "whole search"]
    for r in rows.values():
        assert r["chunks"] == "1,000"
        assert 0 < float(r["p50 ms"]) <= float(r["p95 ms"])
    # the bulk load wrote what V006's triggers would have: one posting per (lexeme, chunk)
    assert "1,000 chunks (" in done.stdout and " postings) loaded" in done.stdout
