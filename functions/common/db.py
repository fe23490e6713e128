"""The database connection: psycopg 3 + pgvector, reused across invocations of a container.

Settings come from the environment (names in functions/common/constants.py):
DB_HOST, DB_PORT, DB_NAME, DB_USER and DB_AUTH, one of
* "iam": an RDS Proxy IAM auth token (boto3 rds generate_db_auth_token), TLS required
  (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-connecting.html#rds-proxy-connecting-iam);
* "secret": username/password from the Secrets Manager secret DB_SECRET_ARN;
* "password": DB_PASSWORD from the environment (the local run, whose PostgreSQL has no IAM).
Any failure to connect, or a connection that drops, is raised as DatabaseUnavailableError.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import psycopg
from pydantic import Field, model_validator

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
from functions.common.settings import EnvironmentSettings

CONNECT_TIMEOUT_SECONDS = 10
AuthMode = Literal["iam", "secret", "password"]


class DbConfig(EnvironmentSettings):
    """Where and how to connect, from DB_* variables (module docstring).

    `DbConfig.from_env(env=None)` reads `env` (os.environ when None). DB_HOST, DB_USER and DB_AUTH
    are required: the CDK app sets them for every function that connects (cdk_app/database.py),
    the local run and the tests for theirs; DB_AUTH=secret needs DB_SECRET_ARN. Raises
    ConfigurationError (a ValueError) naming each missing or unusable variable.
    """

    host: str = Field(min_length=1, validation_alias=ENV_DB_HOST)
    port: int = Field(5432, gt=0, lt=65536, validation_alias=ENV_DB_PORT)
    name: str = Field(DB_NAME, min_length=1, validation_alias=ENV_DB_NAME)
    user: str = Field(min_length=1, validation_alias=ENV_DB_USER)
    auth: AuthMode = Field(validation_alias=ENV_DB_AUTH)
    secret_arn: str = Field("", validation_alias=ENV_DB_SECRET_ARN)
    password: str = Field("", repr=False, validation_alias=ENV_DB_PASSWORD)

    @model_validator(mode="after")
    def _secret_needs_its_arn(self) -> DbConfig:
        if self.auth == "secret" and not self.secret_arn:
            raise ValueError(f"{ENV_DB_AUTH}=secret needs {ENV_DB_SECRET_ARN}")
        return self


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
    """Holds the container's connection and hands it out for one transaction at a time.

    A Lambda container runs one invocation at a time
    (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html), so one connection
    per container is enough; create one Database per container (module level in the handler)
    and never share it between threads. A broken connection is dropped and reopened on the
    next call; errors that mean the server went away are raised as DatabaseUnavailableError
    (the transaction rolled back).
    """

    def __init__(self, config: DbConfig | None = None) -> None:
        self._config = config
        self._conn: psycopg.Connection | None = None

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
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self.close()
            raise DatabaseUnavailableError(f"database connection failed: {exc}") from exc

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
