"""The main job on one machine: upload -> forwarder -> Kafka -> dispatcher -> Step Functions
(the real ASL in moto, the real handlers in-process) -> PostgreSQL + pgvector.

`python -m local run [FOLDER]` processes FOLDER, or the generated sample set when none is
given, and prints one line per file read back from PostgreSQL, then files per minute.
"""
from __future__ import annotations

import contextlib
import json
import logging
import mimetypes
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote_plus

from functions.common import constants as c

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".local-run"
BUCKETS = {"ingest": "local-ingest", "staging": "local-staging", "failed": "local-failed"}
PIPELINE_VERSION = "local-1"
LOCAL_KAFKA_API_VERSION = "2.3"  # the librdkafka mock cluster answers ApiVersions up to this


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="file", file=sys.stderr, leave=True)


def _start_postgres(work: Path) -> dict[str, str]:
    import pgserver
    from urllib.parse import parse_qs, urlparse

    server = pgserver.get_server(str(work / "pg"), cleanup_mode="stop")
    server.psql(f"DROP DATABASE IF EXISTS {c.DB_NAME} WITH (FORCE);")  # a fresh result set per run
    server.psql(f"CREATE DATABASE {c.DB_NAME};")
    uri = urlparse(server.get_uri())
    return {
        c.ENV_DB_HOST: parse_qs(uri.query).get("host", [uri.hostname or "127.0.0.1"])[0],
        c.ENV_DB_PORT: str(uri.port or 5432),
        c.ENV_DB_NAME: c.DB_NAME,
        c.ENV_DB_USER: uri.username or "postgres",
        c.ENV_DB_PASSWORD: uri.password or "",
        c.ENV_DB_AUTH: "password",
    }


def _s3_event(bucket: str, key: str, size: int, etag: str, version_id: str | None, sequencer: str) -> dict:
    """The notification S3 sends for one PutObject (keys URL-encoded, spaces as '+')."""
    obj = {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag, "sequencer": sequencer}
    if version_id:
        obj["versionId"] = version_id
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:LOCAL"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "LOCAL", "x-amz-id-2": "LOCAL"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "forwarder",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "LOCAL"}, "arn": f"arn:aws:s3:::{bucket}"},
               "object": obj},
    }]}


def _summary(db_env: dict[str, str]) -> list[dict]:
    import psycopg

    dsn = dict(host=db_env[c.ENV_DB_HOST], port=db_env[c.ENV_DB_PORT], dbname=db_env[c.ENV_DB_NAME],
               user=db_env[c.ENV_DB_USER], password=db_env[c.ENV_DB_PASSWORD] or None)
    with psycopg.connect(**dsn) as conn:
        objects = conn.execute(
            f"SELECT o.key, o.modality, o.status, "
            f" (SELECT count(*) FROM {c.DB_SCHEMA}.{c.TABLE_CHUNKS} ch WHERE ch.object_id = o.id), "
            f" (SELECT count(*) FROM {c.DB_SCHEMA}.{c.TABLE_EMBEDDINGS} e WHERE e.object_id = o.id), "
            f" (SELECT f.reason FROM {c.DB_SCHEMA}.{c.TABLE_FAILURES} f WHERE f.bucket = o.bucket AND f.key = o.key "
            f"   ORDER BY f.id DESC LIMIT 1) "
            f"FROM {c.DB_SCHEMA}.{c.TABLE_OBJECTS} o ORDER BY o.modality, o.key"
        ).fetchall()
    return [dict(zip(("key", "modality", "status", "chunks", "embeddings", "reason"), row)) for row in objects]


