"""Hybrid search over the pipeline's results: words and meaning, every modality, with filters.

Three legs, each a ranked list of chunks, fused by reciprocal rank fusion (RRF,
https://plg.uwaterloo.ca/~gvcormac/cormacksigir09-rrf.pdf: score = sum of 1 / (k + rank)):

* ``text``: the query embedded by the text_embedding model, nearest text embeddings (cosine);
* ``image``: the query embedded by the image_embedding model's text tower (CLIP: images and
  texts in one space), nearest image embeddings: a text query reaches images and video
  keyframes. Only when that endpoint is deployed;
* ``lexical``: PostgreSQL full-text search over chunk text (the GIN index of
  migrations/V003__chunk_text_search.sql), so an exact name, number or code is found even
  when no embedding ranks it.

Recall first. A vector leg scans exactly (every candidate row's distance) when the planner
estimates that at most `Tuning.exact_max_rows` rows pass the filters, which is how most collections and most
filtered queries are answered. Above that it over-fetches `Tuning.candidates` from the
partial HNSW index of migrations/V001__init.sql with a raised `hnsw.ef_search` and re-ranks
them by exact distance; on pgvector >= 0.8 (Aurora) with `hnsw.iterative_scan`, so filters
are applied inside the index scan; on older pgvector (the local pgserver ships 0.6.2), when
the filters leave fewer than the wanted rows among the candidates, it falls back to the
exact scan. bench/retrieval.py measures recall@10 of this against exact search.

Scope (authorization) is separate from filters: `Scope.buckets` and `Scope.key_prefixes`
restrict every leg, whatever the filters ask (functions/search/access.py decides them for a
caller). Nothing here knows about Lambda.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions.common.constants import (
    DB_SCHEMA,
    MODALITIES,
    MODEL_IMAGE_EMBEDDING,
    MODEL_TEXT_EMBEDDING,
    TABLE_CHUNKS,
    TABLE_EMBEDDINGS,
    TABLE_OBJECTS,
)

S = DB_SCHEMA
# The embedding spaces with a partial HNSW index (migrations/V001__init.sql): role -> dimension.
SPACES: dict[str, int] = {MODEL_TEXT_EMBEDDING: 384, MODEL_IMAGE_EMBEDDING: 512}
LEG_TEXT, LEG_IMAGE, LEG_LEXICAL = "text", "image", "lexical"
LEG_OF_ROLE = {MODEL_TEXT_EMBEDDING: LEG_TEXT, MODEL_IMAGE_EMBEDDING: LEG_IMAGE}
# The configuration of the expression index in migrations/V003__chunk_text_search.sql.
TEXT_SEARCH_CONFIG = "english"
TSVECTOR = f"to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, coalesce(ch.text, ''))"
MAX_LIMIT = 100
MAX_QUERY_CHARS = 2000
# pgvector 0.8.0 added iterative index scans (hnsw.iterative_scan):
# https://github.com/pgvector/pgvector#iterative-index-scans
ITERATIVE_SCAN_VERSION = (0, 8, 0)


@dataclass(frozen=True)
class Tuning:
    """How exact the vector legs are, and at what cost (bench/retrieval.py measures them).

    exact_max_rows: at most this many rows passing the filters -> exact scan (an exact scan of
        20,000 x 384-d vectors takes tens of milliseconds);
    candidates: rows fetched from the HNSW index before the exact re-rank (at least the limit);
    ef_search: the index's search breadth (pgvector caps what one scan returns at ef_search on
        versions without iterative scans, so it is kept >= candidates);
    rrf_k: the RRF constant (60, as in the paper);
    depth: how many chunks each leg contributes to the fusion (at least the limit).
    """

    exact_max_rows: int = 20_000
    candidates: int = 1000
    ef_search: int = 1000
    rrf_k: int = 60
    depth: int = 30

    def __post_init__(self) -> None:
        if self.exact_max_rows < 0 or self.candidates < 1 or self.rrf_k < 1 or self.depth < 1:
            raise ValueError(f"invalid search tuning {self}")
        if not 1 <= self.ef_search <= 1000:  # pgvector's hnsw.ef_search range
            raise ValueError("ef_search must be 1..1000")


class Filters(BaseModel):
    """What the caller narrows the search to (all optional; combined with AND).

    modalities: any of MODALITIES; key_prefix: object keys starting with it; time_from /
    time_to (seconds): chunks of audio and video whose time range overlaps [time_from,
    time_to] (chunks without a time range are left out when either is set); uploaded_since /
    uploaded_until: when the pipeline stored the object version (objects.created_at, minutes
    after its upload: the S3 upload time itself is not stored); pipeline_version: results of
    that pipeline version only.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    modalities: Optional[tuple[str, ...]] = None
    key_prefix: Optional[str] = Field(default=None, min_length=1, max_length=1024)
    time_from: Optional[float] = Field(default=None, ge=0)
    time_to: Optional[float] = Field(default=None, ge=0)
    uploaded_since: Optional[datetime] = None
    uploaded_until: Optional[datetime] = None
    pipeline_version: Optional[str] = Field(default=None, min_length=1, max_length=32)

    @model_validator(mode="after")
    def _consistent(self) -> Filters:
        if self.modalities is not None:
            unknown = set(self.modalities) - set(MODALITIES)
            if unknown or not self.modalities:
                raise ValueError(f"modalities must be a non-empty subset of {list(MODALITIES)}")
        if self.time_from is not None and self.time_to is not None and self.time_to < self.time_from:
            raise ValueError("time_to must not be before time_from")
        if self.uploaded_since and self.uploaded_until and self.uploaded_until < self.uploaded_since:
            raise ValueError("uploaded_until must not be before uploaded_since")
        return self


