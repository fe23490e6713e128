"""Shared fixtures: moto S3, a session-scoped PostgreSQL with pgvector (pgserver), the schema.

Reuse them from any test under tests/:
* `aws_credentials` - fake credentials and region so boto3 never reaches AWS;
* `s3` - a moto-mocked S3 client (function scope), with `ingest_bucket` / `staging_bucket`;
* `pg_server` - one PostgreSQL 16 + pgvector per test session (a temp dir, stopped at exit);
* `db_env` - the DB_* variables pointing at it (DB_AUTH=password), set for one test;
* `migrated_db` - the schema at the latest migration; `db` - the same, emptied before the test,
  as a functions.common.db.Database.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from functions.common.constants import (
    DB_SCHEMA,
    ENV_DB_AUTH,
    ENV_DB_HOST,
    ENV_DB_NAME,
    ENV_DB_PASSWORD,
    ENV_DB_PORT,
    ENV_DB_USER,
    ENV_STAGING_BUCKET,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = Path(__file__).resolve().parent / "events"
TEST_REGION = "us-east-1"
INGEST_BUCKET = "test-ingest-bucket"
STAGING_BUCKET = "test-staging-bucket"
TEST_DB_NAME = "pipeline_test"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch):
    """Fake credentials for every test, so no test can touch a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": TEST_REGION,
        "AWS_REGION": TEST_REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Test",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def s3(aws_credentials):
    """A moto S3 client with the ingest and staging buckets created."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name=TEST_REGION)
        for bucket in (INGEST_BUCKET, STAGING_BUCKET):
            client.create_bucket(Bucket=bucket)
        client.put_bucket_versioning(Bucket=INGEST_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


@pytest.fixture
def ingest_bucket(s3) -> str:
    return INGEST_BUCKET


@pytest.fixture
def staging_bucket(s3, monkeypatch) -> str:
    monkeypatch.setenv(ENV_STAGING_BUCKET, STAGING_BUCKET)
    return STAGING_BUCKET


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL with pgvector for the whole session. Yields a dict of DB_* values."""
    pgserver = pytest.importorskip("pgserver")
    root = tempfile.mkdtemp(prefix="pgtest-")
    server = pgserver.get_server(root, cleanup_mode="delete")
    from local.reaper import reaper

    reaper().postgres(root, delete=True)  # stopped and removed even when the session is killed
    uri = urlparse(server.get_uri())
    host = parse_qs(uri.query).get("host", [uri.hostname or "127.0.0.1"])[0]
    server.psql(f"DROP DATABASE IF EXISTS {TEST_DB_NAME};")
    server.psql(f"CREATE DATABASE {TEST_DB_NAME};")
    yield {
        ENV_DB_HOST: host,
        ENV_DB_PORT: str(uri.port or 5432),
        ENV_DB_NAME: TEST_DB_NAME,
        ENV_DB_USER: uri.username or "postgres",
        ENV_DB_AUTH: "password",
        ENV_DB_PASSWORD: uri.password or "",
    }
    server.cleanup()
    reaper().forget("postgres", root)


@pytest.fixture
def db_env(pg_server, monkeypatch) -> dict:
    for name, value in pg_server.items():
        monkeypatch.setenv(name, value)
    return pg_server


@pytest.fixture(scope="session")
def migrated_db(pg_server):
    """The test database with every migration applied (once per session)."""
    from functions.common.db import DbConfig, open_connection
    from functions.migrate.runner import apply_pending

    config = DbConfig.from_env(pg_server)
    conn = open_connection(config)
    try:
        apply_pending(conn)
    finally:
        conn.close()
    return config


@pytest.fixture
def db(migrated_db, db_env):
    """A functions.common.db.Database on the migrated schema, with every result table emptied."""
    from functions.common.db import Database

    database = Database(migrated_db)
    with database.transaction() as conn:
        conn.execute(f"TRUNCATE {DB_SCHEMA}.objects, {DB_SCHEMA}.failures RESTART IDENTITY CASCADE")
    yield database
    database.close()


def load_event(name: str) -> dict:
    """A JSON sample from tests/events/."""
    import json

    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


# The folder a test lives in says what it needs; `slow` marks the folders that start the whole
# local pipeline or model servers (pytest.ini lists the markers).
_FOLDER_MARKERS = {"unit": "unit", "integration": "integration", "infra": "infra", "dags": "airflow"}
_SLOW_FOLDERS = ("tests/integration/local_run", "tests/integration/models", "tests/integration/faults",
                 "tests/integration/bench", "tests/integration/search_service")


def pytest_collection_modifyitems(config, items):
    root = Path(__file__).resolve().parent
    for item in items:
        parts = Path(str(item.fspath)).resolve().relative_to(root).parts
        if parts and parts[0] in _FOLDER_MARKERS:
            item.add_marker(getattr(pytest.mark, _FOLDER_MARKERS[parts[0]]))
        if ("tests/" + "/".join(parts)).startswith(_SLOW_FOLDERS):
            item.add_marker(pytest.mark.slow)
