"""The database connection: psycopg 3 + pgvector, reused across invocations of a container.

Settings come from the environment (names in functions/common/constants.py):
DB_HOST, DB_PORT, DB_NAME, DB_USER and DB_AUTH, one of
* "iam": an RDS Proxy IAM auth token (boto3 rds generate_db_auth_token), TLS required
  (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-connecting.html#rds-proxy-connecting-iam);
* "secret": username/password from the Secrets Manager secret DB_SECRET_ARN;
* "password": DB_PASSWORD from the environment (local runs and tests only).
Any failure to connect, or a connection that drops, is raised as DatabaseUnavailableError.
"""
from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import psycopg

from functions.common.constants import (
    DB_NAME,
    ENV_DB_AUTH,
    ENV_DB_HOST,
    ENV_DB_NAME,
    ENV_DB_PASSWORD,
    ENV_DB_PORT,
    ENV_DB_SECRET_ARN,
    ENV_DB_USER,
)
from functions.common.errors import DatabaseUnavailableError

CONNECT_TIMEOUT_SECONDS = 10
AUTH_MODES = ("iam", "secret", "password")

# Test seam for local/faults.py (None in every deployed function): called as
# ("connect", config) before connecting and ("commit", conn) just before a transaction
# commits; it may raise psycopg.OperationalError or drop the connection, as a real outage would.
fault_hook: Callable[[str, Any], None] | None = None


@dataclass(frozen=True)
class DbConfig:
    host: str
    port: int = 5432
    name: str = DB_NAME
    user: str = "postgres"
    auth: str = "iam"
    secret_arn: str = ""
    password: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "DbConfig":
        env = os.environ if env is None else env
        auth = env.get(ENV_DB_AUTH, "iam")
        if auth not in AUTH_MODES:
            raise ValueError(f"{ENV_DB_AUTH} must be one of {AUTH_MODES}, not {auth!r}")
        return cls(
            host=env.get(ENV_DB_HOST, ""),
            port=int(env.get(ENV_DB_PORT) or 5432),
            name=env.get(ENV_DB_NAME) or DB_NAME,
            user=env.get(ENV_DB_USER) or "postgres",
            auth=auth,
            secret_arn=env.get(ENV_DB_SECRET_ARN, ""),
            password=env.get(ENV_DB_PASSWORD, ""),
        )


def connect_kwargs(config: DbConfig, boto_session: Any = None) -> dict[str, Any]:
    """Keyword arguments for psycopg.connect for the configured auth mode."""
    kwargs: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "dbname": config.name,
        "user": config.user,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": "multimodal-pipeline",
    }
    if config.auth == "iam":
        session = boto_session or _boto_session()
        # Tokens last 15 minutes; only new connections need one, so one per connect is right.
        kwargs["password"] = session.client("rds").generate_db_auth_token(
            DBHostname=config.host, Port=config.port, DBUsername=config.user
        )
        kwargs["sslmode"] = "require"
    elif config.auth == "secret":
        if not config.secret_arn:
            raise ValueError(f"{ENV_DB_AUTH}=secret needs {ENV_DB_SECRET_ARN}")
        session = boto_session or _boto_session()
        secret = json.loads(session.client("secretsmanager").get_secret_value(SecretId=config.secret_arn)["SecretString"])
        kwargs["user"] = secret.get("username", config.user)
        kwargs["password"] = secret["password"]
        kwargs["sslmode"] = "require"
    else:
        kwargs["password"] = config.password
    return kwargs


def _boto_session() -> Any:
    import boto3

    return boto3.session.Session()


def open_connection(config: DbConfig | None = None) -> psycopg.Connection:
    """A new connection with the pgvector types registered. Raises DatabaseUnavailableError."""
    config = config or DbConfig.from_env()
    try:
        if fault_hook is not None:
            fault_hook("connect", config)
        # autocommit: `conn.transaction()` blocks are the only transaction boundaries.
        conn = psycopg.connect(**connect_kwargs(config), autocommit=True)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailableError(f"cannot connect to {config.host}:{config.port}/{config.name}: {exc}") from exc
    try:
        from pgvector.psycopg import register_vector

        register_vector(conn)
    except psycopg.ProgrammingError:
        pass  # the extension does not exist yet (before the first migration); migrate needs no vectors
    return conn


class Database:
    """Holds one connection per container (per thread) and hands it out for one transaction
    at a time.

    On Lambda a container runs one invocation at a time, so this is one connection; the
    local run executes Map iterations on threads of one process, and a psycopg connection
    must not interleave transactions from two threads. A broken connection is dropped and
    reopened on the next call; errors that mean the server went away are raised as
    DatabaseUnavailableError (the transaction rolled back).
    """

    def __init__(self, config: DbConfig | None = None) -> None:
        self._config = config
        self._local = threading.local()

    @property
    def _conn(self) -> psycopg.Connection | None:
        return getattr(self._local, "conn", None)

    @_conn.setter
    def _conn(self, conn: psycopg.Connection | None) -> None:
        self._local.conn = conn

    def connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = open_connection(self._config)
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        conn = self.connection()
        try:
            with conn.transaction():
                yield conn
                if fault_hook is not None:
                    fault_hook("commit", conn)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self.close()
            raise DatabaseUnavailableError(f"database connection failed: {exc}") from exc

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
