"""bench/retrieval.py in a tiny mode: 2,000 near-duplicate-heavy chunks with text in the
pipeline's schema, 10 queries through the search's vector leg, its lexical leg and the whole
hybrid search, with the exact-scan threshold under the row count so that "search" has to take
the index path."""
from __future__ import annotations


def test_the_retrieval_benchmark_measures_the_vector_leg_against_exact_and_times_the_hybrid_search(run_bench, bench_table):
    done = run_bench("bench/retrieval.py", "--sizes", "2000", "--data", "neardup", "--queries", "10",
                     "--exact-max-rows", "1000", "--chunks-per-file", "4")
    rows = {r["method"]: r for r in bench_table(done.stdout, "| chunks | data | method |")}
    assert list(rows) == ["exact", "search", "index path", "before", "lexical leg", "hybrid search"]
    for r in rows.values():
        assert (r["chunks"], r["data"]) == ("2,000", "neardup")
        assert 0 < float(r["p50 ms"]) <= float(r["p95 ms"])
    for name in ("exact", "search", "index path", "before"):
        assert 0.0 <= float(rows[name]["recall@10"]) <= 1.0
    # the whole search ran every leg it has data for: the text leg as "search" decided, BM25
    assert rows["lexical leg"]["recall@10"] == rows["hybrid search"]["recall@10"] == "-"
    assert "text hnsw" in rows["hybrid search"]["how"] and "lexical bm25" in rows["hybrid search"]["how"]
    # the bulk load wrote what V006's triggers would have: one posting per (lexeme, chunk)
    assert " postings, index built in " in done.stdout
    assert rows["exact"]["how"] == "exact" and float(rows["exact"]["recall@10"]) == 1.0
    # 2,000 rows > --exact-max-rows 1000: the search decides for the index, as the forced path does.
    assert rows["search"]["how"] == rows["index path"]["how"] != "exact"
    assert rows["before"]["how"] == "hnsw ef_search 64"
    # 1,000 candidates re-ranked exactly out of 2,000 rows: the true top 10 (or as good as).
    assert float(rows["search"]["recall@10"]) >= 0.9
    assert float(rows["index path"]["recall@10"]) >= 0.9
