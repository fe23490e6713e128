"""The lexical leg: BM25 over the postings of migrations/V006__bm25.sql, in one SQL statement.

Okapi BM25 as Lucene (and bm25s' default "lucene" method) computes it, per query lexeme q in a
chunk d:

    idf(q) * tf / (tf + k1 * (1 - b + b * dl / avgdl)),  idf(q) = ln(1 + (N - df + 0.5) / (df + 0.5))

tf: occurrences of q in d; dl: d's length in indexed terms; N, avgdl: chunks with terms and
their mean length (text_stats); df: chunks containing q (term_df). Lexemes are PostgreSQL's 'english' text search configuration (stop words
dropped, stemmed); each distinct lexeme of the query counts once. Statistics are those of every
stored chunk (all buckets and pipeline versions, as a search engine's index statistics are of
its whole index); filters and scope only decide which chunks are returned.

Reading the rarest lexemes first. A common lexeme has tens of thousands of postings and little
weight (a low idf; and each lexeme adds less than its idf to any chunk's score). So the
postings of the rarest query lexemes are read in full, as many as make the least work
(split_rare), which gives the candidates; the common lexemes are then scored on those
candidates only, by look-ups. A chunk holding none of the rare lexemes scores at
most the sum of the common lexemes' idf (`bound`); when the `exact_top`-th candidate scores at
least that, no such chunk can be in the top `exact_top`, which is then exactly BM25's; otherwise
the statement runs again over every posting. Scores are always exact; ranks below `exact_top`
come from the candidates (a chunk with only common words may be missing there).

Reading every posting (most queries of common words: no split proves the top) is one aggregate.
With no filter but a scope of whole buckets the chunks are ranked before the filter is tested on
the best of them (bm25_sql's pooled form), since joining every scored chunk to its object took a
third of a heavy query's time; filtered first again when too few of them pass.

Why not ts_rank_cd: it has no inverse document frequency (a rare, decisive word weighs no more
than a common one) and no length normalisation; it scored nDCG@10 0.550 on a BEIR set where
BM25 scores 0.745 (bench/README.md). Aurora PostgreSQL has no BM25 index extension, so the
postings are a plain table kept by triggers (V006).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from functions.common.constants import DB_SCHEMA
from functions.search.filters import Filters, Scope, filter_sql
from functions.search.legs import LEG_LEXICAL, Leg

S = DB_SCHEMA
TEXT_SEARCH_CONFIG = "english"  # the configuration of V006's trigger: the same lexemes at both ends


@dataclass(frozen=True)
class Bm25:
    """BM25's two parameters, k1 (term-frequency saturation) and b (length normalisation), and
    what one look-up of a common lexeme for one candidate costs in postings read (which decides
    how many of the rarest lexemes are read in full, split_rare; ~1.5 us against ~0.45 us per
    posting, measured with bench/retrieval.py); exact_top: the ranks guaranteed to be
    BM25's exact top."""

    k1: float = 1.2
    b: float = 0.75
    lookup_cost: float = 1.0
    exact_top: int = 10

    def __post_init__(self) -> None:
        if self.k1 < 0 or not 0 <= self.b <= 1 or self.lookup_cost < 0 or self.exact_top < 1:
            raise ValueError(f"invalid BM25 parameters {self}")


STATS_SQL = (
    f"WITH q AS (SELECT DISTINCT lexeme FROM unnest(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, %(text)s)))"
    f", st AS (SELECT greatest(sum(chunks), 1)::float8 AS n,"
    f"         greatest(sum(terms), 1)::float8 / greatest(sum(chunks), 1) AS avgdl FROM {S}.text_stats)"
    f" SELECT q.lexeme, coalesce((SELECT sum(d.df) FROM {S}.term_df d WHERE d.lexeme = q.lexeme), 0)::float8,"
    f" st.n, st.avgdl FROM q, st ORDER BY q.lexeme"
)


# BM25's length part k1 * (1 - b + b * dl / avgdl) as c0 + c1 * dl, c0 = k1 (1 - b), c1 = k1 b / avgdl:
# two constants from the caller rather than the arithmetic per posting
_WEIGHT = "(%(c0)s + %(c1)s * t.dl)"
_RARE = "WITH rare AS (SELECT * FROM unnest(%(rare)s::text[], %(rare_idf)s::float8[]) AS r(lexeme, idf))"


