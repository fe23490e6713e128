"""`python -m local search "text query" [--limit N] [filters]`: hybrid search over what the last run stored.

The same module as the deployed search function (functions/search/core.py: full-text and
vector legs fused by reciprocal rank fusion, exact scans where affordable), over the data the
last `python -m local run` kept in .local-run/pg (search never clears it).

When `python -m local serve` runs for that folder (local/serve.py: its state file names a live
service), the query goes to it: the database and the query model are warm there, and it
answers through the deployed handler itself. Otherwise this process starts PostgreSQL and the
query models, asks once and stops them (tens of seconds). The query is embedded by the same
local model servers the pipeline used, through functions.common.model_client: text_embedding
always; image_embedding (CLIP's text tower, to reach images and keyframes) when the run stored
image embeddings and its weights are available (LOCAL_MODEL_DIRS).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from functions.common.constants import MODALITIES, MODEL_TEXT_EMBEDDING

if TYPE_CHECKING:
    from functions.search.core import FileHit, Filters, SearchResult

__all__ = ["FileHit", "search", "search_result", "explain", "ServiceError", "result_from_dict", "main"]


def __getattr__(name: str) -> Any:
    if name == "FileHit":  # re-exported, imported only when asked for
        from functions.search.core import FileHit

        return FileHit
    raise AttributeError(name)


class ServiceError(RuntimeError):
    """The running search service answered with an error (400, 403, 503...): `status`, `body`."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{body.get('error', 'error')} ({status}): {body.get('detail', '')}".rstrip(": "))
        self.status, self.body = status, body


def explain(conn: Any, vector: list[float], limit: int = 10) -> str:
    """EXPLAIN of the text leg's index query (to check the HNSW index is the plan)."""
    from functions.search.core import Filters, Scope, filter_sql, nearest_sql, vector_literal

    where, params = filter_sql(Filters(), Scope())
    params.update(q=vector_literal(vector), role=MODEL_TEXT_EMBEDDING, limit=limit, candidates=limit)
    rows = conn.execute("EXPLAIN " + nearest_sql(len(vector), where, exact=False), params).fetchall()
    return "\n".join(r[0] for r in rows)


