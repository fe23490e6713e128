"""Fixtures for the DAG tests: real Airflow in its own virtualenv, driven from the app's pytest.

Airflow's pinned dependencies clash with the app's, so scripts/setup.sh installs it in
.venv-airflow; these tests run `tests/dags/airflow_entry.py` with that interpreter against
the local stand-ins started here: moto in server mode (S3 and Step Functions) and the
session's pgserver PostgreSQL (tests/conftest.py). Airflow's own metadata DB is SQLite.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_REGION = "us-east-1"
AIRFLOW_VENV = REPO_ROOT / ".venv-airflow"
AIRFLOW_PYTHON = AIRFLOW_VENV / "bin" / "python"
ENTRY = Path(__file__).with_name("airflow_entry.py")
PIPELINE_VERSION = "2026.11.1"
BUCKET = "reprocess-ingest"
PIPELINE_STUB_NAME = "pipeline-stub"
BACKFILL_STUB_NAME = "backfill-stub"
RESULTS_BUCKET = "reprocess-staging"
# A stand-in for the pipeline's state machine: the DAGs only start executions; what the
# pipeline then does is other tests' business. The tests record results in the DB themselves.
PIPELINE_STUB = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
RESULT = "RESULT "


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> Path:
    """An AIRFLOW_HOME with a migrated SQLite metadata DB, shared by the session."""
    if not AIRFLOW_PYTHON.exists():
        pytest.fail(f"{AIRFLOW_PYTHON} missing: run `make setup` (scripts/setup.sh builds .venv-airflow)")
    home = tmp_path_factory.mktemp("airflow")
    env = _base_env(home)
    done = subprocess.run([str(AIRFLOW_VENV / "bin" / "airflow"), "db", "migrate"], env=env, cwd=home,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return home


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # On MWAA, cdk_app/backfill.py ships functions/common and functions/streaming beside the DAGs.
        "PYTHONPATH": str(REPO_ROOT),
    })
    return env


def run_entry(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run airflow_entry.py in the Airflow virtualenv; return its RESULT."""
    done = subprocess.run([str(AIRFLOW_PYTHON), str(ENTRY), *args], env=env, cwd=env["AIRFLOW_HOME"],
                          capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    assert done.returncode == 0 and lines, f"rc={done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    return json.loads(lines[-1][len(RESULT):])


@pytest.fixture
def moto_server(aws_credentials):
    """moto in server mode with Step Functions executing definitions (local.aws)."""
    from local.aws import MotoServer

    server = MotoServer()
    server.start()
    yield server
    server.reset()
    server.stop()


class World:
    """The stand-ins one DAG run talks to, and helpers to arrange and inspect them."""

    def __init__(self, server: Any, db: Any, home: Path, pg: dict[str, str]):
        self.server, self.db = server, db
        self.bucket, self.pipeline_version = BUCKET, PIPELINE_VERSION
        self.s3 = server.client("s3")
        self.sfn = server.client("stepfunctions")
        self.s3.create_bucket(Bucket=BUCKET)
        self.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        self.state_machine_arn = self.sfn.create_state_machine(
            name=PIPELINE_STUB_NAME, definition=json.dumps(PIPELINE_STUB),
            roleArn="arn:aws:iam::123456789012:role/stub", type="STANDARD",
        )["stateMachineArn"]
        from functions.common.constants import ENV_DB_HOST, ENV_DB_NAME, ENV_DB_PASSWORD, ENV_DB_PORT, ENV_DB_USER

        self.env = _base_env(home)
        self.env.update({
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({"conn_type": "aws", "extra": {
                "endpoint_url": server.endpoint_url, "region_name": TEST_REGION}}),
            "AIRFLOW_CONN_PIPELINE_DB": json.dumps({
                "conn_type": "postgres", "host": pg[ENV_DB_HOST], "port": int(pg[ENV_DB_PORT]),
                "login": pg[ENV_DB_USER], "password": pg[ENV_DB_PASSWORD], "schema": pg[ENV_DB_NAME]}),
            "AIRFLOW__PIPELINE__STATE_MACHINE_ARN": self.state_machine_arn,
            "AIRFLOW__PIPELINE__INGEST_BUCKET": BUCKET,
            "AIRFLOW__PIPELINE__PIPELINE_VERSION": PIPELINE_VERSION,
            "AWS_ENDPOINT_URL": server.endpoint_url,
        })

    def play_backfill(self, **batch_input: Any) -> dict:
        """Stand in for the backfill state machine, which moto cannot run (no Distributed Map
        ItemReader/ItemBatcher): list the bucket as the ItemReader would, run the real batch
        logic on each batch of 1,000 in the shape the Distributed Map passes, write the results
        as its ResultWriter does, and register a stub state machine whose output points at
        them. Returns the summed counts the DAG should report."""
        from functions.reprocess import names
        from functions.reprocess.batch import BatchEvent, process_batch

        items = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            items += [{"Etag": o["ETag"], "Key": o["Key"], "LastModified": o["LastModified"].timestamp(),
                       "Size": o["Size"], "StorageClass": "STANDARD"} for o in page.get("Contents", [])]

        def head(bucket, key):
            return self.s3.head_object(Bucket=bucket, Key=key)

        def query(sql, params):
            with self.db.transaction() as conn:
                return conn.execute(sql, params).fetchall()

        def start(name, body):
            return self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=body)["executionArn"]

        lines = []
        for i in range(0, len(items), 1000):
            event = BatchEvent.model_validate({"Items": items[i:i + 1000], "BatchInput": batch_input})
            lines.append(json.dumps(process_batch(event, head=head, query=query, start=start)))
        prefix = f"{names.RESULTS_PREFIX}/run-1"
        self.s3.create_bucket(Bucket=RESULTS_BUCKET)
        self.s3.put_object(Bucket=RESULTS_BUCKET, Key=f"{prefix}/SUCCEEDED_0.json", Body="\n".join(lines).encode())
        self.s3.put_object(Bucket=RESULTS_BUCKET, Key=f"{prefix}/manifest.json", Body=json.dumps({
            "DestinationBucket": RESULTS_BUCKET, "ResultFiles": {
                "SUCCEEDED": [{"Key": f"{prefix}/SUCCEEDED_0.json", "Size": 1}], "FAILED": [], "PENDING": []},
        }).encode())
        output = {"MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:backfill-stub/x:y",
                  "ResultWriterDetails": {"Bucket": RESULTS_BUCKET, "Key": f"{prefix}/manifest.json"}}
        self.backfill_arn = self.sfn.create_state_machine(
            name=BACKFILL_STUB_NAME, roleArn="arn:aws:iam::123456789012:role/stub", type="STANDARD",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": output, "End": True}}}),
        )["stateMachineArn"]
        self.env.update({
            "AIRFLOW__PIPELINE__BACKFILL_STATE_MACHINE_ARN": self.backfill_arn,
            "AIRFLOW__PIPELINE__BACKFILL_POKE_SECONDS": "1",
        })
        return json.loads(lines[0]) if len(lines) == 1 else {}

    def backfill_inputs(self) -> list[dict]:
        """The inputs the backfill stub was started with."""
        executions = self.sfn.list_executions(stateMachineArn=self.backfill_arn)["executions"]
        return [json.loads(self.sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in executions]

    def put(self, key: str, body: bytes = b"x") -> str:
        """Upload one object; returns its version id."""
        return self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]

    def record(self, key: str, version_id: str | None, status: str, pipeline_version: str = PIPELINE_VERSION,
               modality: str = "image") -> None:
        """A row in pipeline.objects, as store / record_failure would write it."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO pipeline.objects (bucket, key, version_id, size, modality, pipeline_version, status)"
                " VALUES (%s, %s, %s, 1, %s, %s, %s)",
                (BUCKET, key, version_id, modality, pipeline_version, status),
            )

    def fail(self, key: str, error: str, modality: str = "image") -> None:
        """What the Map iteration's Catch does when a step raised `error` for the current version
        of `key`: record_failure writes the failure and a failed row."""
        from functions.common.events import FailureInput
        from functions.processing.results.failures import record_failure

        head = self.s3.head_object(Bucket=BUCKET, Key=key)
        record_failure(self.db, FailureInput.model_validate({
            "object": {"bucket": BUCKET, "key": key, "version_id": head["VersionId"], "size": head["ContentLength"],
                       "modality": modality},
            "pipeline_version": PIPELINE_VERSION, "failed_step": "extract", "error": {"Error": error, "Cause": "why"},
        }))

    def record_sent_as_processed(self) -> None:
        """What the pipeline would do with every object the DAGs sent: a succeeded row each."""
        for ref, pipeline_version in self.sent_objects():
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT INTO pipeline.objects (bucket, key, version_id, size, modality, pipeline_version, status)"
                    " VALUES (%s, %s, %s, %s, %s, %s, 'succeeded')"
                    " ON CONFLICT ON CONSTRAINT objects_identity DO UPDATE SET status = 'succeeded'",
                    (ref["bucket"], ref["key"], ref["version_id"], ref["size"], ref["modality"], pipeline_version),
                )

    def executions(self) -> list[dict]:
        return self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]

    def sent_objects(self) -> list[tuple[dict, str]]:
        """(ObjectRef as dict, pipeline version) of every object in every started execution."""
        from functions.common.constants import MODALITIES, UNSUPPORTED

        out = []
        for execution in self.executions():
            body = json.loads(self.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
            for modality in (*MODALITIES, UNSUPPORTED):
                out.extend((ref, body["pipeline_version"]) for ref in body.get(modality, []))
        return out

    def sent_keys(self) -> list[str]:
        return sorted(ref["key"] for ref, _ in self.sent_objects())

    def run(self, dag_id: str, **conf: Any) -> dict[str, Any]:
        return run_entry(self.env, "run", dag_id, json.dumps(conf))


@pytest.fixture
def dagbag(airflow_home) -> dict[str, Any]:
    """What Airflow's DagBag says of dags/: {"dags", "import_errors", "warnings"}."""
    return run_entry(_base_env(airflow_home), "dagbag")


@pytest.fixture
def world(moto_server, db, airflow_home, pg_server) -> World:
    return World(moto_server, db, airflow_home, pg_server)
