"""store: write the staged result of one object version (or a copy of an identical object's
result, results/reuse.py) in one transaction (results/writes.py)."""
from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from functions.common.aws_errors import is_not_found
from functions.common.constants import DB_SCHEMA
from functions.common.events import StepResult, StoreResult
from functions.common.staging import Staging
from functions.compliance.findings import STAGED_NAME, ComplianceManifest
from functions.compliance.metrics import publish_scan
from functions.compliance.storage import copy_findings, write_findings
from functions.processing.results.identity import IDENTITY_SQL, identity
from functions.processing.results.reuse import copy_result
from functions.processing.results.writes import write_result
from functions.processing.staging.manifest import EmbedManifest, ExtractManifest, GenerateManifest
from functions.processing.steps.context import Context


def run(previous: StepResult, ctx: Context) -> StoreResult:
    """Write the staged result of one object version, or copy the result extract chose to reuse.
    Raises ReusedResultGoneError (nothing written) when that result is no longer there as
    extract saw it, DatabaseUnavailableError."""
    obj = previous.object
    if previous.up_to_date:
        return StoreResult(bucket=obj.bucket, key=obj.key, version_id=obj.version_id, modality=obj.modality, status="up_to_date")
    assert ctx.db is not None, "store needs a database"
    started = time.monotonic()
    staging = Staging(ctx.s3, ctx.settings.staging_bucket, previous.pipeline_version, obj)
    extract = ExtractManifest.model_validate(staging.get_json("extract.json"))
    # The taxonomy's label vectors for the deployed embedding models, before the transaction
    # (a model call once per container at most; functions/taxonomy/ingest.py).
    labels = ctx.labeller()
    labels.prepare(ctx.db.connection(), ctx.models)
    if previous.reuse_from is not None:
        with ctx.db.transaction() as conn:
            chunks, embeddings = copy_result(conn, previous.pipeline_version, extract, previous.reuse_from, started)
            copy_findings(conn, previous.reuse_from.model_dump(), {**obj.model_dump(), "pipeline_version": previous.pipeline_version})
            row = conn.execute(f"SELECT id, compliance FROM {DB_SCHEMA}.objects WHERE {IDENTITY_SQL}",
                               identity(obj, previous.pipeline_version)).fetchone()
            assert row is not None, "copy_result wrote it"
            labels.label(conn, row[0])
        if row[1] is not None:  # a new file with the flags of the one it copies: counted as scanned once more
            publish_scan(row[1].get("flags", []))
    else:
        generate = GenerateManifest.model_validate(staging.get_json("generate.json"))
        embed = EmbedManifest.model_validate(staging.get_json("embed.json"))
        findings = _findings(staging)

        def after(conn: Any, object_id: int, ids: dict[int, int]) -> None:
            if findings is not None:
                write_findings(conn, object_id, ids, findings)
            labels.label(conn, object_id)  # the object's vector and taxonomy labels, with its embeddings

        with ctx.db.transaction() as conn:
            chunks, embeddings = write_result(conn, previous.pipeline_version, extract, generate, embed, staging, started,
                                              after=after)
    return StoreResult(bucket=obj.bucket, key=obj.key, version_id=obj.version_id, modality=obj.modality,
                       status="succeeded", chunks=chunks, embeddings=embeddings, reused=previous.reuse_from is not None)


def _findings(staging: Staging) -> ComplianceManifest | None:
    """What the scan step staged, or None where it did not run (an execution started before the
    step existed, or steps run by hand): the object's compliance summary then stays NULL, "not
    scanned". Deployed, store may not list the staging bucket, so a missing key is refused (403),
    not reported missing: such an execution fails at store and reconciliation sends it again."""
    try:
        return ComplianceManifest.model_validate(staging.get_json(STAGED_NAME))
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