@dataclass(frozen=True)
class Scope:
    """What the caller may read: object keys in these buckets (None: every bucket; the local
    CLI) and, when given, under one of these key prefixes."""

    buckets: Optional[tuple[str, ...]] = None
    key_prefixes: Optional[tuple[str, ...]] = None


@dataclass(frozen=True)
class Hit:
    """One chunk: where it is (bucket, key, version, modality, page or time range), its text,
    the fused score and what each leg said (cosine similarities, lexical rank)."""

    chunk_id: int
    bucket: str
    key: str
    version_id: Optional[str]
    pipeline_version: str
    modality: str
    kind: str
    time_start: Optional[float]
    time_end: Optional[float]
    page: Optional[int]
    text: Optional[str]
    score: float  # RRF: sum over legs of 1 / (rrf_k + rank)
    similarity: Optional[float] = None  # cosine similarity in the text space, 1 = same direction
    image_similarity: Optional[float] = None  # cosine similarity in the image-text space
    lexical_rank: Optional[float] = None  # ts_rank_cd of the full-text match
    matched_by: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        if self.time_start is not None:
            return f"{self.time_start:.2f}-{self.time_end:.2f} s"
        if self.page is not None:
            return f"page {self.page}"
        return "whole file"

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket, "key": self.key, "version_id": self.version_id,
            "pipeline_version": self.pipeline_version, "modality": self.modality, "kind": self.kind,
            "page": self.page, "time_start": self.time_start, "time_end": self.time_end, "where": self.where,
            "text": self.text, "score": self.score, "similarity": self.similarity,
            "image_similarity": self.image_similarity, "lexical_rank": self.lexical_rank,
            "matched_by": list(self.matched_by),
        }


@dataclass(frozen=True)
class Leg:
    """One ranked list: (chunk id, value) best first; `method` says how it was computed
    (exact, hnsw, hnsw-iterative, hnsw-then-exact, fulltext)."""

    name: str
    ranked: list[tuple[int, float]]
    method: str


@dataclass
class SearchResult:
    hits: list[Hit]
    legs: dict[str, str] = field(default_factory=dict)  # leg -> method
    unavailable: dict[str, str] = field(default_factory=dict)  # leg -> why it did not run
    pgvector_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"hits": [h.to_dict() for h in self.hits], "legs": self.legs, "unavailable": self.unavailable,
                "pgvector_version": self.pgvector_version}


