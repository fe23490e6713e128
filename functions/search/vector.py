"""The vector legs: nearest chunk embeddings by cosine, exact where affordable, else the HNSW index.

A vector leg scans exactly (every candidate row's distance) when the planner estimates that at
most `Tuning.exact_max_rows` rows pass the filters, which is how most collections and most
filtered queries are answered. Above that it over-fetches `Tuning.candidates` from the partial
HNSW index of migrations/V001__init.sql with a raised `hnsw.ef_search` and re-ranks them by
exact distance; on pgvector >= 0.8 (Aurora) with `hnsw.iterative_scan`, so filters are applied
inside the index scan; on older pgvector (the local pgserver ships 0.6.2), when the filters leave
fewer than the wanted rows among the candidates, it falls back to the exact scan.
bench/retrieval.py measures recall@10 of this against exact search.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from functions.common.constants import (
    DB_SCHEMA,
    MODEL_IMAGE_EMBEDDING,
    MODEL_TEXT_EMBEDDING,
    TABLE_CHUNKS,
    TABLE_EMBEDDINGS,
    TABLE_OBJECTS,
)
from functions.search.filters import Filters, Scope, filter_sql
from functions.search.legs import LEG_OF_ROLE, Leg
from functions.search.tuning import Tuning

S = DB_SCHEMA
# The embedding spaces with a partial HNSW index (migrations/V001__init.sql): role -> dimension.
SPACES: dict[str, int] = {MODEL_TEXT_EMBEDDING: 384, MODEL_IMAGE_EMBEDDING: 512}
# pgvector 0.8.0 added iterative index scans (hnsw.iterative_scan):
# https://github.com/pgvector/pgvector#iterative-index-scans
ITERATIVE_SCAN_VERSION = (0, 8, 0)



def _from_embeddings(where: str) -> str:
    """embeddings joined to objects, and to chunks only when the conditions name them (a join
    of every compared row is most of an exact scan's time otherwise)."""
    chunks = f" JOIN {S}.{TABLE_CHUNKS} ch ON ch.id = e.chunk_id" if "ch." in where else ""
    return f" FROM {S}.{TABLE_EMBEDDINGS} e JOIN {S}.{TABLE_OBJECTS} o ON o.id = e.object_id{chunks}"


def nearest_sql(dimension: int, where: str, exact: bool) -> str:
    """The vector leg's query: chunk ids, object ids and cosine distances, nearest first.

    Approximate: ORDER BY the cast and WHERE of the partial HNSW index (so the planner can use
    it) over `candidates` rows, re-ranked by exact distance outside a materialized CTE (what
    pgvector documents for iterative scans, where relaxed order may return rows slightly out of
    order). Exact: the distance on the uncast column, an expression no index matches, so
    every row passing the filters is compared.
    """
    d = int(dimension)
    indexed = f"e.embedding::vector({d}) <=> %(q)s::vector({d})"
    where_all = f"e.model_role = %(role)s AND e.dimension = {d} AND {where}"
    if exact:
        return (f"SELECT e.chunk_id, e.object_id, e.embedding <=> %(q)s::vector AS distance{_from_embeddings(where)}"
                f" WHERE {where_all} ORDER BY distance, e.chunk_id LIMIT %(limit)s")
    return (f"WITH candidates AS MATERIALIZED (SELECT e.chunk_id, e.object_id, {indexed} AS distance{_from_embeddings(where)}"
            f" WHERE {where_all} ORDER BY {indexed} LIMIT %(candidates)s)"
            f" SELECT chunk_id, object_id, distance FROM candidates ORDER BY distance, chunk_id LIMIT %(limit)s")


def _rows_sql(where: str, dimension: int) -> str:
    """The rows a vector leg would compare; its EXPLAIN gives the planner's estimate of how many
    (planning only, about a millisecond: counting them cost 60-190 ms at 100k rows in bench/)."""
    return (f"EXPLAIN (FORMAT JSON) SELECT 1{_from_embeddings(where)} WHERE e.model_role = %(role)s"
            f" AND e.dimension = {int(dimension)} AND {where}")


def estimated_rows(conn: Any, where: str, dimension: int, params: dict[str, Any]) -> float:
    """The planner's estimate of the rows passing `where` (from the statistics ANALYZE keeps)."""
    return planned_rows(conn, _rows_sql(where, dimension), params)


def planned_rows(conn: Any, explain_sql: str, params: dict[str, Any]) -> float:
    """The top node's row estimate of an `EXPLAIN (FORMAT JSON) ...` statement."""
    plan = conn.execute(explain_sql, params).fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return float(plan[0]["Plan"]["Plan Rows"])


def pgvector_version(conn: Any) -> tuple[int, ...]:
    """The installed pgvector extension's version, e.g. (0, 6, 2)."""
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    if row is None:
        raise RuntimeError("the vector extension is not installed: apply the migrations first")
    return tuple(int(p) for p in re.findall(r"\d+", row[0])[:3])


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(v)) for v in vector) + "]"


def _leg(role: str, rows: list[Any], method: str) -> Leg:
    return Leg(LEG_OF_ROLE[role], [(int(i), 1.0 - float(d)) for i, _, d in rows], method,
               {int(i): int(o) for i, o, _ in rows})


def nearest(
    conn: Any,
    role: str,
    vector: Sequence[float],
    limit: int,
    filters: Filters | None = None,
    scope: Scope | None = None,
    tuning: Tuning | None = None,
    *,
    exact: bool | None = None,
    version: tuple[int, ...] | None = None,
) -> Leg:
    """The `limit` chunks whose `role` embedding is nearest to `vector` (cosine), nearest
    first, as Leg(ranked=[(chunk id, cosine similarity)]) of embeddings with `vector`'s dimension.
    `exact` forces the exact scan (True) or the index (False); by default it is chosen as the
    module docstring says. Raises ValueError for a role without an embedding space. `conn` must be
    in autocommit mode (the index settings are set for one transaction)."""
    filters, scope, tuning = filters or Filters(), scope or Scope(), tuning or Tuning()
    if role not in LEG_OF_ROLE or not vector:
        raise ValueError(f"no embedding space for role {role!r}")
    # Rows of another dimension (another model in the same role) are never compared; a
    # dimension without a partial index (SPACES) is always scanned exactly.
    dimension = len(vector)
    if SPACES[role] != dimension:
        exact = True
    where, params = filter_sql(filters, scope)
    params.update(q=vector_literal(vector), role=role, limit=int(limit))
    version = version or pgvector_version(conn)
    with conn.transaction():
        if exact is None:
            # An estimate that is too high only costs the index path's fallback below; one that
            # is too low, an exact scan of more rows than planned: both return the exact top.
            exact = estimated_rows(conn, where, dimension, params) <= tuning.exact_max_rows
        if exact:
            return _leg(role, conn.execute(nearest_sql(dimension, where, exact=True), params).fetchall(), "exact")
        candidates = max(tuning.candidates, int(limit))
        iterative = version >= ITERATIVE_SCAN_VERSION
        ef_search = min(1000, max(tuning.ef_search, candidates))
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef_search),))
        if iterative:
            conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
        rows = conn.execute(nearest_sql(dimension, where, exact=False), {**params, "candidates": candidates}).fetchall()
        method = "hnsw-iterative" if iterative else "hnsw"
        if len(rows) < limit:
            # The index's candidates ran out before `limit` rows passed the filters (pgvector
            # < 0.8 filters after the scan; 0.8 stops at hnsw.max_scan_tuples): compare every row.
            rows = conn.execute(nearest_sql(dimension, where, exact=True), params).fetchall()
            method += "-then-exact"
    return _leg(role, rows, method)