def run(folder: Path | None) -> int:
    """Process `folder` (default: the generated samples); handler logs go to .local-run/lambda.log."""
    WORK.mkdir(exist_ok=True)
    log_path = WORK / "lambda.log"
    with open(log_path, "w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        rows, files, executions, elapsed = _run(folder)
    print(f"{'modality':<10} {'status':<10} {'chunks':>6} {'vectors':>7}  file / reason")
    for row in rows:
        reason = f"  <- {row['reason']}" if row["status"] == "failed" and row["reason"] else ""
        print(f"{row['modality']:<10} {row['status']:<10} {row['chunks']:>6} {row['embeddings']:>7}  {row['key']}{reason}")
    executions_ok = sum(e["status"] == "SUCCEEDED" for e in executions)
    print(f"\n{len(rows)}/{len(files)} files have a result row; {executions_ok}/{len(executions)} executions "
          f"succeeded; {len(files) / elapsed * 60:.1f} files per minute ({elapsed:.1f} s); handler logs: {log_path}")
    return 0 if len(rows) == len(files) and executions_ok == len(executions) else 1


def _run(folder: Path | None) -> tuple[list[dict], list[Path], list[dict], float]:
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                       "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_NAMESPACE": c.METRICS_NAMESPACE,
                       "POWERTOOLS_SERVICE_NAME": c.POWERTOOLS_SERVICE, "POWERTOOLS_LOG_LEVEL": "INFO",
                       "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's per-request lines
    if folder is None:
        from samples.generate import generate

        folder = WORK / "samples"
        print(f"generating the sample set into {folder}", file=sys.stderr)
        generate(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())

    from local import MotoServer, setup_pipeline
    from local.kafka_broker import start_kafka
    from model_artifacts.local_server import start_local_profile

    print("starting stand-ins: PostgreSQL+pgvector, moto (S3, Step Functions), Kafka, model servers", file=sys.stderr)
    db_env = _start_postgres(WORK)
    os.environ.update(db_env)
    from functions.common.db import open_connection
    from functions.migrate.runner import apply_pending

    with open_connection() as conn:
        apply_pending(conn)
        conn.commit()
    moto = MotoServer()
    endpoint = moto.start()
    os.environ[c.ENV_AWS_ENDPOINT_URL] = endpoint
    kafka = start_kafka("object-events", partitions=4)
    profile = start_local_profile()
    try:
        s3 = moto.client("s3")
        for bucket in BUCKETS.values():
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=BUCKETS["ingest"], VersioningConfiguration={"Status": "Enabled"})
        os.environ.update({
            c.ENV_PIPELINE_VERSION: PIPELINE_VERSION, c.ENV_STAGING_BUCKET: BUCKETS["staging"],
            c.ENV_FAILED_BUCKET: BUCKETS["failed"], c.ENV_MODEL_ENDPOINTS: json.dumps(profile.endpoints),
            c.ENV_KAFKA_BOOTSTRAP: kafka.bootstrap_servers, c.ENV_KAFKA_TOPIC: "object-events",
            c.ENV_KAFKA_AUTH: "none", c.ENV_KAFKA_API_VERSION: LOCAL_KAFKA_API_VERSION,
            c.ENV_VIDEO_CHUNK_SECONDS: "4", c.ENV_MAX_OBJECT_BYTES: str(512 * 1024 * 1024),
        })
        for role, why in profile.unavailable.items():
            print(f"  model {role}: not available locally ({why})", file=sys.stderr)
        arn = setup_pipeline(moto)
        os.environ[c.ENV_STATE_MACHINE_ARN] = arn

        from functions.dispatcher.handler import lambda_handler as dispatch
        from functions.forwarder.handler import lambda_handler as forward
        from local import FakeLambdaContext, KafkaEventSourceMapping

        started = time.monotonic()
        with _progress(len(files), "uploaded + forwarded to Kafka") as bar:
            for i, path in enumerate(files):
                key = path.relative_to(folder).as_posix()
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                put = s3.put_object(Bucket=BUCKETS["ingest"], Key=key, Body=path.read_bytes(), ContentType=content_type)
                event = _s3_event(BUCKETS["ingest"], key, path.stat().st_size, put["ETag"].strip('"'),
                                  put.get("VersionId"), f"{i:016X}")
                forward(event, FakeLambdaContext("local-forwarder"))
                bar.update()
        esm = KafkaEventSourceMapping(kafka.bootstrap_servers, "object-events", dispatch, group_id="local-dispatcher",
                                      batch_size=100, max_wait_ms=500, api_version=LOCAL_KAFKA_API_VERSION)
        try:
            esm.drain(idle_s=2.0, timeout_s=120)
        finally:
            esm.stop()
        sfn = moto.client("stepfunctions")
        with _progress(len(files), "processed (Step Functions)") as bar:
            done, deadline = 0, time.monotonic() + 30 * 60
            while True:
                executions = sfn.list_executions(stateMachineArn=arn)["executions"]
                if executions and all(e["status"] != "RUNNING" for e in executions):
                    break
                if time.monotonic() > deadline:
                    print("gave up waiting: executions still running after 30 minutes", file=sys.stderr)
                    break
                rows = _summary(db_env)
                bar.update(len(rows) - done)
                done = len(rows)
                time.sleep(1.0)
            rows = _summary(db_env)
            bar.update(len(rows) - done)
        elapsed = time.monotonic() - started
    finally:
        profile.stop()
        kafka.stop()
        moto.stop()
    return rows, files, executions, elapsed


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "run":
        print("usage: python -m local run [FOLDER]", file=sys.stderr)
        return 2
    return run(Path(argv[1]) if len(argv) > 1 else None)