# -- SQL pieces ----------------------------------------------------------------------------
def _filter_sql(filters: Filters, scope: Scope) -> tuple[str, dict[str, Any]]:
    """The WHERE conditions on `o` (objects) and `ch` (chunks) for the filters and the scope."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    if scope.buckets is not None:
        parts.append("o.bucket = ANY(%(scope_buckets)s)")
        params["scope_buckets"] = list(scope.buckets)
    if scope.key_prefixes is not None:
        # starts_with: no LIKE escaping of '%' and '_' in prefixes
        ors = [f"starts_with(o.key, %(scope_prefix_{i})s)" for i in range(len(scope.key_prefixes))] or ["false"]
        parts.append("(" + " OR ".join(ors) + ")")
        params.update({f"scope_prefix_{i}": p for i, p in enumerate(scope.key_prefixes)})
    for name, condition in _FILTER_CONDITIONS:
        value = getattr(filters, name)
        if value is not None:
            parts.append(condition)
            params[name] = list(value) if isinstance(value, (tuple, list, set, frozenset)) else value
    parts.append("o.status = 'succeeded'")
    return " AND ".join(parts), params


# Each optional filter and the condition it adds (its value is the parameter of the same name).
_FILTER_CONDITIONS = (
    ("modalities", "o.modality = ANY(%(modalities)s)"),
    ("key_prefix", "starts_with(o.key, %(key_prefix)s)"),  # starts_with: no LIKE escaping of '%' and '_'
    ("time_from", "ch.time_end >= %(time_from)s"),  # chunks overlapping the range
    ("time_to", "ch.time_start <= %(time_to)s"),
    ("uploaded_since", "o.created_at >= %(uploaded_since)s"),
    ("uploaded_until", "o.created_at <= %(uploaded_until)s"),
    ("pipeline_version", "o.pipeline_version = %(pipeline_version)s"),
)

_FROM_EMBEDDINGS = (f" FROM {S}.{TABLE_EMBEDDINGS} e"
                    f" JOIN {S}.{TABLE_CHUNKS} ch ON ch.id = e.chunk_id"
                    f" JOIN {S}.{TABLE_OBJECTS} o ON o.id = e.object_id")


def nearest_sql(dimension: int, where: str, exact: bool) -> str:
    """The vector leg's query: chunk ids and cosine distances, nearest first.

    Approximate: ORDER BY the cast and WHERE of the partial HNSW index (so the planner can use
    it) over `candidates` rows, re-ranked by exact distance outside a materialized CTE (what
    pgvector documents for iterative scans, where relaxed order may return rows slightly out of
    order). Exact: the distance on the uncast column, an expression no index matches, so
    every row passing the filters is compared.
    """
    d = int(dimension)
    indexed = f"e.embedding::vector({d}) <=> %(q)s::vector({d})"
    distance = "e.embedding <=> %(q)s::vector" if exact else indexed
    where_all = f"e.model_role = %(role)s AND e.dimension = {d} AND {where}"
    if exact:
        return (f"SELECT e.chunk_id, {distance} AS distance{_FROM_EMBEDDINGS} WHERE {where_all}"
                f" ORDER BY distance, e.chunk_id LIMIT %(limit)s")
    return (f"WITH candidates AS MATERIALIZED (SELECT e.chunk_id, {indexed} AS distance{_FROM_EMBEDDINGS}"
            f" WHERE {where_all} ORDER BY {indexed} LIMIT %(candidates)s)"
            f" SELECT chunk_id, distance FROM candidates ORDER BY distance, chunk_id LIMIT %(limit)s")


def _rows_sql(where: str, dimension: int) -> str:
    """The rows a vector leg would compare; its EXPLAIN gives the planner's estimate of how many
    (planning only, about a millisecond: counting them cost 60-190 ms at 100k rows in bench/)."""
    return (f"EXPLAIN (FORMAT JSON) SELECT 1{_FROM_EMBEDDINGS} WHERE e.model_role = %(role)s"
            f" AND e.dimension = {int(dimension)} AND {where}")


def estimated_rows(conn: Any, where: str, dimension: int, params: dict[str, Any]) -> float:
    """The planner's estimate of the rows passing `where` (from the statistics ANALYZE keeps)."""
    plan = conn.execute(_rows_sql(where, dimension), params).fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return float(plan[0]["Plan"]["Plan Rows"])


