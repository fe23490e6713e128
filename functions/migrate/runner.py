"""Applies the versioned SQL files in migrations/ (V001__init.sql, V002__...) in order.

Idempotent: applied versions are recorded in pipeline.schema_migrations with a checksum, so
a second run applies nothing; a changed file that was already applied is an error (write a
new version instead). Concurrent runners serialise on a PostgreSQL advisory lock. Each file
runs in its own transaction, so a failing file leaves the schema at the previous version.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from functions.common.constants import DB_SCHEMA, TABLE_MIGRATIONS

MIGRATIONS_DIR_ENV = "MIGRATIONS_DIR"
# Bundled beside functions/ in the Lambda asset; repo root locally.
DEFAULT_MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# Any fixed 64-bit key; only the migrate function takes it.
ADVISORY_LOCK_KEY = 7_370_120_001
_FILE = re.compile(r"^V(\d+)__([A-Za-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


class MigrationError(Exception):
    """A migration file is malformed, duplicated, or changed after it was applied."""


def migrations_dir() -> Path:
    return Path(os.environ.get(MIGRATIONS_DIR_ENV) or DEFAULT_MIGRATIONS_DIR)


def discover(directory: Path | None = None) -> list[Migration]:
    """The migration files of `directory`, sorted by version. Raises MigrationError."""
    directory = directory or migrations_dir()
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named V<number>__<name>.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations with version {version}")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def apply_pending(conn: psycopg.Connection, directory: Path | None = None) -> list[int]:
    """Apply the migrations not yet recorded; returns the versions applied now.

    `conn` must be in autocommit mode (each migration opens its own transaction).
    """
    migrations = discover(directory)
    table = f"{DB_SCHEMA}.{TABLE_MIGRATIONS}"
    conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        with conn.transaction():
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {DB_SCHEMA}")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} ("
                " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        applied: dict[int, str] = dict(conn.execute(f"SELECT version, checksum FROM {table}").fetchall())
        done: list[int] = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"V{migration.version:03d}__{migration.name}.sql changed after it was applied; "
                        "add a new migration instead"
                    )
                continue
            with conn.transaction():
                conn.execute(migration.sql)
                conn.execute(
                    f"INSERT INTO {table} (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            done.append(migration.version)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def current_version(conn: psycopg.Connection) -> int:
    row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {DB_SCHEMA}.{TABLE_MIGRATIONS}").fetchone()
    return int(row[0]) if row else 0


def ensure_app_user(conn: psycopg.Connection, user: str, password: str) -> None:
    """Create (or re-password) the login role the functions use, with only the rights they need.

    The functions connect through RDS Proxy, which logs in with the password from the app
    secret; the role gets DML on the pipeline schema and nothing else (no DDL).
    """
    from psycopg import sql

    with conn.transaction():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        # Utility statements take no bind parameters; sql.Literal quotes the password safely.
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(user), sql.Literal(password)))
        schema, role = sql.Identifier(DB_SCHEMA), sql.Identifier(user)
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role))
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(schema, role))
        conn.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, role))
        conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}").format(schema, role))
        conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT USAGE, SELECT ON SEQUENCES TO {}").format(schema, role))
