"""migrate Lambda: applies pending migrations (functions/migrate/runner.py).

Usable as the onEvent handler of a CloudFormation custom resource behind the CDK Provider
framework (which sends the response to CloudFormation): Create and Update apply pending
migrations, Delete does nothing (dropping data on stack deletion is a decision for the
database's removal policy, not for a migration). Invoked directly (no RequestType) it applies
pending migrations too.

Env: DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_AUTH (+ DB_SECRET_ARN), DB_APP_SECRET_ARN (optional:
creates/re-passwords the app user the functions log in as, with DML rights on the schema), MIGRATIONS_DIR (optional;
default: migrations/ beside functions/ in the asset). Layers: core only.
"""
from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.common.constants import DB_APP_USER, ENV_DB_APP_SECRET_ARN
from functions.common.db import Database
from functions.common.events import MigrationResourceEvent
from functions.common.lazy import PerContainer, aws_client
from functions.common.observability import logger, tracer
from functions.migrate.runner import apply_pending, current_version, ensure_app_user

PHYSICAL_RESOURCE_ID = "pipeline-schema"
database = PerContainer(Database)
secrets = PerContainer(lambda: aws_client("secretsmanager"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "RequestType" in (event or {}):  # a custom-resource event: validate before connecting
        request = parse(event=event, model=MigrationResourceEvent)
        if request.RequestType == "Delete":
            logger.info("Delete: nothing to do")
            return {"PhysicalResourceId": request.PhysicalResourceId or PHYSICAL_RESOURCE_ID}
    elif event:
        raise ValueError("invoke with a CloudFormation custom-resource event, or with an empty event to migrate")
    conn = database.get().connection()
    applied = apply_pending(conn)
    version = current_version(conn)
    app_secret = os.environ.get(ENV_DB_APP_SECRET_ARN)
    if app_secret:
        secret = json.loads(secrets.get().get_secret_value(SecretId=app_secret)["SecretString"])
        ensure_app_user(conn, secret.get("username", DB_APP_USER), secret["password"])
    logger.info("schema migrated", extra={"applied": applied, "version": version})
    return {
        "PhysicalResourceId": PHYSICAL_RESOURCE_ID,
        "Data": {"SchemaVersion": str(version), "Applied": ",".join(str(v) for v in applied)},
    }
