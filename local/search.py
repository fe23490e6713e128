"""`python -m local search "text query" [--limit N] [filters]`: hybrid search over what the last run stored.

The same module as the deployed search function (functions/search/core.py: full-text and
vector legs fused by reciprocal rank fusion, exact scans where affordable), over the data the
last `python -m local run` kept in .local-run/pg (search never clears it). The query is
embedded by the same local model servers the pipeline used, through
functions.common.model_client: text_embedding always; image_embedding (CLIP's text tower,
to reach images and keyframes) when the run stored image embeddings and its weights are
available (LOCAL_MODEL_DIRS).
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from functions.common.constants import DB_SCHEMA, MODALITIES, MODEL_IMAGE_EMBEDDING, MODEL_TEXT_EMBEDDING, TABLE_EMBEDDINGS
from functions.search import core
from functions.search.core import Filters, Hit, ModelEmbedder, Scope, nearest_sql, vector_literal

__all__ = ["Hit", "search", "search_result", "explain", "main"]


def explain(conn: Any, vector: list[float], limit: int = 10) -> str:
    """EXPLAIN of the text leg's index query (to check the HNSW index is the plan)."""
    where, params = core._filter_sql(Filters(), Scope())
    params.update(q=vector_literal(vector), role=MODEL_TEXT_EMBEDDING, limit=limit, candidates=limit)
    rows = conn.execute("EXPLAIN " + nearest_sql(len(vector), where, exact=False), params).fetchall()
    return "\n".join(r[0] for r in rows)


def _roles_stored(conn: Any) -> list[str]:
    rows = conn.execute(f"SELECT DISTINCT model_role FROM {DB_SCHEMA}.{TABLE_EMBEDDINGS}").fetchall()
    stored = {r[0] for r in rows}
    return [role for role in (MODEL_TEXT_EMBEDDING, MODEL_IMAGE_EMBEDDING) if role in stored or role == MODEL_TEXT_EMBEDDING]


def search_result(query: str, limit: int = 10, work: Optional[Path] = None, filters: Filters | None = None) -> core.SearchResult:
    """Start PostgreSQL on `work` (the last run's data, untouched) and the query models; return
    functions.search.core.search's result. Raises RuntimeError when no run has stored anything there."""
    import psycopg

    from functions.common.db import DbConfig, open_connection
    from functions.common.model_client import ModelClient
    from local.model_servers import start_local_profile
    from local.results import WORK, start_postgres

    work = work or WORK
    if not (work / "pg").is_dir():
        raise RuntimeError(f"no database in {work / 'pg'}: run `python -m local run` first")
    db_env = start_postgres(work, fresh=False)
    try:
        conn = open_connection(DbConfig.from_env(db_env))
    except Exception as exc:  # noqa: BLE001 - DatabaseUnavailableError when the database was never created
        raise RuntimeError(f"cannot open the pipeline database in {work / 'pg'} ({exc}): run `python -m local run` first") from exc
    with conn:
        try:
            roles = _roles_stored(conn)
        except psycopg.errors.UndefinedTable as exc:
            raise RuntimeError("the pipeline schema is missing: run `python -m local run` first") from exc
        with start_local_profile(roles=roles) as profile:
            if MODEL_TEXT_EMBEDDING not in profile.endpoints:
                raise RuntimeError(f"text_embedding model not available: {profile.unavailable.get(MODEL_TEXT_EMBEDDING)}")
            embed = ModelEmbedder(ModelClient(profile.endpoints, components=profile.components, sagemaker_client=profile.client()))
            try:
                return core.search(conn, query, embed, limit=limit, filters=filters)
            except psycopg.errors.UndefinedObject as exc:
                raise RuntimeError(f"the pipeline schema is out of date ({exc}): run `python -m local run` first") from exc


def search(query: str, limit: int = 10, work: Optional[Path] = None, filters: Filters | None = None) -> list[Hit]:
    """The hits of `search_result`, best first."""
    return search_result(query, limit, work, filters).hits


def _snippet(text: Optional[str], width: int = 100) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m local search", description=__doc__.splitlines()[0])
    parser.add_argument("query", help="words to look for (matched by spelling and by meaning)")
    parser.add_argument("--limit", type=int, default=10, help="how many chunks to return (default 10)")
    parser.add_argument("--modality", action="append", choices=MODALITIES, help="only these modalities (repeatable)")
    parser.add_argument("--prefix", help="only object keys starting with this")
    parser.add_argument("--time-from", type=float, help="only audio/video chunks ending at or after this second")
    parser.add_argument("--time-to", type=float, help="only audio/video chunks starting at or before this second")
    parser.add_argument("--since", type=datetime.fromisoformat, help="only objects stored at or after (ISO 8601)")
    parser.add_argument("--until", type=datetime.fromisoformat, help="only objects stored at or before (ISO 8601)")
    parser.add_argument("--pipeline-version", help="only results of this pipeline version")
    args = parser.parse_args(argv)
    try:
        filters = Filters(modalities=tuple(args.modality) if args.modality else None, key_prefix=args.prefix,
                          time_from=args.time_from, time_to=args.time_to, uploaded_since=args.since,
                          uploaded_until=args.until, pipeline_version=args.pipeline_version)
        result = search_result(args.query, args.limit, filters=filters)
    except (RuntimeError, ValueError) as exc:
        print(f"search: {exc}", file=sys.stderr)
        return 1
    hits = result.hits
    if not hits:
        print("nothing found (or no embedded chunks stored yet: run `python -m local run` first)")
        return 1
    legs = ", ".join(f"{leg}: {method}" for leg, method in result.legs.items())
    skipped = "".join(f"; {leg} not used ({why})" for leg, why in result.unavailable.items())
    print(f"pgvector {result.pgvector_version}; {legs}{skipped}")
    width = max(len(h.key) for h in hits)
    print(f"{'#':>2} {'rrf':>6} {'cosine':>6}  {'via':<18} {'modality':<8} {'file':<{width}}  {'where':<14} text")
    for rank, h in enumerate(hits, start=1):
        cosine = h.similarity if h.similarity is not None else h.image_similarity
        shown = f"{cosine:>6.3f}" if cosine is not None else f"{'-':>6}"
        print(f"{rank:>2} {h.score:>6.4f} {shown}  {'+'.join(h.matched_by):<18} {h.modality:<8} {h.key:<{width}}"
              f"  {h.where:<14} {_snippet(h.text)}")
    return 0
