"""Retrieval: recall@10 and latency of the search's vector leg against exact search.

    PYTHONPATH=. .venv/bin/python bench/retrieval.py [--sizes 10000,100000]
        [--data random,clustered,neardup] [--queries 100]

In a throw-away pgserver cluster with the pipeline's own schema (every file of migrations/,
so the partial HNSW index of V001 with its build parameters), loads `size` synthetic text
embeddings (384 dimensions, all-MiniLM-L6-v2's) as chunks of objects, builds the index, and
runs `--queries` queries one at a time through functions/search/vector.py `nearest`, the code the
search function and `python -m local search` run:

* **exact**: `nearest(exact=True)`, every row compared: the truth;
* **search**: `nearest()` as deployed: exact below `Tuning.exact_max_rows` rows, otherwise
  `Tuning.candidates` from the index at `Tuning.ef_search`, re-ranked exactly (iterative scan on
  pgvector >= 0.8);
* **index path**: the same with the index forced (what the search does above the threshold);
* **before**: what search did before (HNSW, LIMIT 10, the database's hnsw.ef_search = 64 of V002).

Data: **random** (uniform on the sphere: the worst case for any graph index), **clustered**
(200 topics + noise, like embeddings of real text), **neardup** (80 % of the rows in groups of
200 near-copies of one vector, like the pages of a manual that differ by a number, the rest
clustered; half the queries near a group). Prints one table row per (size, data, method) with
recall@10 (mean over queries of |found & exact| / 10), p50 and p95 latency in ms, and the
PostgreSQL and pgvector versions measured.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from functions.common.constants import DB_SCHEMA, MODEL_TEXT_EMBEDDING  # noqa: E402
from functions.search.filters import Filters, Scope, filter_sql  # noqa: E402
from functions.search.legs import Leg  # noqa: E402
from functions.search.tuning import Tuning  # noqa: E402
from functions.search.vector import (  # noqa: E402
    ITERATIVE_SCAN_VERSION,
    nearest,
    nearest_sql,
    pgvector_version,
    vector_literal,
)

DIMENSION = 384
K = 10
ROWS_PER_OBJECT = 1000
S = DB_SCHEMA


def recall_at(k: int, found: Sequence[int], truth: Sequence[int]) -> float:
    """|found[:k] & truth[:k]| / min(k, |truth|)."""
    want = set(truth[:k])
    return 1.0 if not want else len(set(found[:k]) & want) / len(want)


def make_data(rows: int, queries: int, kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)

    def unit(x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    def clustered(n: int) -> np.ndarray:
        centres = np.random.default_rng(seed + 1).normal(size=(200, DIMENSION))
        return unit(centres[rng.integers(0, 200, n)] + rng.normal(scale=0.6, size=(n, DIMENSION)))

    if kind == "random":
        return unit(rng.normal(size=(rows, DIMENSION))), unit(rng.normal(size=(queries, DIMENSION)))
    if kind == "clustered":
        both = clustered(rows + queries)
        return both[:rows], both[rows:]
    # neardup: groups of 200 near-copies (noise of norm ~0.1 around a base vector) + clustered rest
    dup_rows = int(rows * 0.8)
    bases = unit(rng.normal(size=(max(1, dup_rows // 200), DIMENSION)))
    group = rng.integers(0, len(bases), dup_rows)
    dups = unit(bases[group] + rng.normal(scale=0.1 / np.sqrt(DIMENSION), size=(dup_rows, DIMENSION)))
    data = np.vstack([dups, clustered(rows - dup_rows)])
    near = unit(bases[rng.integers(0, len(bases), queries // 2)]
                + rng.normal(scale=0.3 / np.sqrt(DIMENSION), size=(queries // 2, DIMENSION)))
    return data[rng.permutation(rows)], np.vstack([near, clustered(queries - queries // 2)])


def load(conn, data: np.ndarray) -> float:
    """Objects of ROWS_PER_OBJECT chunks each, one text embedding per chunk; then the index."""
    from pgvector import Vector

    conn.execute(f"TRUNCATE {S}.objects RESTART IDENTITY CASCADE")
    conn.execute(f"DROP INDEX IF EXISTS {S}.embeddings_text_384_hnsw")
    objects = (len(data) + ROWS_PER_OBJECT - 1) // ROWS_PER_OBJECT
    with conn.cursor().copy(f"COPY {S}.objects (bucket, key, size, modality, pipeline_version, status) FROM STDIN") as copy:
        for o in range(objects):
            copy.write_row(("bench", f"doc/{o:05d}.txt", 1, "text", "bench", "succeeded"))
    with conn.cursor().copy(f"COPY {S}.chunks (object_id, ordinal, kind) FROM STDIN") as copy:
        for i in range(len(data)):
            copy.write_row((i // ROWS_PER_OBJECT + 1, i % ROWS_PER_OBJECT, "text"))
    with conn.cursor().copy(f"COPY {S}.embeddings (object_id, chunk_id, model_role, model_id, model_version,"
                            f" dimension, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "int8", "text", "text", "text", "int4", "vector"])
        for i, v in enumerate(data):
            copy.write_row((i // ROWS_PER_OBJECT + 1, i + 1, MODEL_TEXT_EMBEDDING, "bench", "bench", DIMENSION, Vector(v)))
    conn.execute("ANALYZE")
    started = time.perf_counter()
    conn.execute(index_statement())
    return time.perf_counter() - started


def index_statement(name: str = "embeddings_text_384_hnsw") -> str:
    """The index as the newest migration that creates it does (build parameters included)."""
    found = None
    for path in sorted((ROOT / "migrations").glob("V*.sql")):
        for statement in path.read_text().split(";"):
            lines = [line for line in statement.splitlines() if not line.strip().startswith("--")]
            sql = " ".join(" ".join(lines).split())
            if sql.startswith(f"CREATE INDEX {name} "):
                found = sql
    if found is None:
        raise SystemExit(f"no migration creates {name}")
    return found


def before(conn, vector: list[float]) -> list[int]:
    """The search before issue 16: one HNSW scan, LIMIT 10, ef_search 64 (V002)."""
    where, params = filter_sql(Filters(), Scope())
    params.update(q=vector_literal(vector), role=MODEL_TEXT_EMBEDDING, limit=K, candidates=K)
    with conn.transaction():
        conn.execute("SELECT set_config('hnsw.ef_search', '64', true)")
        return [r[0] for r in conn.execute(nearest_sql(DIMENSION, where, exact=False), params).fetchall()]


def measure(conn, queries: np.ndarray, tuning: Tuning, version: tuple[int, ...]) -> dict[str, tuple[float, float, float, str]]:
    runs = {
        "exact": lambda v: nearest(conn, MODEL_TEXT_EMBEDDING, v, K, tuning=tuning, exact=True, version=version),
        "search": lambda v: nearest(conn, MODEL_TEXT_EMBEDDING, v, K, tuning=tuning, version=version),
        "index path": lambda v: nearest(conn, MODEL_TEXT_EMBEDDING, v, K, tuning=tuning, exact=False, version=version),
        "before": lambda v: before(conn, v),
    }
    found: dict[str, list[list[int]]] = {name: [] for name in runs}
    times: dict[str, list[float]] = {name: [] for name in runs}
    methods: dict[str, set[str]] = {name: set() for name in runs}
    vectors = [[float(x) for x in q] for q in queries]
    for v in vectors[:3]:  # warm the cache
        for run in runs.values():
            run(v)
    for v in vectors:
        for name, run in runs.items():
            started = time.perf_counter()
            out = run(v)
            times[name].append((time.perf_counter() - started) * 1000)
            if isinstance(out, Leg):
                methods[name].add(out.method)
                out = [cid for cid, _ in out.ranked]
            found[name].append(out)
    result = {}
    for name in runs:
        recall = float(np.mean([recall_at(K, f, t) for f, t in zip(found[name], found["exact"])]))
        result[name] = (recall, float(np.percentile(times[name], 50)), float(np.percentile(times[name], 95)),
                        "+".join(sorted(methods[name])) or "hnsw ef_search 64")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--data", default="random,clustered,neardup")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--candidates", type=int, default=Tuning.candidates)
    parser.add_argument("--ef-search", type=int, default=Tuning.ef_search)
    parser.add_argument("--exact-max-rows", type=int, default=Tuning.exact_max_rows)
    parser.add_argument("--build-workers", type=int, default=1,
                        help="max_parallel_maintenance_workers for the index build (0 where /dev/shm is small)")
    args = parser.parse_args()

    tuning = Tuning(exact_max_rows=args.exact_max_rows, candidates=args.candidates, ef_search=args.ef_search)
    from scratch_db import migrated_database  # bench/ is the script's folder

    with migrated_database("bench-retrieval-") as conn:
        conn.execute("SET maintenance_work_mem = '2GB'")  # the whole graph in memory while building
        conn.execute(f"SET max_parallel_maintenance_workers = {int(args.build_workers)}")
        version = pgvector_version(conn)
        pg = conn.execute("SHOW server_version").fetchone()[0]
        print(f"# PostgreSQL {pg}, pgvector {'.'.join(map(str, version))}"
              f" (iterative index scans: {'yes' if version >= ITERATIVE_SCAN_VERSION else 'no'}),"
              f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; exact_max_rows {tuning.exact_max_rows},"
              f" candidates {tuning.candidates}, ef_search {tuning.ef_search}", flush=True)
        rows = []
        for size in (int(s) for s in args.sizes.split(",")):
            for kind in args.data.split(","):
                data, queries = make_data(size, args.queries, kind)
                built = load(conn, data)
                print(f"{size} {kind}: index built in {built:.0f} s", flush=True)
                for name, (recall, p50, p95, method) in measure(conn, queries, tuning, version).items():
                    rows.append((size, kind, name, method, recall, p50, p95))
                    print(f"  {name:<10} recall@10 {recall:.3f}  p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  ({method})", flush=True)
        print(f"\npgvector {'.'.join(map(str, version))}, PostgreSQL {pg}, {args.queries} queries each\n")
        print("| chunks | data | method | how | recall@10 | p50 ms | p95 ms |\n|---:|---|---|---|---:|---:|---:|")
        for size, kind, name, method, recall, p50, p95 in rows:
            print(f"| {size:,} | {kind} | {name} | {method} | {recall:.3f} | {p50:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