def lexical_sql(where: str) -> str:
    """Full-text leg: chunks matching any word of the query (the GIN index's expression), those
    matching every word (websearch syntax: "quoted phrases", -excluded) first, then by ts_rank_cd."""
    return (
        f"SELECT ch.id, ts_rank_cd({TSVECTOR}, q.any_word, 1) AS rank"
        f" FROM {S}.{TABLE_CHUNKS} ch JOIN {S}.{TABLE_OBJECTS} o ON o.id = ch.object_id,"
        f" (SELECT websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', %(text)s) AS all_words,"
        f"  replace(plainto_tsquery('{TEXT_SEARCH_CONFIG}', %(text)s)::text, ' & ', ' | ')::tsquery AS any_word) q"
        f" WHERE {TSVECTOR} @@ q.any_word AND {where}"
        f" ORDER BY ({TSVECTOR} @@ q.all_words) DESC, rank DESC, ch.id LIMIT %(limit)s"
    )


_DETAILS_SQL = (
    f"SELECT ch.id, o.bucket, o.key, o.version_id, o.pipeline_version, o.modality, ch.kind, ch.time_start,"
    f" ch.time_end, ch.page, ch.text FROM {S}.{TABLE_CHUNKS} ch JOIN {S}.{TABLE_OBJECTS} o ON o.id = ch.object_id"
    f" WHERE ch.id = ANY(%(ids)s)"
)


# -- the legs ------------------------------------------------------------------------------
def pgvector_version(conn: Any) -> tuple[int, ...]:
    """The installed pgvector extension's version, e.g. (0, 6, 2)."""
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    if row is None:
        raise RuntimeError("the vector extension is not installed: apply the migrations first")
    return tuple(int(p) for p in re.findall(r"\d+", row[0])[:3])


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(v)) for v in vector) + "]"


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
    where, params = _filter_sql(filters, scope)
    params.update(q=vector_literal(vector), role=role, limit=int(limit))
    version = version or pgvector_version(conn)
    with conn.transaction():
        if exact is None:
            # An estimate that is too high only costs the index path's fallback below; one that
            # is too low, an exact scan of more rows than planned: both return the exact top.
            exact = estimated_rows(conn, where, dimension, params) <= tuning.exact_max_rows
        if exact:
            rows = conn.execute(nearest_sql(dimension, where, exact=True), params).fetchall()
            return Leg(LEG_OF_ROLE[role], [(int(i), 1.0 - float(d)) for i, d in rows], "exact")
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
    return Leg(LEG_OF_ROLE[role], [(int(i), 1.0 - float(d)) for i, d in rows], method)


def lexical(conn: Any, text: str, limit: int, filters: Filters | None = None, scope: Scope | None = None) -> Leg:
    """Chunks whose text contains the query's words (full-text, 'english' configuration)."""
    where, params = _filter_sql(filters or Filters(), scope or Scope())
    params.update(text=text, limit=int(limit))
    rows = conn.execute(lexical_sql(where), params).fetchall()
    return Leg(LEG_LEXICAL, [(int(i), float(r)) for i, r in rows], "fulltext")


