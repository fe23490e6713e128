"""`python -m local search "text query" [--limit N]`: nearest chunks of every modality.

Reuses what the last `python -m local run` stored (PostgreSQL's data directory in
.local-run/pg is kept; search never clears it). The query is embedded by the same
text_embedding model the pipeline used (the local model server, called through
functions.common.model_client like the embed step), and compared with the chunks' text
embeddings by cosine distance using the cast and WHERE of the partial HNSW index in
migrations/V001__init.sql, so the planner can use that index.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from functions.common.constants import DB_SCHEMA, MODEL_TEXT_EMBEDDING, TABLE_CHUNKS, TABLE_EMBEDDINGS, TABLE_OBJECTS

S = DB_SCHEMA


@dataclass(frozen=True)
class Hit:
    key: str
    modality: str
    kind: str
    time_start: Optional[float]
    time_end: Optional[float]
    page: Optional[int]
    text: Optional[str]
    score: float  # cosine similarity, 1 = same direction

    @property
    def where(self) -> str:
        if self.time_start is not None:
            return f"{self.time_start:.2f}-{self.time_end:.2f} s"
        if self.page is not None:
            return f"page {self.page}"
        return "whole file"


def nearest_sql(dimension: int) -> str:
    """The kNN query; `embedding::vector(N)` and the WHERE match the partial HNSW index."""
    dimension = int(dimension)
    return (
        f"SELECT o.key, o.modality, ch.kind, ch.time_start, ch.time_end, ch.page, ch.text,"
        f" 1 - (e.embedding::vector({dimension}) <=> %(q)s::vector({dimension})) AS score"
        f" FROM {S}.{TABLE_EMBEDDINGS} e"
        f" JOIN {S}.{TABLE_CHUNKS} ch ON ch.id = e.chunk_id"
        f" JOIN {S}.{TABLE_OBJECTS} o ON o.id = e.object_id"
        f" WHERE e.model_role = %(role)s AND e.dimension = {dimension}"
        f" ORDER BY e.embedding::vector({dimension}) <=> %(q)s::vector({dimension})"
        f" LIMIT %(limit)s"
    )


def embed_query(text: str, endpoints: dict[str, str], sagemaker_client: Any = None) -> list[float]:
    """The query's vector from the text_embedding endpoint (same client and wire format as the
    embed step); `sagemaker_client` is the boto3 sagemaker-runtime client to use (default: boto3's)."""
    from functions.common.model_client import ModelClient

    client = ModelClient(endpoints, sagemaker_client=sagemaker_client)
    return [float(v) for v in client.invoke(MODEL_TEXT_EMBEDDING, [text]).outputs[0]]


def nearest(conn: Any, vector: list[float], limit: int = 10) -> list[Hit]:
    """The `limit` chunks whose text embedding is closest to `vector`, best first."""
    rows = conn.execute(nearest_sql(len(vector)),
                        {"q": _literal(vector), "role": MODEL_TEXT_EMBEDDING, "limit": limit}).fetchall()
    return [Hit(*row[:7], score=float(row[7])) for row in rows]


def explain(conn: Any, vector: list[float], limit: int = 10) -> str:
    """EXPLAIN of the kNN query (to check the HNSW index is the plan)."""
    rows = conn.execute("EXPLAIN " + nearest_sql(len(vector)),
                        {"q": _literal(vector), "role": MODEL_TEXT_EMBEDDING, "limit": limit}).fetchall()
    return "\n".join(r[0] for r in rows)


def _literal(vector: list[float]) -> str:
    return "[" + ",".join(repr(float(v)) for v in vector) + "]"


def search(query: str, limit: int = 10, work: Optional[Path] = None) -> list[Hit]:
    """Start PostgreSQL on `work` (the last run's data, untouched) and the text embedding model;
    return the nearest chunks. Raises RuntimeError when no run has stored anything there."""
    import psycopg

    from functions.common.db import DbConfig, open_connection
    from local.run import WORK, start_postgres
    from local.model_servers import start_local_profile

    work = work or WORK
    if not (work / "pg").is_dir():
        raise RuntimeError(f"no database in {work / 'pg'}: run `python -m local run` first")
    db_env = start_postgres(work, fresh=False)
    try:
        conn = open_connection(DbConfig.from_env(db_env))
    except Exception as exc:  # noqa: BLE001 - DatabaseUnavailableError when the database was never created
        raise RuntimeError(f"cannot open the pipeline database in {work / 'pg'} ({exc}): run `python -m local run` first") from exc
    with start_local_profile(roles=[MODEL_TEXT_EMBEDDING]) as profile:
        if MODEL_TEXT_EMBEDDING not in profile.endpoints:
            raise RuntimeError(f"text_embedding model not available: {profile.unavailable.get(MODEL_TEXT_EMBEDDING)}")
        vector = embed_query(query, profile.endpoints, profile.client())
    with conn:
        try:
            return nearest(conn, vector, limit)
        except psycopg.errors.UndefinedTable as exc:
            raise RuntimeError("the pipeline schema is missing: run `python -m local run` first") from exc


def _snippet(text: Optional[str], width: int = 100) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m local search", description=__doc__.splitlines()[0])
    parser.add_argument("query", help="words to look for (matched by meaning, not spelling)")
    parser.add_argument("--limit", type=int, default=10, help="how many chunks to return (default 10)")
    args = parser.parse_args(argv)
    try:
        hits = search(args.query, args.limit)
    except RuntimeError as exc:
        print(f"search: {exc}", file=sys.stderr)
        return 1
    if not hits:
        print("no embedded chunks stored yet: run `python -m local run` first")
        return 1
    width = max(len(h.key) for h in hits)
    print(f"{'#':>2} {'score':>6}  {'modality':<8} {'file':<{width}}  {'where':<14} text")
    for rank, h in enumerate(hits, start=1):
        print(f"{rank:>2} {h.score:>6.3f}  {h.modality:<8} {h.key:<{width}}  {h.where:<14} {_snippet(h.text)}")
    return 0
