"""Hybrid search over the pipeline's results: words and meaning, every modality, answered with files.

Three legs, each a ranked list of chunks (at least `Tuning.depth`, 100, each):

* ``text`` (vector.py): the query embedded by the text_embedding model, nearest text
  embeddings (cosine);
* ``image`` (vector.py): the query embedded by the image_embedding model's text tower (CLIP:
  images and texts in one space), nearest image embeddings: a text query reaches images and
  video keyframes. Only when that endpoint is deployed;
* ``lexical`` (lexical.py): BM25 over the chunk postings of migrations/V006__bm25.sql, so an
  exact name, number or rare word counts for what it is worth.

fusion.py groups each leg's chunks per file before any cut and fuses the files' ranks; the
answer is the `limit` best files, each with its best passages (text, page or time range, which
legs found it, their values). Filters narrow it, the scope (authorization, decided by
functions/search/settings.py for a caller) restricts every leg whatever the filters ask. Nothing
here knows about Lambda.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

from functions.common.constants import DB_SCHEMA, MODEL_IMAGE_EMBEDDING, MODEL_TEXT_EMBEDDING, TABLE_CHUNKS, TABLE_OBJECTS
from functions.search.filters import Filters, Scope, filter_sql
from functions.search.fusion import fuse_files
from functions.search.legs import LEG_IMAGE, LEG_LEXICAL, LEG_OF_ROLE, LEG_TEXT, Leg
from functions.search.lexical import lexical
from functions.search.tuning import Tuning
from functions.search.vector import nearest, nearest_sql, pgvector_version, vector_literal

__all__ = ["Filters", "Scope", "Tuning", "Leg", "Passage", "FileHit", "SearchResult", "ModelEmbedder", "search",
           "filter_sql", "nearest", "nearest_sql", "lexical", "vector_literal", "MAX_LIMIT", "MAX_QUERY_CHARS"]

S = DB_SCHEMA
MAX_LIMIT = 100
MAX_QUERY_CHARS = 2000


@dataclass(frozen=True)
class Passage:
    """One chunk of a file: where it is (page or time range), its text, its fused score and
    what each leg said of it (cosine similarities, BM25 score; None where a leg did not return it)."""

    chunk_id: int
    kind: str
    time_start: Optional[float]
    time_end: Optional[float]
    page: Optional[int]
    text: Optional[str]
    score: float
    similarity: Optional[float] = None  # cosine similarity in the text space, 1 = same direction
    image_similarity: Optional[float] = None  # cosine similarity in the image-text space
    bm25: Optional[float] = None
    matched_by: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        if self.time_start is not None:
            return f"{self.time_start:.2f}-{self.time_end:.2f} s"
        if self.page is not None:
            return f"page {self.page}"
        return "whole file"

    def to_dict(self) -> dict[str, Any]:
        return {"chunk_id": self.chunk_id, "kind": self.kind, "page": self.page, "time_start": self.time_start,
                "time_end": self.time_end, "where": self.where, "text": self.text, "score": self.score,
                "similarity": self.similarity, "image_similarity": self.image_similarity, "bm25": self.bm25,
                "matched_by": list(self.matched_by)}


@dataclass(frozen=True)
class FileHit:
    """One object version: which file, its fused score, its rank in each leg that found it, and
    its best passages."""

    bucket: str
    key: str
    version_id: Optional[str]
    pipeline_version: str
    modality: str
    score: float
    ranks: dict[str, int]
    passages: tuple[Passage, ...]

    @property
    def matched_by(self) -> tuple[str, ...]:
        return tuple(self.ranks)

    def to_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "version_id": self.version_id,
                "pipeline_version": self.pipeline_version, "modality": self.modality, "score": self.score,
                "matched_by": list(self.matched_by), "ranks": self.ranks,
                "passages": [p.to_dict() for p in self.passages]}


@dataclass
class SearchResult:
    files: list[FileHit]
    legs: dict[str, str] = field(default_factory=dict)  # leg -> method
    unavailable: dict[str, str] = field(default_factory=dict)  # leg -> why it did not run
    pgvector_version: str = ""
    fusion: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"results": [f.to_dict() for f in self.files], "legs": self.legs, "unavailable": self.unavailable,
                "pgvector_version": self.pgvector_version, "fusion": self.fusion}


_DETAILS_SQL = (
    f"SELECT ch.id, ch.object_id, o.bucket, o.key, o.version_id, o.pipeline_version, o.modality, ch.kind,"
    f" ch.time_start, ch.time_end, ch.page, ch.text"
    f" FROM {S}.{TABLE_CHUNKS} ch JOIN {S}.{TABLE_OBJECTS} o ON o.id = ch.object_id WHERE ch.id = ANY(%(ids)s)"
)

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


def run_legs(conn: Any, query: str, embed: Embed, depth: int, filters: Filters, scope: Scope, tuning: Tuning,
             roles: Sequence[str], result: SearchResult, lexical_conn: Any = None) -> list[Leg]:
    """Every leg that can run, `depth` chunks each; the others are listed in result.unavailable.
    With `lexical_conn` (a second connection) the lexical leg runs on it in a thread while the
    query is embedded and the vector legs run on `conn`: the search then takes about as long
    as its slowest leg rather than all of them together."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        words = pool.submit(lexical, lexical_conn, query, depth, filters, scope, tuning.bm25) if lexical_conn else None
        version = pgvector_version(conn)
        result.pgvector_version = ".".join(map(str, version))
        legs: list[Leg] = []
        for role in roles:
            vector = embed(role, query)
            if vector is None:
                result.unavailable[LEG_OF_ROLE[role]] = f"model {role} not deployed"
                continue
            legs.append(nearest(conn, role, vector, depth, filters, scope, tuning, version=version))
        legs.append(words.result() if words else lexical(conn, query, depth, filters, scope, tuning.bm25))
    result.legs = {leg.name: leg.method for leg in legs}
    return legs


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
    lexical_conn: Any = None,
) -> SearchResult:
    """The `limit` best files for `query` by hybrid search (module docstring), best first.

    `conn` (and `lexical_conn`, a second connection for the lexical leg to run beside the
    others, see run_legs) must be in autocommit mode.

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
    result = SearchResult(files=[], fusion=tuning.fusion)
    legs = run_legs(conn, query, embed, max(limit, tuning.depth), filters, scope, tuning, roles, result, lexical_conn)
    fused = fuse_files(legs, limit, tuning)
    shown = {f.object_id: f.chunks[:tuning.passages] for f in fused}
    ids = [chunk_id for chunks in shown.values() for chunk_id, _ in chunks]
    if not ids:
        return result
    rows = {r[0]: r for r in conn.execute(_DETAILS_SQL, {"ids": ids}).fetchall()}
    values = {leg.name: dict(leg.ranked) for leg in legs}
    for f in fused:
        passages = []
        for chunk_id, score in shown[f.object_id]:
            r = rows[chunk_id]
            passages.append(Passage(
                chunk_id=chunk_id, kind=r[7], time_start=r[8], time_end=r[9], page=r[10], text=r[11], score=score,
                similarity=values.get(LEG_TEXT, {}).get(chunk_id), image_similarity=values.get(LEG_IMAGE, {}).get(chunk_id),
                bm25=values.get(LEG_LEXICAL, {}).get(chunk_id),
                matched_by=tuple(leg.name for leg in legs if chunk_id in values[leg.name])))
        first = rows[shown[f.object_id][0][0]]
        result.files.append(FileHit(bucket=first[2], key=first[3], version_id=first[4], pipeline_version=first[5],
                                    modality=first[6], score=f.score, ranks=f.ranks, passages=tuple(passages)))
    return result
