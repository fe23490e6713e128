"""More like this, and recommendations from a user's history: nearest objects by their object
vectors (migrations/V008: the sum of an object's chunk embeddings), diversified.

* similar_to(object): its nearest distinct objects, never itself, another version or pipeline
  version of the same key, or an identical copy (the same content_sha256: what store's reuse
  copied), within the caller's scope;
* recommend(liked, disliked): nearest to a profile (Rocchio: the mean of the liked objects'
  unit vectors, minus half the mean of the disliked ones), history excluded.

Both over-fetch `candidates` from the partial HNSW index of object vectors (exact scan where
the planner expects few rows, as the vector legs do) and pick the answer by maximal marginal
relevance: each next object maximises (1 - diversity) x similarity to the query - diversity x
its highest similarity to an object already picked (Carbonell & Goldstein, 1998), so ten pages
of one manual do not fill the list.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from functions.common.constants import DB_SCHEMA, MODEL_IMAGE_EMBEDDING, MODEL_TEXT_EMBEDDING
from functions.search.filters import Filters, Scope, filter_sql
from functions.search.vector import SPACES, planned_rows, vector_literal

S = DB_SCHEMA
ROLES = (MODEL_TEXT_EMBEDDING, MODEL_IMAGE_EMBEDDING)  # the space compared, first present wins
DISLIKE_WEIGHT = 0.5
# Above this many candidate rows the HNSW index answers (an exact scan costs ~2.6 us a row here).
EXACT_MAX_ROWS = 5_000


@dataclass(frozen=True)
class ObjectKey:
    bucket: str
    key: str
    version_id: Optional[str] = None


@dataclass(frozen=True)
class SimilarHit:
    bucket: str
    key: str
    version_id: Optional[str]
    modality: str
    similarity: float  # cosine similarity to the object or profile
    score: float  # its marginal relevance when it was picked
    role: str

    def to_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "version_id": self.version_id, "modality": self.modality,
                "similarity": self.similarity, "score": self.score, "role": self.role}


class UnknownObject(LookupError):
    """The object is not stored (or has no vectors), or the caller may not read it."""


_SOURCE_SQL = f"""SELECT o.id, o.content_sha256, ov.model_role, ov.model_id, ov.model_version, ov.dimension,
        ov.embedding FROM {S}.objects o JOIN {S}.object_vectors ov ON ov.object_id = o.id
    WHERE o.bucket = %(bucket)s AND o.key = %(key)s AND o.status = 'succeeded'
      AND (%(version_id)s::text IS NULL OR o.version_id = %(version_id)s) AND {{where}}
    ORDER BY o.updated_at DESC, o.id DESC, ov.chunks DESC"""


def _array(v: Any) -> np.ndarray:
    """A vector column as numpy (pgvector's psycopg adapter gives a Vector, read in binary)."""
    return np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype=np.float64)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _sources(conn: Any, refs: Sequence[ObjectKey], scope: Scope, shas: set[str]) -> dict[str, list[tuple]]:
    """role -> [(object id, sha256, model id, model version, dimension, unit vector)] of the
    newest stored result of each ref (raises UnknownObject for one not stored or out of scope);
    adds the content digests of every stored version of the refs to `shas`."""
    where, params = filter_sql(Filters(), scope)
    found: dict[str, list[tuple]] = {}
    for ref in refs:
        rows = conn.execute(_SOURCE_SQL.format(where=where), {**params, "bucket": ref.bucket, "key": ref.key,
                                                            "version_id": ref.version_id}, binary=True).fetchall()
        if not rows:
            raise UnknownObject(f"s3://{ref.bucket}/{ref.key} has no stored result you may read")
        newest = rows[0][0]
        shas.update(r[1] for r in rows if r[1])
        for oid, sha, role, model_id, model_version, dim, vec in rows:
            if oid == newest:
                found.setdefault(role, []).append((oid, sha, model_id, model_version, dim, _unit(_array(vec))))
    return found


def _candidates(conn: Any, role: str, model: tuple[str, str], query: np.ndarray, exclude_ids: list[int],
                exclude_keys: list[tuple[str, str]], exclude_sha: list[str], scope: Scope, filters: Filters,
                candidates: int, needed: int) -> list[tuple]:
    d = len(query)
    where, params = filter_sql(filters, scope)
    if "ch." in where:
        raise ValueError("time filters select passages: they do not apply to whole objects")
    params.update(q=vector_literal(query.tolist()), role=role, model_id=model[0], model_version=model[1],
                  ids=exclude_ids, buckets=[b for b, _ in exclude_keys], keys=[k for _, k in exclude_keys],
                  shas=exclude_sha, n=int(candidates))
    conditions = (f"v.model_role = %(role)s AND v.dimension = {d} AND v.model_id = %(model_id)s"
                  f" AND v.model_version = %(model_version)s AND o.status = 'succeeded' AND {where}"
                  " AND NOT (o.id = ANY(%(ids)s))"
                  " AND (o.content_sha256 IS NULL OR NOT (o.content_sha256 = ANY(%(shas)s)))"
                  " AND (o.bucket, o.key) NOT IN (SELECT * FROM unnest(%(buckets)s::text[], %(keys)s::text[]))")
    base = f" FROM {S}.object_vectors v JOIN {S}.objects o ON o.id = v.object_id WHERE {conditions}"
    exact = SPACES.get(role) != d or planned_rows(conn, f"EXPLAIN (FORMAT JSON) SELECT 1{base}", params) <= EXACT_MAX_ROWS
    rows = _nearest(conn, base, params, d, exact, candidates)
    if not exact and len(rows) < min(needed, candidates):
        # the index's candidates ran out before enough passed the filters (pgvector < 0.8
        # filters after the scan): compare every row
        rows = _nearest(conn, base, params, d, True, candidates)
    return rows


