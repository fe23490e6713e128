"""local.db_proxy: database faults on the wire, between functions.common.db and PostgreSQL.

The functions reach the proxy through DB_HOST / DB_PORT as they reach RDS Proxy on AWS; these
tests drive functions.common.db.Database through it against the session's pgserver.
"""
from __future__ import annotations

import pytest

from functions.common.constants import DB_SCHEMA, ENV_DB_HOST, ENV_DB_PORT
from functions.common.errors import DatabaseUnavailableError

S = DB_SCHEMA
SUCCEEDED_ROW = f"INSERT INTO {S}.objects (bucket, key, pipeline_version, modality, size, status) VALUES (%s, %s, 'v', 'text', 1, 'succeeded')"


@pytest.fixture
def proxied(db, pg_server):
    """(PgProxy, Database through it, faults fired) on the emptied test schema."""
    from functions.common.db import Database, DbConfig
    from local.db_proxy import PgProxy

    fired: list[tuple[str, str]] = []
    upstream = DbConfig.from_env(pg_server)
    with PgProxy(upstream.host, upstream.port, on_fault=lambda kind, detail: fired.append((kind, detail))) as proxy:
        database = Database(DbConfig.from_env({**pg_server, ENV_DB_HOST: proxy.listen_host, ENV_DB_PORT: str(proxy.port)}))
        yield proxy, database, fired
        database.close()


def _keys(db) -> list[str]:
    with db.transaction() as conn:
        return [k for (k,) in conn.execute(f"SELECT key FROM {S}.objects ORDER BY key").fetchall()]


def test_statements_pass_through_the_proxy_unchanged(proxied, db):
    _, database, fired = proxied
    with database.transaction() as conn:
        conn.execute(SUCCEEDED_ROW, ("b", "a.txt"))
    assert _keys(db) == ["a.txt"] and not fired


def test_refused_connection_raises_database_unavailable_until_the_count_is_spent(proxied):
    proxy, database, fired = proxied
    proxy.refuse(1)
    with pytest.raises(DatabaseUnavailableError, match="database is down"):
        with database.transaction() as conn:
            conn.execute("SELECT 1")
    with database.transaction() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert [kind for kind, _ in fired] == ["db:refused"]


def test_commit_of_a_marked_succeeded_row_is_dropped_and_rolled_back(proxied, db):
    proxy, database, fired = proxied
    proxy.drop_commit("zqmark", rf"INSERT\s+INTO\s+{S}\.objects\b.*'succeeded'", times=1)
    # More statements than psycopg's prepare threshold: the marked one is then a Bind of a prepared statement.
    for i in range(6):
        with database.transaction() as conn:
            conn.execute(SUCCEEDED_ROW, ("b", f"plain-{i}.txt"))

    with pytest.raises(DatabaseUnavailableError, match="connection failed"):
        with database.transaction() as conn:
            conn.execute(SUCCEEDED_ROW, ("b", "dir/zqmark.txt"))

    assert "dir/zqmark.txt" not in _keys(db)  # the server rolled it back
    assert fired == [("db:dropped", "dir/zqmark.txt")]
    with database.transaction() as conn:  # the retry reconnects and commits
        conn.execute(SUCCEEDED_ROW, ("b", "dir/zqmark.txt"))
    assert "dir/zqmark.txt" in _keys(db)


def test_marked_transaction_without_a_succeeded_row_commits(proxied, db):
    proxy, database, fired = proxied
    proxy.drop_commit("zqmark", rf"INSERT\s+INTO\s+{S}\.objects\b.*'succeeded'")
    with database.transaction() as conn:
        conn.execute(f"INSERT INTO {S}.objects (bucket, key, pipeline_version, modality, size, status)"
                     " VALUES (%s, %s, 'v', 'text', 1, 'failed')", ("b", "zqmark-failed.txt"))
    assert _keys(db) == ["zqmark-failed.txt"] and not fired
