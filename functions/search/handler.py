"""search Lambda behind an IAM-authorized function URL: one hybrid search per request.

Request (payload format 2.0 of Lambda function URLs): POST with a JSON body
{"query": "...", "limit": 10, "filters": {"modalities": ["video"], "key_prefix": "...",
"time_from": 0, "time_to": 30, "uploaded_since": "2026-01-01T00:00:00Z", "uploaded_until": ...,
"pipeline_version": "..."}}. Response: 200 with functions.search.core.SearchResult as JSON ({"results": [files, each with
"passages"], "legs", "unavailable", "pgvector_version", "fusion"}).
More like this: {"similar_to": {"bucket", "key", "version_id"?}, "limit", "diversity", "filters"};
recommendations: {"liked": [objects], "disliked": [objects]}; both answer {"mode", "results":
[{"bucket", "key", "version_id", "modality", "similarity", "score", "role"}]}
(functions/search/similar.py).
400 for an invalid request, 403 when the caller may not search there (settings.py), 404 when
the object to compare is not stored or not the caller's to read, 503 when the database or the
query's model is unavailable (retry later).

Env: SEARCH_BUCKETS, SEARCH_ACCESS (optional), MODEL_ENDPOINTS, MODEL_BATCH_ITEMS, DB_HOST,
DB_PORT, DB_NAME, DB_USER, DB_AUTH. Layers: core only.
"""
from __future__ import annotations

import base64
import json
from typing import Any, NamedTuple, Optional

import psycopg
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from functions.common.db import Database
from functions.common.errors import (
    DatabaseUnavailableError,
    ModelNoCapacityError,
    ModelThrottledError,
    ModelUnavailableError,
)
from functions.common.lazy import PerContainer
from functions.common.observability import logger, tracer
from functions.search.core import MAX_LIMIT, MAX_QUERY_CHARS, Filters, ModelEmbedder, search
from functions.search.settings import AccessDenied, SearchSettings
from functions.search.similar import ObjectKey, UnknownObject, recommend, similar_to


class ObjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    version_id: Optional[str] = Field(default=None, max_length=1024)

    def ref(self) -> ObjectKey:
        return ObjectKey(self.bucket, self.key, self.version_id)


class SearchRequest(BaseModel):
    """One of: `query` (hybrid search), `similar_to` (more like this object), `liked` (with
    optional `disliked`: recommendations from a history)."""

    model_config = ConfigDict(extra="forbid")

    query: Optional[str] = Field(default=None, min_length=1, max_length=MAX_QUERY_CHARS)
    similar_to: Optional[ObjectIn] = None
    liked: tuple[ObjectIn, ...] = Field(default=(), max_length=500)
    disliked: tuple[ObjectIn, ...] = Field(default=(), max_length=500)
    diversity: float = Field(default=0.3, ge=0, le=1)
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT)
    filters: Filters = Filters()

    @model_validator(mode="after")
    def _one_mode(self) -> SearchRequest:
        if sum((self.query is not None, self.similar_to is not None, bool(self.liked))) != 1:
            raise ValueError("give exactly one of query, similar_to or liked")
        if self.disliked and not self.liked:
            raise ValueError("disliked needs liked")
        return self

    def run(self, conn: Any, lexical_conn: Any, embed: ModelEmbedder, scope: Any) -> dict[str, Any]:
        if self.query is not None:
            return search(conn, self.query, embed, limit=self.limit, filters=self.filters, scope=scope,
                          lexical_conn=lexical_conn).to_dict()
        if self.similar_to is not None:
            hits = similar_to(conn, self.similar_to.ref(), self.limit, scope, self.filters, self.diversity)
            return {"mode": "similar", "results": [h.to_dict() for h in hits]}
        hits = recommend(conn, [r.ref() for r in self.liked], [r.ref() for r in self.disliked], self.limit, scope,
                         self.filters, self.diversity)
        return {"mode": "recommend", "results": [h.to_dict() for h in hits]}


class _Iam(BaseModel):
    userArn: Optional[str] = None


class _Authorizer(BaseModel):
    iam: Optional[_Iam] = None


class _RequestContext(BaseModel):
    authorizer: Optional[_Authorizer] = None


class FunctionUrlEvent(BaseModel):
    """The parts of a function URL request (payload format 2.0) the search reads."""

    version: str = "2.0"
    body: Optional[str] = None
    isBase64Encoded: bool = False
    requestContext: _RequestContext = _RequestContext()

    @property
    def principal(self) -> Optional[str]:
        auth = self.requestContext.authorizer
        return auth.iam.userArn if auth and auth.iam else None

    def request(self) -> SearchRequest:
        raw = base64.b64decode(self.body or "") if self.isBase64Encoded else (self.body or "").encode("utf-8")
        return SearchRequest.model_validate_json(raw or b"{}")


class Backends(NamedTuple):
    """What a search uses, made once per container."""

    settings: SearchSettings
    db: Database
    lexical_db: Database  # a second connection: the lexical leg runs beside the embedding and vector legs
    embed: ModelEmbedder


def _backends() -> Backends:
    from functions.common.model_client import ModelClient
    from functions.common.settings import Settings

    settings = Settings.from_env()
    # A query does not wait minutes for a model scaled to zero: it gets a 503 with Retry-After at
    # once, and the request it made has started the copy (the endpoint's wake-up alarm).
    client = ModelClient(settings.model_endpoints, components=settings.model_components,
                         batch_items=settings.model_batch_items, capacity_wait=0)
    return Backends(SearchSettings.from_env(), Database(), Database(), ModelEmbedder(client))


backends = PerContainer(_backends)


# How long a model scaled to zero takes to serve again (an instance, the container, the weights).
QUERY_MODEL_START_SECONDS = 300


def _response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json", **(headers or {})},
            "body": json.dumps(body, default=str)}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    url_event = FunctionUrlEvent.model_validate(event)
    try:
        request = url_event.request()
    except (ValidationError, ValueError) as exc:
        return _response(400, {"error": "invalid request", "detail": str(exc)[:2000]})
    settings, db, lexical_db, embed = backends.get()
    try:
        scope = settings.scope_for(url_event.principal, request.filters.key_prefix)
    except AccessDenied as exc:
        logger.warning("search refused", extra={"principal": url_event.principal, "reason": str(exc)})
        return _response(403, {"error": "forbidden", "detail": str(exc)})
    try:
        body = request.run(db.connection(), lexical_db.connection() if request.query else None, embed, scope)
    except UnknownObject as exc:
        return _response(404, {"error": "not found", "detail": str(exc)})
    except ValueError as exc:
        return _response(400, {"error": "invalid request", "detail": str(exc)[:2000]})
    except (DatabaseUnavailableError, psycopg.OperationalError, psycopg.InterfaceError) as exc:
        db.close()  # the next request opens new connections
        lexical_db.close()
        logger.exception("database unavailable")
        return _response(503, {"error": "database unavailable", "detail": str(exc)[:500]})
    except ModelNoCapacityError as exc:
        return _response(503, {"error": "query model starting", "detail": str(exc)[:500]},
                         {"retry-after": str(QUERY_MODEL_START_SECONDS)})
    except (ModelThrottledError, ModelUnavailableError) as exc:
        return _response(503, {"error": "query model unavailable", "detail": str(exc)[:500]})
    logger.info("searched", extra={"principal": url_event.principal, "results": len(body["results"]),
                                   "mode": body.get("mode", "query"), "legs": body.get("legs")})
    return _response(200, body)
