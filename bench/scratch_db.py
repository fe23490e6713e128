"""A throw-away PostgreSQL + pgvector cluster (pgserver) with the pipeline's schema, for benchmarks."""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def migrated_database(prefix: str) -> Iterator[Any]:
    """An autocommit psycopg connection to a new database with every migration applied and
    pgvector's types registered; the cluster and its files are gone afterwards."""
    import pgserver
    import psycopg
    from pgvector.psycopg import register_vector

    from functions.migrate.runner import apply_pending

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        server = pgserver.get_server(tmp, cleanup_mode="stop")
        try:
            server.psql("CREATE DATABASE bench;")
            with psycopg.connect(server.get_uri().replace("/postgres?", "/bench?"), autocommit=True) as conn:
                apply_pending(conn)
                register_vector(conn)
                yield conn
        finally:
            server.cleanup()
