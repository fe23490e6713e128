from functions.common.constants import DB_SCHEMA, TABLE_MIGRATIONS
from functions.common.db import open_connection
from functions.migrate.runner import apply_pending, current_version, discover


def test_second_migration_run_applies_nothing(migrated_db):
    conn = open_connection(migrated_db)
    try:
        assert apply_pending(conn) == []
        assert current_version(conn) == discover()[-1].version
    finally:
        conn.close()


def test_schema_has_vector_extension_and_hnsw_indexes(migrated_db):
    conn = open_connection(migrated_db)
    try:
        assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
        indexes = {r[0] for r in conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'embeddings'", (DB_SCHEMA,)
        )}
        assert sum("hnsw" in i for i in indexes) >= 2
        rows = conn.execute(f"SELECT version, name FROM {DB_SCHEMA}.{TABLE_MIGRATIONS}").fetchall()
        assert rows[0] == (1, "init")
    finally:
        conn.close()


def test_app_user_gets_dml_rights_on_the_schema(migrated_db):

    from functions.migrate.runner import ensure_app_user

    conn = open_connection(migrated_db)
    try:
        ensure_app_user(conn, "pipeline_app_test", "s3cret'quote")
        ensure_app_user(conn, "pipeline_app_test", "s3cret'quote")  # idempotent
        row = conn.execute(
            "SELECT has_table_privilege('pipeline_app_test', 'pipeline.chunks', 'INSERT'),"
            " has_table_privilege('pipeline_app_test', 'pipeline.chunks', 'TRUNCATE')").fetchone()
        assert row == (True, False)
    finally:
        conn.close()
