"""One local run of the whole pipeline per test module, on the generated sample set.

`local_run` uploads the samples, forwards their S3 events, lets the ESM stand-in dispatch the
Kafka batches and waits for every execution (first pass); then delivers everything again
(second pass: the same S3 events re-forwarded, and every Kafka batch redelivered by a
consumer group that reads the topic from the start) and reads the database again.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from functions.common.constants import DB_SCHEMA

S = DB_SCHEMA

# Everything a result set is made of, without surrogate ids and timestamps, in a stable order.
CANONICAL_QUERIES = {
    "objects": f"SELECT bucket, key, version_id, etag, size, modality, content_type, detected_format,"
               f" pipeline_version, status, metadata::text, unavailable FROM {S}.objects ORDER BY key, version_id",
    "chunks": f"SELECT o.key, ch.ordinal, ch.kind, ch.text, ch.time_start, ch.time_end, ch.duration, ch.page,"
              f" ch.metadata::text FROM {S}.chunks ch JOIN {S}.objects o ON o.id = ch.object_id ORDER BY o.key, ch.ordinal",
    "generated": f"SELECT o.key, ch.ordinal, g.task, g.content::text, g.model_id, g.model_version FROM {S}.generated g"
                 f" JOIN {S}.objects o ON o.id = g.object_id LEFT JOIN {S}.chunks ch ON ch.id = g.chunk_id"
                 f" ORDER BY o.key, ch.ordinal NULLS FIRST, g.task",
    "embeddings": f"SELECT o.key, ch.ordinal, e.model_role, e.model_id, e.model_version, e.dimension, e.embedding::text"
                  f" FROM {S}.embeddings e JOIN {S}.chunks ch ON ch.id = e.chunk_id JOIN {S}.objects o ON o.id = e.object_id"
                  f" ORDER BY o.key, ch.ordinal, e.model_role",
    "failures": f"SELECT bucket, key, version_id, pipeline_version, failed_step, error, reason FROM {S}.failures"
                f" ORDER BY key, version_id",
}


def canonical_dump(db_env: dict[str, str]) -> dict[str, list[tuple]]:
    from functions.common.db import DbConfig, open_connection

    with open_connection(DbConfig.from_env(db_env)) as conn:
        return {table: conn.execute(sql).fetchall() for table, sql in CANONICAL_QUERIES.items()}


@dataclass
class LocalRun:
    work: Path
    folder: Path
    result: object  # local.run.RunResult after the second pass (every execution of both passes)
    first_pass: list[dict]  # executions started by the first delivery
    second_pass: list[dict]  # executions started by the duplicate delivery (may be none)
    before: dict  # canonical dump after the first pass
    after: dict  # ... and after the second
    report_path: Path
    deployment: object  # local.iam.deployed.LocalDeployment: the template, its policies, every decision


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> LocalRun:
    from local import report
    from local.run import LocalPipeline
    from samples.generate import generate

    work = tmp_path_factory.mktemp("local-run")
    folder = work / "samples"
    files = generate(folder)
    with contextlib.redirect_stdout(io.StringIO()), LocalPipeline(work, progress=False) as pipeline:
        uploads = pipeline.upload(folder, files)
        pipeline.forward(uploads)
        first_pass = pipeline.process(len(files))
        before = canonical_dump(pipeline.db_env)
        pipeline.forward(uploads)  # the same S3 events again: same keys, same version ids
        second_pass = pipeline.process(len(files), group_id="local-dispatcher-redelivery")
        after = canonical_dump(pipeline.db_env)
        result = pipeline.result(files)
    report_path = report.write_html(work / "report.html", report.file_reports(result), report.run_meta(result))
    return LocalRun(work, folder, result, first_pass, second_pass, before, after, report_path, pipeline.deployment)