def fuse(legs: Sequence[Leg], rrf_k: int = 60) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: (chunk id, sum of 1 / (rrf_k + rank)) best first; ties go to the
    chunk with the better best rank, then the lower id."""
    scores: dict[int, float] = {}
    best: dict[int, int] = {}
    for leg in legs:
        for rank, (chunk_id, _) in enumerate(leg.ranked, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (rrf_k + rank)
            best[chunk_id] = min(best.get(chunk_id, rank), rank)
    return sorted(scores.items(), key=lambda item: (-item[1], best[item[0]], item[0]))


# A function that embeds the query for a role: returns the vector, or None when that role's
# model is not deployed (ModelEmbedder below, over functions.common.model_client).
Embed = Callable[[str, str], Optional[list[float]]]


class ModelEmbedder:
    """Embeds queries with the pipeline's own endpoints (the same client and wire format as the
    embed step): text_embedding takes the text, image_embedding (CLIP) a {"text"} item for its
    text tower. A role without an endpoint gives None."""

    def __init__(self, client: Any) -> None:
        self.client = client  # functions.common.model_client.ModelClient

    def __call__(self, role: str, text: str) -> Optional[list[float]]:
        if not self.client.available(role):
            return None
        item: Any = {"text": text} if role == MODEL_IMAGE_EMBEDDING else text
        return [float(v) for v in self.client.invoke(role, [item]).outputs[0]]


def search(
    conn: Any,
    query: str,
    embed: Embed,
    *,
    limit: int = 10,
    filters: Filters | None = None,
    scope: Scope | None = None,
    tuning: Tuning | None = None,
    roles: Sequence[str] = (MODEL_TEXT_EMBEDDING, MODEL_IMAGE_EMBEDDING),
) -> SearchResult:
    """The `limit` best chunks for `query` by hybrid search (module docstring), best first.

    `embed(role, query)` gives the query's vector for a role or None when its model is not
    deployed (that leg is then listed in `unavailable`). Raises ValueError for an empty query or
    a limit outside 1..MAX_LIMIT, and what the model client and psycopg raise.
    """
    query = " ".join(query.split())
    if not query or len(query) > MAX_QUERY_CHARS:
        raise ValueError(f"the query must have 1..{MAX_QUERY_CHARS} characters")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_LIMIT}")
    filters, scope, tuning = filters or Filters(), scope or Scope(), tuning or Tuning()
    depth = max(limit, tuning.depth)
    version = pgvector_version(conn)
    result = SearchResult(hits=[], pgvector_version=".".join(map(str, version)))
    legs: list[Leg] = []
    for role in roles:
        vector = embed(role, query)
        if vector is None:
            result.unavailable[LEG_OF_ROLE[role]] = f"model {role} not deployed"
            continue
        legs.append(nearest(conn, role, vector, depth, filters, scope, tuning, version=version))
    legs.append(lexical(conn, query, depth, filters, scope))
    result.legs = {leg.name: leg.method for leg in legs}
    fused = fuse(legs, tuning.rrf_k)[:limit]
    if not fused:
        return result
    values = {leg.name: dict(leg.ranked) for leg in legs}
    rows = {r[0]: r for r in conn.execute(_DETAILS_SQL, {"ids": [cid for cid, _ in fused]}).fetchall()}
    for chunk_id, score in fused:
        r = rows[chunk_id]
        result.hits.append(Hit(
            chunk_id=chunk_id, bucket=r[1], key=r[2], version_id=r[3], pipeline_version=r[4], modality=r[5],
            kind=r[6], time_start=r[7], time_end=r[8], page=r[9], text=r[10], score=score,
            similarity=values.get(LEG_TEXT, {}).get(chunk_id),
            image_similarity=values.get(LEG_IMAGE, {}).get(chunk_id),
            lexical_rank=values.get(LEG_LEXICAL, {}).get(chunk_id),
            matched_by=tuple(leg.name for leg in legs if chunk_id in values[leg.name]),
        ))
    return result


def recall_at(k: int, found: Sequence[int], truth: Sequence[int]) -> float:
    """|found[:k] & truth[:k]| / min(k, |truth|): the benchmark's and the tests' measure."""
    want = set(truth[:k])
    return 1.0 if not want else len(set(found[:k]) & want) / len(want)