def _common(alias: str) -> str:
    """The common lexemes' part of chunk `alias`'s score: primary-key look-ups of its postings."""
    return (f"coalesce((SELECT sum(common.idf * t.tf / (t.tf + {_WEIGHT})) FROM common JOIN {S}.chunk_terms t"
            f" ON t.lexeme = common.lexeme AND t.chunk_id = {alias}.chunk_id), 0)")


def bm25_sql(where: str, common_count: int = 1, pooled: bool = False) -> str:
    """Chunk ids, their object ids and BM25 scores, best first, at most `limit`: the postings of
    the `rare` lexemes read in full, the `common` ones (`common_count` of them) looked up for
    those chunks. `where` (filters.filter_sql) may name `o` (objects) and `ch` (chunks).

    Filtered first (the default), every scored chunk is joined to its object to test `where`.
    `pooled`: the best `limit` (here: the pool's size) chunks are ranked unfiltered and `where`
    is tested on them alone (a fourth column says whether each passes): when the filter passes
    nearly everything, that join is a third of a heavy query's time. The rows that pass are the
    filtered top whenever the caller's own limit of them pass or fewer than the pool came back
    (lexical() checks)."""
    if pooled:
        scored = (f"SELECT t.chunk_id, sum(rare.idf * t.tf / (t.tf + {_WEIGHT})) AS score"
                  f" FROM {S}.chunk_terms t JOIN rare ON t.lexeme = rare.lexeme GROUP BY t.chunk_id")
    else:
        chunk_join = f" JOIN {S}.chunks ch ON ch.id = s.chunk_id" if "ch." in where else ""
        scored = (f"SELECT s.chunk_id, s.score FROM (SELECT t.chunk_id, t.object_id,"
                  f" sum(rare.idf * t.tf / (t.tf + {_WEIGHT})) AS score FROM {S}.chunk_terms t JOIN rare"
                  f" ON t.lexeme = rare.lexeme GROUP BY t.chunk_id, t.object_id) s"
                  f" JOIN {S}.objects o ON o.id = s.object_id{chunk_join} WHERE {where}")
    if common_count == 0:
        # every posting read: one aggregate and a cut (nothing to look up)
        ranked = f"{_RARE}, f AS ({scored}), r AS (SELECT * FROM f ORDER BY score DESC, chunk_id LIMIT %(limit)s)"
    else:
        ranked = (
            f"{_RARE}"
            f", common AS (SELECT * FROM unnest(%(common)s::text[], %(common_idf)s::float8[]) AS c(lexeme, idf))"
            f", f AS MATERIALIZED ({scored})"
            # Two passes over the candidates (MaxScore's idea): the `limit` best by their rare score
            # get their common lexemes looked up first; the lowest of those totals (floor) is then a
            # score that `limit` chunks reach, so another candidate is only looked up when its rare
            # score plus every common lexeme's idf (bound) could still reach it.
            f", top AS MATERIALIZED (SELECT t1.chunk_id, t1.score + {_common('t1')} AS score"
            f"        FROM (SELECT * FROM f ORDER BY score DESC, chunk_id LIMIT %(limit)s) t1)"
            f", floor AS (SELECT CASE WHEN count(*) < %(limit)s THEN 0 ELSE min(score) END AS score FROM top)"
            f", r AS (SELECT chunk_id, score FROM top"
            f"   UNION ALL SELECT f.chunk_id, f.score + {_common('f')}"
            f"   FROM f, floor WHERE f.score + %(bound)s >= floor.score"
            f"   AND f.chunk_id NOT IN (SELECT chunk_id FROM top)"
            f"   ORDER BY score DESC, chunk_id LIMIT %(limit)s)"
        )
    passes = f", coalesce(({where}), false)" if pooled else ""
    return (f"{ranked} SELECT r.chunk_id, ch.object_id, r.score{passes} FROM r JOIN {S}.chunks ch ON ch.id = r.chunk_id"
            f" JOIN {S}.objects o ON o.id = ch.object_id ORDER BY r.score DESC, r.chunk_id")


SURE_SHARE = 0.2
POOL_FACTOR = 2  # bm25_sql's pooled form ranks twice the chunks asked for


