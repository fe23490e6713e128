"""Retrieval: recall@10 of the search's vector leg against exact search, and the latency of the
whole hybrid search beside it.

    PYTHONPATH=. .venv/bin/python bench/retrieval.py [--sizes 10000,100000]
        [--data random,clustered,neardup] [--queries 100] [--chunks-per-file 10]

In a throw-away pgserver cluster with the pipeline's own schema (every file of migrations/: the
partial HNSW index of V001/V004 with its build parameters, V006's BM25 postings), loads `size`
chunks of `--chunks-per-file` per object, each with synthetic text (words drawn from a Zipf law
over a 30,000-word vocabulary, ~120 per chunk as the pipeline's text chunks are; the postings and
statistics written in one pass as V006's triggers would) and a synthetic 384-d text embedding
(all-MiniLM-L6-v2's dimension), builds the index, and runs `--queries` queries (2-6 words of the
same law, and a held-out vector) one at a time through the code the search function and
`python -m local search` run:

* **exact**: functions/search/vector.py `nearest(exact=True)`, every row compared: the truth;
* **search**: `nearest()` as deployed: exact below `Tuning.exact_max_rows` rows, otherwise
  `Tuning.candidates` from the index at `Tuning.ef_search`, re-ranked exactly (iterative scan on
  pgvector >= 0.8);
* **index path**: the same with the index forced (what the search does above the threshold);
* **before**: what search did before (HNSW, LIMIT 10, the database's hnsw.ef_search = 64 of V002);
* **lexical leg**: functions/search/lexical.py's BM25, `Tuning.depth` chunks;
* **hybrid search**: functions/search/core.py `search`, limit 10, as the search function runs it
  (the lexical leg on a second connection beside the vector leg, whose recall is the "search"
  row's; fusion and passages included), the query embedding left out (the vector is given).

Data: **random** (uniform on the sphere: the worst case for any graph index), **clustered**
(200 topics + noise, like embeddings of real text), **neardup** (80 % of the rows in groups of
200 near-copies of one vector, like the pages of a manual that differ by a number, the rest
clustered; half the queries near a group). Prints one table row per (size, data, method) with
recall@10 (mean over queries of |found & exact| / 10; "-" where a method has no vector truth),
p50 and p95 latency in ms, and the PostgreSQL and pgvector versions measured.
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
S = DB_SCHEMA
VOCABULARY = 30_000
WORDS_PER_CHUNK = 120


def words(rng: np.random.Generator, n: int) -> list[str]:
    """Pronounceable pseudo-words (the 'english' parser keeps them whole; the stemmer may trim
    them a little, as it does real words), ranked by a Zipf law: a few common, most rare."""
    ranks = np.minimum(rng.zipf(1.2, size=n), VOCABULARY) - 1
    syllables = ["ka", "lo", "mi", "ter", "van", "dus", "po", "rel", "shi", "gon", "ba", "fe", "nu", "tor", "wi"]
    return ["".join(syllables[(r // 15 ** i) % 15] for i in range(4)) + "x" for r in ranks]


class NewsText:
    """Text with the word frequencies of real English: every word of the AG News CSV (title and
    description, stop words included: the 'english' configuration drops them as it does in stored
    chunks) in a bag, chunks drawn from it word by word; queries are the titles of its articles
    (real headlines, 4-12 words). Word order and co-occurrence are not kept, only frequencies."""

    def __init__(self, path: Path) -> None:
        import csv
        import html
        import re

        def clean(text: str) -> str:  # the corpus' escapes: "#39;" for "'", "&lt;b&gt;" for "<b>", "\\" for a line break
            text = html.unescape(re.sub(r"#(\d+);", lambda m: chr(int(m[1])), text.replace("\\", " ").replace(" quot;", " \"")))
            return re.sub(r"<[^>]*>", " ", text)

        with path.open(encoding="utf-8", newline="") as f:
            rows = [(clean(r["title"]), clean(r["description"])) for r in csv.DictReader(f)]
        self.titles = [t for t, _ in rows]
        self.bag = np.array(re.findall(r"[a-z][a-z']+|\d+", " ".join(f"{t} {d}" for t, d in rows).lower()))

    def words(self, rng: np.random.Generator, n: int) -> list[str]:
        return list(self.bag[rng.integers(0, len(self.bag), n)])

    def queries(self, rng: np.random.Generator, n: int) -> list[str]:
        return [self.titles[i] for i in rng.permutation(len(self.titles))[:n]]


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


def load(conn, data: np.ndarray, per_file: int, seed: int, text: NewsText | None = None) -> tuple[float, int]:
    """Objects of `per_file` chunks, each with its text, postings and one text embedding; then the
    index. Returns (seconds to build the index, postings written)."""
    from pgvector import Vector

    rng = np.random.default_rng(seed)
    conn.execute(f"TRUNCATE {S}.objects RESTART IDENTITY CASCADE")  # (V006's truncate trigger empties the postings)
    conn.execute(f"DROP INDEX IF EXISTS {S}.embeddings_text_384_hnsw")
    with conn.cursor().copy(f"COPY {S}.objects (bucket, key, size, modality, pipeline_version, status) FROM STDIN") as copy:
        for o in range(-(-len(data) // per_file)):
            copy.write_row(("bench", f"doc/{o:06d}.txt", 1, "text", "bench", "succeeded"))
    # A bulk load: V006's triggers off for this session, the postings and statistics computed in
    # one pass afterwards (what the triggers would have written, row for row) and their indexes
    # built once, sorted; through the triggers 100k chunks take the better part of an hour here.
    conn.execute("SET session_replication_role = replica")
    conn.execute(f"ALTER TABLE {S}.chunk_terms DROP CONSTRAINT chunk_terms_pkey")
    conn.execute(f"DROP INDEX {S}.chunk_terms_chunk")
    with conn.cursor().copy(f"COPY {S}.chunks (object_id, ordinal, kind, text) FROM STDIN") as copy:
        for i in range(len(data)):
            drawn = text.words(rng, WORDS_PER_CHUNK) if text else words(rng, WORDS_PER_CHUNK)
            copy.write_row((i // per_file + 1, i % per_file, "text", " ".join(drawn)))
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
        for i, v in enumerate(data):
            copy.write_row((i // per_file + 1, i + 1, MODEL_TEXT_EMBEDDING, "bench", "bench", DIMENSION, Vector(v)))
    conn.execute("VACUUM ANALYZE")  # the visibility map, so that postings are read index-only
    started = time.perf_counter()
    conn.execute(index_statement())
    built = time.perf_counter() - started
    return built, int(conn.execute(f"SELECT count(*) FROM {S}.chunk_terms").fetchone()[0])


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


def measure(conn, lexical_conn, queries: np.ndarray, texts: list[str], tuning: Tuning,
            version: tuple[int, ...]) -> dict[str, tuple[float | None, float, float, str]]:
    from functions.search.core import search
    from functions.search.lexical import lexical

    def hybrid(text: str, v: list[float]) -> set[str]:
        result = search(conn, text, lambda role, _: v if role == MODEL_TEXT_EMBEDDING else None, limit=K,
                        tuning=tuning, lexical_conn=lexical_conn)
        return {f"{leg} {how}" for leg, how in result.legs.items()}

    runs = {
        "exact": lambda v, t: nearest(conn, MODEL_TEXT_EMBEDDING, v, K, tuning=tuning, exact=True, version=version),
        "search": lambda v, t: nearest(conn, MODEL_TEXT_EMBEDDING, v, K, tuning=tuning, version=version),
        "index path": lambda v, t: nearest(conn, MODEL_TEXT_EMBEDDING, v, K, tuning=tuning, exact=False, version=version),
        "before": lambda v, t: before(conn, v),
        "lexical leg": lambda v, t: lexical(conn, t, tuning.depth, bm25=tuning.bm25),
        "hybrid search": lambda v, t: hybrid(t, v),
    }
    found: dict[str, list[list[int]]] = {name: [] for name in runs}
    times: dict[str, list[float]] = {name: [] for name in runs}
    methods: dict[str, set[str]] = {name: set() for name in runs}
    vectors = [[float(x) for x in q] for q in queries]
    for v, t in list(zip(vectors, texts))[:3]:  # warm the cache
        for run in runs.values():
            run(v, t)
    for v, t in zip(vectors, texts):
        for name, run in runs.items():
            started = time.perf_counter()
            out = run(v, t)
            times[name].append((time.perf_counter() - started) * 1000)
            if isinstance(out, set):
                methods[name].update(out)
                continue
            if isinstance(out, Leg):
                methods[name].add(out.method)
                out = [cid for cid, _ in out.ranked]
            found[name].append(out)
    result = {}
    for name in runs:
        recall = (float(np.mean([recall_at(K, f, t) for f, t in zip(found[name], found["exact"])]))
                  if name not in ("lexical leg", "hybrid search") else None)
        result[name] = (recall, float(np.percentile(times[name], 50)), float(np.percentile(times[name], 95)),
                        "+".join(sorted(methods[name])) or "hnsw ef_search 64")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--data", default="random,clustered,neardup")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--chunks-per-file", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=Tuning.candidates)
    parser.add_argument("--ef-search", type=int, default=Tuning.ef_search)
    parser.add_argument("--exact-max-rows", type=int, default=Tuning.exact_max_rows)
    parser.add_argument("--text", type=Path, default=None,
                        help="an AG News CSV (label,title,description): chunk words drawn with its word "
                             "frequencies and its titles as queries, instead of the Zipf pseudo-words")
    parser.add_argument("--build-workers", type=int, default=1,
                        help="max_parallel_maintenance_workers for the index build (0 where /dev/shm is small)")
    args = parser.parse_args()

    news = NewsText(args.text) if args.text else None
    tuning = Tuning(exact_max_rows=args.exact_max_rows, candidates=args.candidates, ef_search=args.ef_search)
    import psycopg
    from scratch_db import migrated_database  # bench/ is the script's folder

    with migrated_database("bench-retrieval-") as conn, psycopg.connect(conn.info.dsn, autocommit=True) as second:
        conn.execute("SET maintenance_work_mem = '2GB'")  # the whole graph in memory while building
        conn.execute(f"SET max_parallel_maintenance_workers = {int(args.build_workers)}")
        version = pgvector_version(conn)
        pg = conn.execute("SHOW server_version").fetchone()[0]
        print(f"# PostgreSQL {pg}, pgvector {'.'.join(map(str, version))}"
              f" (iterative index scans: {'yes' if version >= ITERATIVE_SCAN_VERSION else 'no'}),"
              f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; exact_max_rows {tuning.exact_max_rows},"
              f" candidates {tuning.candidates}, ef_search {tuning.ef_search};"
              f" text: {args.text.name + ' word frequencies, its titles as queries' if args.text else 'Zipf pseudo-words'}",
              flush=True)
        rows = []
        for size in (int(s) for s in args.sizes.split(",")):
            for kind in args.data.split(","):
                data, queries = make_data(size, args.queries, kind)
                built, postings = load(conn, data, args.chunks_per_file, seed=size, text=news)
                print(f"{size} {kind}: {postings:,} postings, index built in {built:.0f} s", flush=True)
                rng = np.random.default_rng(1)
                texts = (news.queries(rng, len(queries)) if news
                         else [" ".join(words(rng, int(rng.integers(2, 7)))) for _ in range(len(queries))])
                for name, (recall, p50, p95, method) in measure(conn, second, queries, texts, tuning, version).items():
                    shown = "-" if recall is None else f"{recall:.3f}"
                    rows.append((size, kind, name, method, shown, p50, p95))
                    print(f"  {name:<13} recall@10 {shown:>5}  p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  ({method})", flush=True)
        print(f"\npgvector {'.'.join(map(str, version))}, PostgreSQL {pg}, {args.queries} queries each\n")
        print("| chunks | data | method | how | recall@10 | p50 ms | p95 ms |\n|---:|---|---|---|---:|---:|---:|")
        for size, kind, name, method, recall, p50, p95 in rows:
            print(f"| {size:,} | {kind} | {name} | {method} | {recall} | {p50:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