def _nearest(conn: Any, base: str, params: dict[str, Any], d: int, exact: bool, candidates: int) -> list[tuple]:
    # ORDER BY the indexed expression alone (a second sort key keeps the planner off the HNSW
    # index), re-sorted with the tie-break outside the materialized CTE, as vector.py does.
    distance = "v.embedding <=> %(q)s::vector" if exact else f"v.embedding::vector({d}) <=> %(q)s::vector({d})"
    sql = (f"WITH c AS MATERIALIZED (SELECT o.id, o.bucket, o.key, o.version_id, o.modality, v.embedding,"
           f" {distance} AS distance{base} ORDER BY {distance} LIMIT %(n)s) SELECT * FROM c ORDER BY distance, id")
    with conn.transaction():
        if not exact:
            # twice the candidates: the object itself, its copies and filtered rows come out after the scan
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(min(1000, max(100, 2 * candidates))),))
        return conn.execute(sql, params, binary=True).fetchall()  # vectors as bytes, not 384 parsed numbers


def mmr(query: np.ndarray, rows: list[tuple], k: int, diversity: float) -> list[tuple[tuple, float, float]]:
    """Pick k of `rows` (…, vector at [5]) by maximal marginal relevance: (row, similarity, score)."""
    if not rows:
        return []
    vectors = np.asarray([_unit(_array(r[5])) for r in rows])
    relevance = vectors @ query
    picked: list[int] = []
    closest = np.full(len(rows), -np.inf)
    scores: list[float] = []
    for _ in range(min(k, len(rows))):
        marginal = (1 - diversity) * relevance - diversity * np.where(np.isfinite(closest), closest, 0.0)
        marginal[picked] = -np.inf
        best = int(np.argmax(marginal))
        picked.append(best)
        scores.append(float(marginal[best]))
        closest = np.maximum(closest, vectors @ vectors[best])
    return [(rows[i], float(relevance[i]), s) for i, s in zip(picked, scores)]


def _answer(conn: Any, found: dict[str, list[tuple]], profile_of: Any, k: int, scope: Scope, filters: Filters,
            diversity: float, candidates: int, exclude_keys: list[tuple[str, str]], shas: set[str]) -> list[SimilarHit]:
    for role in ROLES:
        if role not in found:
            continue
        sources = found[role]
        query = profile_of(role)
        if query is None:
            continue
        model = (sources[0][2], sources[0][3])
        all_ids = [s[0] for group in found.values() for s in group]
        rows = _candidates(conn, role, model, query, all_ids, exclude_keys, sorted(shas), scope, filters,
                           max(candidates, k), k)
        return [SimilarHit(r[1], r[2], r[3], r[4], sim, score, role) for r, sim, score in mmr(query, rows, k, diversity)]
    return []


def similar_to(conn: Any, ref: ObjectKey, k: int = 10, scope: Scope | None = None, filters: Filters | None = None,
               diversity: float = 0.3, candidates: int = 100) -> list[SimilarHit]:
    """The `k` objects most like `ref` (module docstring). Raises UnknownObject, ValueError."""
    if not 1 <= k <= 100 or not 0 <= diversity <= 1:
        raise ValueError("k must be 1..100 and diversity 0..1")
    scope, filters = scope or Scope(), filters or Filters()
    shas: set[str] = set()
    found = _sources(conn, [ref], scope, shas)
    return _answer(conn, found, lambda role: found[role][0][5], k, scope, filters, diversity, candidates,
                   [(ref.bucket, ref.key)], shas)


def recommend(conn: Any, liked: Sequence[ObjectKey], disliked: Sequence[ObjectKey] = (), k: int = 10,
              scope: Scope | None = None, filters: Filters | None = None, diversity: float = 0.3,
              candidates: int = 100) -> list[SimilarHit]:
    """The `k` objects nearest to the profile of `liked` minus `disliked` (module docstring),
    none of the history. Raises UnknownObject, ValueError."""
    if not liked or not 1 <= k <= 100 or not 0 <= diversity <= 1 or len(liked) + len(disliked) > 1000:
        raise ValueError("at least one liked object (at most 1,000 in all), k 1..100, diversity 0..1")
    scope, filters = scope or Scope(), filters or Filters()
    shas: set[str] = set()
    likes = _sources(conn, liked, scope, shas)
    dislikes = _sources(conn, disliked, scope, shas) if disliked else {}

    def profile(role: str) -> Optional[np.ndarray]:
        model = (likes[role][0][2], likes[role][0][3])
        same = [s[5] for s in likes[role] if (s[2], s[3]) == model]
        against = [s[5] for s in dislikes.get(role, []) if (s[2], s[3]) == model]
        p = _unit(np.mean(same, axis=0))
        if against:
            p = _unit(p - DISLIKE_WEIGHT * _unit(np.mean(against, axis=0)))
        return p

    merged = {role: likes[role] + list(dislikes.get(role, [])) for role in likes}
    return _answer(conn, merged, profile, k, scope, filters, diversity, candidates,
                   [(r.bucket, r.key) for r in [*liked, *disliked]], shas)
