"""Latency of the whole hybrid search (every leg, fusion, passages) at 10k and 100k chunks.

    .venv/bin/python bench/search_latency.py [--sizes 10000,100000] [--queries 100] [--chunks-per-file 10]

In a throw-away pgserver cluster with the pipeline's schema (every migration: V006's BM25
postings and their triggers included), loads `size` chunks of synthetic text (words drawn from
a Zipf distribution over a 30,000-word vocabulary, ~120 words per chunk, as text chunks of the
pipeline are), each with a clustered 384-d text embedding (bench/retrieval.py's make_data),
`--chunks-per-file` chunks per object; then runs `--queries` queries (2-6 words of the same
distribution, and a held-out vector) one at a time through functions/search/core.py `search`
with the embedding step left out (the query vector is given): the database and fusion time a
search costs once the query is embedded. Prints p50/p95 per leg and for the whole search.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from functions.common.constants import DB_SCHEMA, MODEL_TEXT_EMBEDDING  # noqa: E402

S = DB_SCHEMA
VOCABULARY = 30_000
WORDS_PER_CHUNK = 120


def words(rng: np.random.Generator, n: int) -> list[str]:
    """Pronounceable pseudo-words (the 'english' parser keeps them whole; the stemmer may trim
    them a little, as it does real words), ranked by a Zipf law: a few common, most rare."""
    ranks = np.minimum(rng.zipf(1.2, size=n), VOCABULARY) - 1
    syllables = ["ka", "lo", "mi", "ter", "van", "dus", "po", "rel", "shi", "gon", "ba", "fe", "nu", "tor", "wi"]
    return ["".join(syllables[(r // 15 ** i) % 15] for i in range(4)) + "x" for r in ranks]


def load(conn, size: int, per_file: int, vectors: np.ndarray, seed: int) -> float:
    from pgvector import Vector

    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    conn.execute(f"TRUNCATE {S}.objects RESTART IDENTITY CASCADE")  # (V006's truncate trigger empties the postings)
    files = -(-size // per_file)
    with conn.cursor().copy(f"COPY {S}.objects (bucket, key, size, modality, pipeline_version, status) FROM STDIN") as copy:
        for o in range(files):
            copy.write_row(("bench", f"doc/{o:06d}.txt", 1, "text", "bench", "succeeded"))
    # A bulk load: V006's triggers off for this session, the postings and statistics computed in
    # one pass afterwards (what the triggers would have written, row for row) and their indexes
    # built once, sorted; through the triggers 100k chunks take the better part of an hour here.
    conn.execute("SET session_replication_role = replica")
    conn.execute(f"ALTER TABLE {S}.chunk_terms DROP CONSTRAINT chunk_terms_pkey")
    conn.execute(f"DROP INDEX {S}.chunk_terms_chunk")
    with conn.cursor().copy(f"COPY {S}.chunks (object_id, ordinal, kind, text) FROM STDIN") as copy:
        for i in range(size):
            copy.write_row((i // per_file + 1, i % per_file, "text", " ".join(words(rng, WORDS_PER_CHUNK))))
    conn.execute(f"""INSERT INTO {S}.chunk_terms (lexeme, chunk_id, object_id, tf, dl)
        SELECT u.lexeme, ch.id, ch.object_id, cardinality(u.positions),
               sum(cardinality(u.positions)) OVER (PARTITION BY ch.id)
        FROM {S}.chunks ch, unnest(to_tsvector('english'::regconfig, coalesce(ch.text, ''))) u""")
    conn.execute(f"INSERT INTO {S}.term_df (lexeme, slot, df) SELECT lexeme, 0, count(*) FROM {S}.chunk_terms GROUP BY lexeme")
    conn.execute(f"""UPDATE {S}.text_stats SET chunks = s.n, terms = s.t FROM
        (SELECT count(*) AS n, coalesce(sum(dl), 0) AS t FROM (SELECT DISTINCT chunk_id, dl FROM {S}.chunk_terms) c) s
        WHERE slot = 0""")
    conn.execute(f"ALTER TABLE {S}.chunk_terms ADD CONSTRAINT chunk_terms_pkey PRIMARY KEY (lexeme, chunk_id) INCLUDE (object_id, tf, dl)")
    conn.execute(f"CREATE INDEX chunk_terms_chunk ON {S}.chunk_terms (chunk_id)")
    conn.execute("SET session_replication_role = DEFAULT")
    with conn.cursor().copy(f"COPY {S}.embeddings (object_id, chunk_id, model_role, model_id, model_version,"
                            f" dimension, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "int8", "text", "text", "text", "int4", "vector"])
        for i, v in enumerate(vectors):
            copy.write_row((i // per_file + 1, i + 1, MODEL_TEXT_EMBEDDING, "bench", "bench", len(v), Vector(v)))
    conn.execute("VACUUM ANALYZE")  # the visibility map, so that postings are read index-only
    return time.perf_counter() - started


def measure(conn, queries: list[str], vectors: np.ndarray, tuning: Any) -> dict[str, tuple[float, float]]:
    from functions.search.core import Filters, Scope, search
    from functions.search.lexical import lexical
    from functions.search.vector import nearest

    times: dict[str, list[float]] = {"text leg": [], "lexical leg (bm25)": [], "whole search": []}
    for text, vector in zip(queries, vectors):
        vec = [float(x) for x in vector]

        def embed(role: str, _: str, vec: list[float] = vec) -> list[float] | None:
            return vec if role == MODEL_TEXT_EMBEDDING else None

        runs = {"text leg": lambda v=vec: nearest(conn, MODEL_TEXT_EMBEDDING, v, tuning.depth, tuning=tuning),
                "lexical leg (bm25)": lambda t=text: lexical(conn, t, tuning.depth, Filters(), Scope(), tuning.bm25),
                "whole search": lambda t=text, e=embed: search(conn, t, e, limit=10, tuning=tuning)}
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: (float(np.percentile(t, 50)), float(np.percentile(t, 95))) for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--chunks-per-file", type=int, default=10)
    parser.add_argument("--exact-max-rows", type=int, help="default: functions/search/tuning.py's")
    parser.add_argument("--ef-search", type=int, help="default: functions/search/tuning.py's (candidates follow it)")
    args = parser.parse_args(argv)
    from dataclasses import replace

    from functions.search.tuning import Tuning

    tuning = Tuning()
    if args.exact_max_rows is not None:
        tuning = replace(tuning, exact_max_rows=args.exact_max_rows)
    if args.ef_search is not None:
        tuning = replace(tuning, ef_search=args.ef_search, candidates=args.ef_search)

    from retrieval import make_data

    from functions.search.vector import pgvector_version

    rows = []
    from scratch_db import migrated_database  # bench/ is the script's folder

    with migrated_database("bench-search-latency-") as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        version = ".".join(map(str, pgvector_version(conn)))
        pg = conn.execute("SHOW server_version").fetchone()[0]
        print(f"# PostgreSQL {pg}, pgvector {version}, {os.cpu_count()} CPUs,"
              f" load average {os.getloadavg()[0]:.2f}; {tuning}", flush=True)
        for size in (int(s) for s in args.sizes.split(",")):
            data, query_vectors = make_data(size, args.queries, "clustered")
            loaded = load(conn, size, args.chunks_per_file, data, seed=size)
            postings = conn.execute(f"SELECT count(*) FROM {S}.chunk_terms").fetchone()[0]
            print(f"{size:,} chunks ({postings:,} postings) loaded in {loaded:.0f} s", flush=True)
            rng = np.random.default_rng(1)
            queries = [" ".join(words(rng, int(rng.integers(2, 7)))) for _ in range(args.queries)]
            measure(conn, queries[:5], query_vectors[:5], tuning)  # warm the caches
            for name, (p50, p95) in measure(conn, queries, query_vectors, tuning).items():
                rows.append((size, name, p50, p95))
                print(f"  {name:<20} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms", flush=True)
    print(f"\nPostgreSQL {pg}, pgvector {version}, {args.queries} queries, embedding excluded\n")
    print("| chunks | what | p50 ms | p95 ms |\n|---:|---|---:|---:|")
    for size, name, p50, p95 in rows:
        print(f"| {size:,} | {name} | {p50:.1f} | {p95:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
