"""The lexical leg: BM25 over the postings of migrations/V006__bm25.sql, in one SQL statement.

Okapi BM25 as Lucene (and bm25s' default "lucene" method) computes it, per query lexeme q in a
chunk d:

    idf(q) * tf / (tf + k1 * (1 - b + b * dl / avgdl)),  idf(q) = ln(1 + (N - df + 0.5) / (df + 0.5))

tf: occurrences of q in d; dl: d's length in indexed terms; N, avgdl: chunks with terms and
their mean length (text_stats); df: chunks containing q, counted from the postings as the
statement reads them. Lexemes are PostgreSQL's 'english' text search configuration (stop words
dropped, stemmed); each distinct lexeme of the query counts once. Statistics are those of every
stored chunk (all buckets and pipeline versions, as a search engine's index statistics are of
its whole index); filters and scope only decide which chunks are returned.

Why not ts_rank_cd: it has no inverse document frequency (a rare, decisive word weighs no more
than a common one) and no length normalisation; it scored nDCG@10 0.550 on a BEIR set where
BM25 scores 0.745 (bench/README.md). Aurora PostgreSQL has no BM25 index extension, so the
postings are a plain table kept by triggers (V006).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.common.constants import DB_SCHEMA
from functions.search.filters import Filters, Scope, filter_sql
from functions.search.legs import LEG_LEXICAL, Leg

S = DB_SCHEMA
TEXT_SEARCH_CONFIG = "english"  # the configuration of V006's trigger: the same lexemes at both ends


@dataclass(frozen=True)
class Bm25:
    """BM25's two parameters: k1 (term-frequency saturation) and b (length normalisation);
    Lucene's defaults, which bench/search_quality.py's dev splits did not beat by a margin."""

    k1: float = 1.2
    b: float = 0.75

    def __post_init__(self) -> None:
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise ValueError(f"invalid BM25 parameters {self}")


def bm25_sql(where: str) -> str:
    """Chunk ids, their object ids and BM25 scores, best first. `where` (filters.filter_sql) may name `o`
    (objects) and `ch` (chunks); chunks are joined only when it does."""
    chunk_join = f" JOIN {S}.chunks ch ON ch.id = s.chunk_id" if "ch." in where else ""
    return (
        f"WITH q AS (SELECT DISTINCT lexeme FROM unnest(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, %(text)s)))"
        f", st AS (SELECT greatest(sum(chunks), 1)::float8 AS n,"
        f"         greatest(sum(terms), 1)::float8 / greatest(sum(chunks), 1) AS avgdl FROM {S}.text_stats)"
        f", p AS (SELECT t.chunk_id, t.object_id, t.tf, t.dl, count(*) OVER (PARTITION BY t.lexeme) AS df"
        f"        FROM {S}.chunk_terms t JOIN q ON q.lexeme = t.lexeme)"
        f", s AS (SELECT p.chunk_id, p.object_id,"
        f"        sum(ln(1 + (st.n - p.df + 0.5) / (p.df + 0.5))"
        f"            * p.tf / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / st.avgdl))) AS score"
        f"        FROM p, st GROUP BY p.chunk_id, p.object_id)"
        f" SELECT s.chunk_id, s.object_id, s.score FROM s JOIN {S}.objects o ON o.id = s.object_id{chunk_join}"
        f" WHERE {where} ORDER BY s.score DESC, s.chunk_id LIMIT %(limit)s"
    )


def lexical(conn: Any, text: str, limit: int, filters: Filters | None = None, scope: Scope | None = None,
            bm25: Bm25 | None = None) -> Leg:
    """The `limit` chunks with the highest BM25 score for `text`, as Leg(ranked=[(chunk id, score)])."""
    bm25 = bm25 or Bm25()
    where, params = filter_sql(filters or Filters(), scope or Scope())
    params.update(text=text, limit=int(limit), k1=float(bm25.k1), b=float(bm25.b))
    rows = conn.execute(bm25_sql(where), params).fetchall()
    return Leg(LEG_LEXICAL, [(int(i), float(score)) for i, _, score in rows], "bm25", {int(i): int(o) for i, o, _ in rows})


def query_lexemes(conn: Any, text: str) -> list[str]:
    """The lexemes the leg looks up for `text` (what the tests' reference BM25 is given)."""
    rows = conn.execute(f"SELECT DISTINCT lexeme FROM unnest(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, %s))"
                        " ORDER BY lexeme", (text,)).fetchall()
    return [r[0] for r in rows]
