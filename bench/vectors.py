"""Vector search in PostgreSQL + pgvector (pgserver): HNSW against exact search at 100k vectors.

    .venv/bin/python bench/vectors.py [--rows 100000] [--queries 200] [--data clustered|random]
        [--builds 16:64,16:128] [--ef 20,40,64,100,200]

Loads `--rows` unit vectors of the text embedder's dimension (384, all-MiniLM-L6-v2) into a
table in a throw-away pgserver cluster; `clustered` draws them around 200 random centres (as
embeddings of real text cluster by topic), `random` uniformly on the sphere (the hard case
for any graph index). Queries are held-out vectors from the same distribution; the truth is
the exact top 10 by cosine distance (numpy). Prints exact-scan latency and recall (the SQL
checked against that truth), then per HNSW build (m:ef_construction) the build time and, per
hnsw.ef_search, recall@10 and p50/p95 latency of
`ORDER BY embedding <=> $1 LIMIT 10` (one query at a time, over a local socket, plan checked
to use the index). The pgvector defaults (m=16, ef_construction=64, ef_search=40) are what
migrations/V001__init.sql gets, since it sets no WITH options.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DIMENSION = 384  # all-MiniLM-L6-v2
K = 10


def make_data(rows: int, queries: int, kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    total = rows + queries
    if kind == "random":
        data = rng.normal(size=(total, DIMENSION)).astype(np.float32)
    else:
        centres = rng.normal(size=(200, DIMENSION)).astype(np.float32)
        data = centres[rng.integers(0, len(centres), total)] + rng.normal(scale=0.6, size=(total, DIMENSION)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    return data[:rows], data[rows:]


def truth(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    out = []
    for start in range(0, len(queries), 50):
        scores = queries[start:start + 50] @ data.T
        out.append(np.argsort(-scores, axis=1)[:, :K])
    return np.vstack(out)


def _load(conn, data: np.ndarray) -> float:
    started = time.perf_counter()
    conn.execute("CREATE TABLE bench_vectors (id int PRIMARY KEY, embedding vector(384) NOT NULL)")
    with conn.cursor().copy("COPY bench_vectors (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "vector"])
        for i, v in enumerate(data):
            copy.write_row((i, v))
    conn.execute("ANALYZE bench_vectors")
    return time.perf_counter() - started


def _queries(conn, queries: np.ndarray, ids: np.ndarray | None) -> tuple[float, float, float]:
    """(recall@10 or nan, p50 ms, p95 ms) of one query at a time."""
    latencies, hits = [], 0
    sql = "SELECT id FROM bench_vectors ORDER BY embedding <=> %s LIMIT 10"
    for q in queries[:5]:  # warm the cache and the plan
        conn.execute(sql, (q,)).fetchall()
    for i, q in enumerate(queries):
        start = time.perf_counter()
        found = [r[0] for r in conn.execute(sql, (q,)).fetchall()]
        latencies.append((time.perf_counter() - start) * 1000)
        if ids is not None:
            hits += len(set(found) & set(ids[i].tolist()))
    recall = hits / (K * len(queries)) if ids is not None else float("nan")
    return recall, float(np.percentile(latencies, 50)), float(np.percentile(latencies, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", choices=("clustered", "random"), default="clustered")
    parser.add_argument("--builds", default="16:64,16:128", help="m:ef_construction pairs")
    parser.add_argument("--ef", default="20,40,64,100,200", help="hnsw.ef_search values")
    parser.add_argument("--exact-queries", type=int, default=30)
    args = parser.parse_args()

    import pgserver
    import psycopg
    from pgvector.psycopg import register_vector

    data, queries = make_data(args.rows, args.queries, args.data)
    ids = truth(data, queries)
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        server = pgserver.get_server(tmp, cleanup_mode="stop")
        try:
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                register_vector(conn)
                version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
                pg = conn.execute("SHOW server_version").fetchone()[0]
                print(f"# PostgreSQL {pg}, pgvector {version}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
                      f"{args.rows} x {DIMENSION} {args.data} unit vectors, {args.queries} queries, k={K}")
                print(f"load (COPY BINARY + ANALYZE): {_load(conn, data):.1f} s")
                conn.execute("SET maintenance_work_mem = '2GB'")  # the whole graph in memory while building
                conn.execute("SET max_parallel_maintenance_workers = 1")
                conn.execute("SET enable_indexscan = off")
                # The scan's answers against numpy's truth: 1.000 unless the SQL or the truth is wrong.
                exact, p50, p95 = _queries(conn, queries[: args.exact_queries], ids[: args.exact_queries])
                conn.execute("RESET enable_indexscan")
                print(f"exact (sequential scan): p50 {p50:.1f} ms, p95 {p95:.1f} ms, recall@10 {exact:.3f} against numpy's top 10")
                rows = [("exact", "-", "-", "-", exact, p50, p95)]
                for build in args.builds.split(","):
                    m, efc = (int(x) for x in build.split(":"))
                    conn.execute("DROP INDEX IF EXISTS bench_hnsw")
                    started = time.perf_counter()
                    conn.execute(f"CREATE INDEX bench_hnsw ON bench_vectors USING hnsw (embedding vector_cosine_ops) "
                                 f"WITH (m = {m}, ef_construction = {efc})")
                    built = time.perf_counter() - started
                    size = conn.execute("SELECT pg_size_pretty(pg_relation_size('bench_hnsw'))").fetchone()[0]
                    print(f"HNSW m={m} ef_construction={efc}: build {built:.1f} s, index {size}")
                    for ef in (int(x) for x in args.ef.split(",")):
                        conn.execute(f"SET hnsw.ef_search = {ef}")
                        plan = "\n".join(r[0] for r in conn.execute(
                            "EXPLAIN SELECT id FROM bench_vectors ORDER BY embedding <=> %s LIMIT 10", (queries[0],)))
                        assert "bench_hnsw" in plan, plan
                        recall, p50, p95 = _queries(conn, queries, ids)
                        print(f"  ef_search={ef:4}: recall@10 {recall:.3f}, p50 {p50:.2f} ms, p95 {p95:.2f} ms", flush=True)
                        rows.append((m, efc, f"{built:.0f}", ef, recall, p50, p95))
                print("\n| m | ef_construction | build s | ef_search | recall@10 | p50 ms | p95 ms |\n|---|---|---:|---:|---:|---:|---:|")
                for m, efc, built, ef, recall, p50, p95 in rows:
                    print(f"| {m} | {efc} | {built} | {ef} | {recall:.3f} | {p50:.2f} | {p95:.2f} |")
        finally:
            server.cleanup()


if __name__ == "__main__":
    main()
