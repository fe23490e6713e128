"""relabel Lambda: label every stored object with the deployment's taxonomy (or the one named in
the event) from the stored object vectors; nothing is extracted again (functions/taxonomy/relabel.py).

Event: {"dry_run": true|false, "taxonomy": "s3://bucket/key" (optional: the deployment's
TAXONOMY_URI)}. Returns the counts (a dry run: how many objects, labelled now, at this version,
by model) and, when not a dry run, the label rows written. Started by the `pipeline_relabel`
DAG (dags/relabel_dag.py), dry run first.

Env: TAXONOMY_URI, MODEL_ENDPOINTS, MODEL_COMPONENTS, MODEL_BATCH_ITEMS, DB_*. Layers: core.
"""
from __future__ import annotations

import os
from typing import Any, Optional

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from functions.common.db import Database
from functions.common.lazy import PerContainer, aws_client
from functions.common.observability import logger, tracer
from functions.taxonomy.relabel import relabel
from functions.taxonomy.taxonomy import ENV_TAXONOMY_URI, load_taxonomy


class RelabelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dry_run: bool = True
    taxonomy: Optional[str] = Field(default=None, pattern=r"^s3://[a-z0-9.-]{3,63}/.+$")


def _client() -> Any:
    from functions.common.model_client import ModelClient
    from functions.common.settings import Settings

    settings = Settings.from_env()
    return ModelClient(settings.model_endpoints, components=settings.model_components,
                       batch_items=settings.model_batch_items)


database = PerContainer(Database)
models = PerContainer(_client)
s3 = PerContainer(lambda: aws_client("s3"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event or {}, model=RelabelRequest)
    taxonomy = load_taxonomy(request.taxonomy or os.environ.get(ENV_TAXONOMY_URI), s3_client=s3.get())
    result = relabel(database.get().connection(), models.get(), taxonomy, dry_run=request.dry_run)
    logger.info("relabel", extra=result)
    return result