# --- through the running service -----------------------------------------------------------------
def request_body(query: str, limit: int, filters: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The search function's request body (functions/search/handler.py SearchRequest)."""
    body: dict[str, Any] = {"query": query, "limit": limit}
    shown = {k: v for k, v in (filters or {}).items() if v is not None}
    if shown:
        body["filters"] = shown
    return body


def ask_service(url: str, body: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    """POST `body` to the service's /search; its JSON answer. Raises ServiceError for an error
    answer, OSError when the service cannot be reached."""
    request = urllib.request.Request(f"{url}/search", data=json.dumps(body, default=str).encode("utf-8"),
                                     method="POST", headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            detail = json.loads(raw)
        except ValueError:
            detail = {"error": "error", "detail": raw.decode("utf-8", "replace")[:500]}
        raise ServiceError(exc.code, detail if isinstance(detail, dict) else {"detail": str(detail)}) from None


def result_from_dict(data: dict[str, Any]) -> SearchResult:
    """SearchResult.to_dict() (the search function's answer) back into a SearchResult."""
    from functions.search.core import FileHit, Passage, SearchResult

    files = []
    for f in data.get("results", []):
        passages = tuple(Passage(
            chunk_id=p["chunk_id"], kind=p["kind"], time_start=p.get("time_start"), time_end=p.get("time_end"),
            page=p.get("page"), text=p.get("text"), score=p["score"], similarity=p.get("similarity"),
            image_similarity=p.get("image_similarity"), bm25=p.get("bm25"), matched_by=tuple(p.get("matched_by", ())))
            for p in f.get("passages", []))
        files.append(FileHit(bucket=f["bucket"], key=f["key"], version_id=f.get("version_id"),
                             pipeline_version=f["pipeline_version"], modality=f["modality"], score=f["score"],
                             ranks=dict(f.get("ranks", {})), passages=passages))
    return SearchResult(files=files, legs=dict(data.get("legs", {})), unavailable=dict(data.get("unavailable", {})),
                        pgvector_version=data.get("pgvector_version", ""), fusion=data.get("fusion", ""))


def _service(work: Path) -> Optional[str]:
    from local.serve import running_service

    return running_service(work)


# --- on its own ----------------------------------------------------------------------------------
def _search_here(query: str, limit: int, work: Path, filters: Filters | None) -> SearchResult:
    """Start PostgreSQL on `work` and the query models, search once, stop them."""
    import psycopg

    from functions.common.db import DbConfig, open_connection
    from functions.common.model_client import ModelClient
    from functions.search import core
    from local.model_servers import start_local_profile
    from local.results import roles_stored, start_postgres

    if not (work / "pg").is_dir():
        raise RuntimeError(f"no database in {work / 'pg'}: run `python -m local run` first")
    db_env = start_postgres(work, fresh=False)
    try:
        conn = open_connection(DbConfig.from_env(db_env))
    except Exception as exc:  # noqa: BLE001 - DatabaseUnavailableError when the database was never created
        raise RuntimeError(f"cannot open the pipeline database in {work / 'pg'} ({exc}): run `python -m local run` first") from exc
    with conn:
        try:
            roles = roles_stored(conn)
        except psycopg.errors.UndefinedTable as exc:
            raise RuntimeError("the pipeline schema is missing: run `python -m local run` first") from exc
        with start_local_profile(roles=roles) as profile:
            if MODEL_TEXT_EMBEDDING not in profile.endpoints:
                raise RuntimeError(f"text_embedding model not available: {profile.unavailable.get(MODEL_TEXT_EMBEDDING)}")
            embed = core.ModelEmbedder(ModelClient(profile.endpoints, components=profile.components,
                                                   sagemaker_client=profile.client()))
            try:
                return core.search(conn, query, embed, limit=limit, filters=filters)
            except psycopg.errors.UndefinedObject as exc:
                raise RuntimeError(f"the pipeline schema is out of date ({exc}): run `python -m local run` first") from exc


def search_result(query: str, limit: int = 10, work: Optional[Path] = None, filters: Filters | None = None,
                  use_service: bool = True) -> SearchResult:
    """functions.search.core.search's result over the last run's data in `work`: from the
    running `python -m local serve` for `work` when there is one (use_service), else from
    PostgreSQL and the query models started for this one query. Raises RuntimeError when no run
    has stored anything there, ServiceError (a RuntimeError) when the service refuses the request."""
    from local.results import WORK

    work = work or WORK
    url = _service(work) if use_service else None
    if url:
        body = request_body(query, limit, filters.model_dump(mode="json", exclude_none=True) if filters else None)
        try:
            return result_from_dict(ask_service(url, body))
        except OSError:
            pass  # it went away meanwhile: search here
    return _search_here(query, limit, work, filters)


def search(query: str, limit: int = 10, work: Optional[Path] = None, filters: Filters | None = None) -> list[FileHit]:
    """The files of `search_result`, best first."""
    return search_result(query, limit, work, filters).files


# --- CLI -----------------------------------------------------------------------------------------
def _snippet(text: Optional[str], width: int = 100) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def print_result(result: dict[str, Any], out: Any = sys.stdout) -> int:
    """Print the search function's answer (SearchResult.to_dict()); 1 when it found nothing."""
    from functions.search.legs import LEG_LEXICAL

    files = result.get("results", [])
    if not files:
        print("no match: nothing stored matches this query (or nothing is stored yet: run `python -m local run` first)",
              file=out)
        return 1
    if not any(LEG_LEXICAL in f.get("matched_by", f.get("ranks", {})) for f in files):
        # The vector legs always return the nearest chunks, however far: say that none has the words.
        print("no match for these words: no stored passage contains them; the closest by meaning follow", file=out)
    legs = ", ".join(f"{leg}: {method}" for leg, method in result.get("legs", {}).items())
    skipped = "".join(f"; {leg} not used ({why})" for leg, why in result.get("unavailable", {}).items())
    print(f"pgvector {result.get('pgvector_version')}; {legs}{skipped}; fusion {result.get('fusion')}", file=out)
    for rank, f in enumerate(files, start=1):
        ranks = ", ".join(f"{leg} #{r}" for leg, r in f.get("ranks", {}).items())
        print(f"{rank:>2}. {f['key']}  ({f['modality']}; score {f['score']:.4f}; {ranks})", file=out)
        for p in f.get("passages", []):
            print(f"      {p.get('where', ''):<14} {'+'.join(p.get('matched_by', [])):<18} {_snippet(p.get('text'))}",
                  file=out)
    return 0


def main(argv: list[str]) -> int:
    from local.results import WORK

    parser = argparse.ArgumentParser(prog="python -m local search", description=__doc__.splitlines()[0])
    parser.add_argument("query", help="words to look for (matched by spelling and by meaning)")
    parser.add_argument("--limit", type=int, default=10, help="how many files to return (default 10)")
    parser.add_argument("--modality", action="append", choices=MODALITIES, help="only these modalities (repeatable)")
    parser.add_argument("--prefix", help="only object keys starting with this")
    parser.add_argument("--time-from", type=float, help="only audio/video chunks ending at or after this second")
    parser.add_argument("--time-to", type=float, help="only audio/video chunks starting at or before this second")
    parser.add_argument("--since", type=datetime.fromisoformat, help="only objects stored at or after (ISO 8601)")
    parser.add_argument("--until", type=datetime.fromisoformat, help="only objects stored at or before (ISO 8601)")
    parser.add_argument("--pipeline-version", help="only results of this pipeline version")
    parser.add_argument("--label", action="append", help="only objects whose best taxonomy label is this or under it")
    parser.add_argument("--pii-type", action="append", help="only objects with personal data of this type (EMAIL_ADDRESS, ...)")
    parser.add_argument("--moderation-label", action="append", help="only objects flagged with this moderation label")
    parser.add_argument("--work", type=Path, default=WORK, help="the local run's folder (default .local-run)")
    parser.add_argument("--no-service", action="store_true",
                        help="start PostgreSQL and the models here even when `python -m local serve` runs")
    args = parser.parse_args(argv)
    filters = {"modalities": args.modality, "key_prefix": args.prefix, "time_from": args.time_from,
               "time_to": args.time_to, "uploaded_since": args.since.isoformat() if args.since else None,
               "uploaded_until": args.until.isoformat() if args.until else None,
               "pipeline_version": args.pipeline_version, "labels": args.label, "pii_types": args.pii_type,
               "moderation_labels": args.moderation_label}
    url = None if args.no_service else _service(args.work)
    if url:
        started = time.perf_counter()
        try:
            answer = ask_service(url, request_body(args.query, args.limit, filters))
        except ServiceError as exc:
            print(f"search: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"search: the service at {url} did not answer ({exc}); searching here", file=sys.stderr)
        else:
            print(f"(answered by the search service at {url} in {time.perf_counter() - started:.2f} s)", file=sys.stderr)
            return print_result(answer)
    try:
        from functions.search.core import Filters

        result = _search_here(args.query, args.limit, args.work, Filters.model_validate(filters))
    except (RuntimeError, ValueError) as exc:
        print(f"search: {exc}", file=sys.stderr)
        return 1
    return print_result(result.to_dict())