def idf(n: float, df: float) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def split_rare(terms: list[tuple[str, float]], n: float, lookup_cost: float, limit: int) -> int:
    """How many of the rarest lexemes (`terms`: (lexeme, df), rarest first) to read in full.

    Candidates must be able to prove the exact top (else every posting is read again): the rare
    lexemes must give `limit` candidates where the postings have them, and the common lexemes'
    idf together (what a chunk with none of the rare ones scores at most) must stay under
    SURE_SHARE of the least rare one's idf (a chunk holding it once at average length scores
    idf / (1 + k1) = 0.45 idf). Of those counts, the one with the least estimated work: reading a
    posting costs 1, looking up each common lexeme of each candidate `lookup_cost` (every
    candidate counted: an upper bound, so it never costs more than reading every posting, the
    last count)."""
    idfs = [idf(n, df) for _, df in terms]
    reads = [sum(df for _, df in terms[:k]) for k in range(len(terms) + 1)]
    sure = [k for k in range(1, len(terms))
            if reads[k] >= limit and sum(idfs[k:]) <= SURE_SHARE * idfs[k - 1]] + [len(terms)]
    return min(sure, key=lambda k: reads[k] + lookup_cost * min(reads[k], n) * (len(terms) - k))


def lexical(conn: Any, text: str, limit: int, filters: Filters | None = None, scope: Scope | None = None,
            bm25: Bm25 | None = None) -> Leg:
    """The `limit` chunks with the highest BM25 score for `text`, as Leg(ranked=[(chunk id, score)])."""
    bm25 = bm25 or Bm25()
    # Pooled first only when the filter is expected to pass nearly every chunk: no filters, and
    # a scope of whole buckets (authorization) rather than key prefixes of one principal.
    pooled = ((filters is None or all(v is None for v in filters.model_dump().values()))
              and (scope is None or scope.key_prefixes is None))
    where, params = filter_sql(filters or Filters(), scope or Scope())
    stats = [(lexeme, df, n, avgdl) for lexeme, df, n, avgdl in conn.execute(STATS_SQL, {"text": text}).fetchall() if df > 0]
    if not stats:
        return Leg(LEG_LEXICAL, [], "bm25")
    n, avgdl = stats[0][2], stats[0][3]
    terms = sorted(((lexeme, df) for lexeme, df, _, _ in stats), key=lambda t: (t[1], t[0]))  # rarest first
    limit = int(limit)
    rare_count = split_rare(terms, n, bm25.lookup_cost, limit)
    params.update(c0=float(bm25.k1 * (1 - bm25.b)), c1=float(bm25.k1 * bm25.b / avgdl))

    def run(split: int) -> list[Any]:
        """Rows for reading the `split` rarest lexemes in full: pooled (ranked before the filter)
        while that works, filtered first from the first pool that was full and still held fewer
        than `limit` passing rows (a filter that selective fails the next pool too)."""
        nonlocal pooled
        rare, common = terms[:split], terms[split:]
        args = {**params, "rare": [t for t, _ in rare], "rare_idf": [idf(n, df) for _, df in rare],
                "common": [t for t, _ in common], "common_idf": [idf(n, df) for _, df in common],
                "bound": sum(idf(n, df) for _, df in common)}
        if pooled:
            pool = POOL_FACTOR * limit
            rows = conn.execute(bm25_sql(where, len(common), pooled=True), {**args, "limit": pool}).fetchall()
            passed = [row[:3] for row in rows if row[3]]
            if len(passed) >= limit or len(rows) < pool:
                return passed[:limit]
            pooled = False
        return conn.execute(bm25_sql(where, len(common)), {**args, "limit": limit}).fetchall()

    rows, method = run(rare_count), "bm25"
    if rare_count < len(terms):
        bound = sum(idf(n, df) for _, df in terms[rare_count:])
        top = min(bm25.exact_top, limit)
        if len(rows) < top or rows[top - 1][2] < bound:
            rows, method = run(len(terms)), "bm25-all-postings"
        else:
            method = "bm25-rare-first"
    return Leg(LEG_LEXICAL, [(int(i), float(score)) for i, _, score in rows], method, {int(i): int(o) for i, o, _ in rows})

