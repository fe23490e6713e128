"""bench/vectors.py in a tiny mode: 2,000 clustered vectors, one HNSW build, two ef_search values."""
from __future__ import annotations

EF = ("10", "64")


def test_the_vector_benchmark_measures_exact_and_hnsw_search(run_bench, bench_table):
    done = run_bench("bench/vectors.py", "--rows", "2000", "--queries", "20", "--builds", "16:64",
                     "--ef", ",".join(EF), "--exact-queries", "5")
    rows = bench_table(done.stdout, "| m | ef_construction |")
    assert [(r["m"], r["ef_construction"], r["ef_search"]) for r in rows] == [
        ("exact", "-", "-"), *(("16", "64", ef) for ef in EF)]
    for r in rows:
        assert 0.0 <= float(r["recall@10"]) <= 1.0
        assert 0 < float(r["p50 ms"]) <= float(r["p95 ms"])
    exact, low, high = rows
    assert float(exact["recall@10"]) == 1.0  # the SQL's sequential scan against numpy's top 10
    assert float(high["recall@10"]) >= 0.9  # 2,000 clustered rows: the graph finds (nearly) all
    assert float(low["build s"]) >= 0
