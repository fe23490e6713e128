"""The local run's PostgreSQL takes as many clients as the Lambda containers open side by side
(deployed, RDS Proxy pools them; locally each container connects itself): local.results."""
from __future__ import annotations

import psycopg

from functions.common.db import DbConfig, connect_kwargs
from local.results import LOCAL_MAX_CONNECTIONS, start_postgres


def _max_connections(env: dict[str, str]) -> int:
    with psycopg.connect(**connect_kwargs(DbConfig.from_env(env)), autocommit=True) as conn:
        return int(conn.execute("SHOW max_connections").fetchone()[0])


def _backend_pid(env: dict[str, str]) -> int:
    with psycopg.connect(**connect_kwargs(DbConfig.from_env(env)), autocommit=True) as conn:
        return int(conn.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'").fetchone()[0])


def test_a_new_data_directory_is_started_with_room_for_every_container(tmp_path):
    import pgserver

    env = start_postgres(tmp_path, fresh=True)
    try:
        assert _max_connections(env) == LOCAL_MAX_CONNECTIONS > 100  # PostgreSQL's default is 100
        checkpointer = _backend_pid(env)
        # A second run on the same directory finds the setting in place: no restart.
        again = start_postgres(tmp_path, fresh=False)
        assert _max_connections(again) == LOCAL_MAX_CONNECTIONS and _backend_pid(again) == checkpointer
    finally:
        pgserver.get_server(str(tmp_path / "pg")).cleanup()  # stops it


def test_the_handle_stops_the_restarted_server(tmp_path):
    import pgserver
    import psutil

    start_postgres(tmp_path, fresh=True)
    server = pgserver.get_server(str(tmp_path / "pg"))
    postmaster = psutil.Process(int((tmp_path / "pg" / "postmaster.pid").read_text().split()[0]))  # the running one
    server.cleanup()
    # exited (a zombie until whoever adopted the daemon reaps it)
    assert not postmaster.is_running() or postmaster.status() == psutil.STATUS_ZOMBIE
