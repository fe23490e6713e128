"""The main job on one machine: upload -> forwarder -> Kafka -> dispatcher -> Step Functions
(the real ASL in moto, the real handlers in-process) -> PostgreSQL + pgvector.

`python -m local run [FOLDER]` processes FOLDER, or the generated sample set when none is
given: per-stage progress bars while it runs, then one line per file (read back from
PostgreSQL, step durations from the execution histories), time per step, files per minute,
and an HTML report in .local-run/report.html.
`python -m local search "text" [--limit N]` queries what the last run stored (local.search).

`LocalPipeline` is the same run as a library (the integration tests drive it step by step).
"""
from __future__ import annotations

import contextlib
import json
import logging
import mimetypes
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from functions.common import constants as c
from local.history import Iteration, dispatched_objects, history, iterations
from local.progress import StageProgress
from local.results import WORK, RunResult, start_postgres

if TYPE_CHECKING:
    from local.iam.deployed import LocalDeployment

ROOT = Path(__file__).resolve().parents[1]
BUCKETS = {"ingest": "local-ingest", "staging": "local-staging", "failed": "local-failed"}
PIPELINE_VERSION = "local-1"
TOPIC = "object-events"
LOCAL_KAFKA_API_VERSION = "2.3"  # the librdkafka mock cluster answers ApiVersions up to this
# The deployed mapping's MaximumRecordAgeInSeconds (cdk_app/streaming.py); tests/infra/test_template.py
# checks that esm_error_handling() matches the synthesized event source mapping.
ESM_MAX_RECORD_AGE_S = 24 * 60 * 60
# Seconds without a committed record, nothing running and records still unread before the local
# mapping's consumer is replaced (see LocalPipeline.process).
STALLED_CONSUMER_S = 60


def esm_error_handling() -> dict:
    """KafkaEventSourceMapping keyword arguments for the deployed mapping's error handling: its
    retry attempts (cdk.json pipeline.kafka.retry_attempts), maximum record age and partial batch
    responses. The on-failure destination (the failed-items bucket) is passed by the caller."""
    kafka = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]["pipeline"]["kafka"]
    return {"maximum_retry_attempts": kafka["retry_attempts"], "maximum_record_age_s": ESM_MAX_RECORD_AGE_S,
            "report_batch_item_failures": True}


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


def deployed_stack(moto) -> LocalDeployment:
    """The synthesized stack mapped onto this run's names; each function's containers sign
    with their role's key from now on."""
    from local import lambda_dispatch
    from local.aws import LOCAL_ACCOUNT, LOCAL_REGION, STATE_MACHINE_STEPS, local_function_name
    from local.iam.deployed import LocalDeployment, synthesized_template

    names = {step: local_function_name(step) for step in (*STATE_MACHINE_STEPS, c.FN_FORWARDER, c.FN_DISPATCHER)}
    deployment = LocalDeployment.from_template(synthesized_template(), buckets=BUCKETS, function_names=names,
                                               region=LOCAL_REGION, account=LOCAL_ACCOUNT)
    lambda_dispatch.set_role_keys(deployment.role_keys)
    return deployment


@dataclass
class Upload:
    """One PutObject of the run and the S3 notification that announced it."""

    key: str
    version_id: str | None
    event: dict


class LocalPipeline:
    """The stand-ins and the pipeline wired together; use as a context manager.

    start() brings up PostgreSQL (a fresh database), moto, Kafka and the model servers;
    upload() -> forward() -> process() move files through; result() reads everything back;
    stop() tears down (PostgreSQL's data directory stays for `search`). Environment variables
    it sets are restored on stop().
    """

    def __init__(self, work: Path = WORK, progress: bool = True, model_workers: int | None = None):
        self.work = work
        self.progress = progress
        self.model_workers = model_workers  # per container; None: one per CPU, as on a CPU instance
        self.published = 0  # messages the forwarder put on the topic, over all passes
        self.started_at: float | None = None
        self._saved_env: dict[str, str] | None = None
        self._known_executions: set[str] = set()
        self.announced: dict[tuple[str, str | None], Upload] = {}  # objects extract wrote, forwarded once
        self._stack = contextlib.ExitStack()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> LocalPipeline:
        self._saved_env = dict(os.environ)
        os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                           "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_NAMESPACE": c.METRICS_NAMESPACE,
                           "POWERTOOLS_SERVICE_NAME": c.POWERTOOLS_SERVICE, "POWERTOOLS_LOG_LEVEL": "INFO",
                           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's per-request lines
        from local import MotoServer, setup_pipeline
        from local.kafka_broker import start_kafka
        from local.model_servers import start_local_profile

        self.work.mkdir(parents=True, exist_ok=True)
        print("starting stand-ins: PostgreSQL+pgvector, moto (S3, Step Functions), Kafka, "
              "SageMaker endpoints (the Hugging Face toolkit under multi-model-server)", file=sys.stderr)
        self.db_env = start_postgres(self.work, fresh=True)
        os.environ.update(self.db_env)
        from functions.common.db import open_connection
        from functions.migrate.runner import apply_pending

        with open_connection() as conn:
            apply_pending(conn)
            conn.commit()
        self.moto = MotoServer()
        endpoint = self.moto.start()
        # moto's backends are process-global: a server started after another one would still
        # hold its buckets, state machine and executions. Every pipeline starts from empty.
        self.moto.reset()
        self._stack.callback(self.moto.stop)
        os.environ[c.ENV_AWS_ENDPOINT_URL] = endpoint
        self.kafka = start_kafka(TOPIC, partitions=4)
        self._stack.callback(self.kafka.stop)
        # Every call from here on is authorized against the synthesized template's policies, as
        # the deployed roles would be (local/iam): a call AWS would deny fails here too.
        self.deployment = deployed_stack(self.moto)
        self.profile = start_local_profile(workers=self.model_workers, names=self.deployment.model_names)
        self.profile.runtime.authorizer = self.deployment.authorizer
        self._stack.callback(self.profile.stop)
        self.s3 = self.moto.client("s3")
        self.sfn = self.moto.client("stepfunctions")
        for bucket in BUCKETS.values():
            self.s3.create_bucket(Bucket=bucket)
        self.s3.put_bucket_versioning(Bucket=BUCKETS["ingest"], VersioningConfiguration={"Status": "Enabled"})
        os.environ.update({
            c.ENV_PIPELINE_VERSION: PIPELINE_VERSION, c.ENV_STAGING_BUCKET: BUCKETS["staging"],
            c.ENV_FAILED_BUCKET: BUCKETS["failed"], **self.profile.env(),
            c.ENV_KAFKA_BOOTSTRAP: self.kafka.bootstrap_servers, c.ENV_KAFKA_TOPIC: TOPIC,
            c.ENV_KAFKA_AUTH: "none", c.ENV_KAFKA_API_VERSION: LOCAL_KAFKA_API_VERSION,
            c.ENV_VIDEO_CHUNK_SECONDS: "4", c.ENV_MAX_OBJECT_BYTES: str(512 * 1024 * 1024),
        })
        for role, why in self.profile.unavailable.items():
            print(f"  model {role}: not available locally ({why})", file=sys.stderr)
        # The segments of one long object run side by side up to what one endpoint serves at once
        # (deployed, segment_max_concurrency assumes endpoints that scale out; here each role is
        # one container of `workers` workers on this machine's CPUs).
        self.arn = setup_pipeline(self.moto, segment_concurrency=self.profile.workers,
                                  name=self.deployment.state_machine_name)
        self.moto.authorize(self.deployment.authorizer)
        os.environ[c.ENV_STATE_MACHINE_ARN] = self.arn
        return self

    def stop(self) -> None:
        try:
            self._stack.close()  # moto's stop retires every function's containers
        finally:
            if self._saved_env is not None:
                os.environ.clear()
                os.environ.update(self._saved_env)
                self._saved_env = None

    def __enter__(self) -> LocalPipeline:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- moving files through -------------------------------------------------------------
    def upload(self, folder: Path, files: list[Path], bar: StageProgress | None = None) -> list[Upload]:
        """PutObject each file into the versioned ingest bucket; return the S3 events to forward."""
        if self.started_at is None:
            self.started_at = time.monotonic()
        uploads = []
        for i, path in enumerate(files):
            key = path.relative_to(folder).as_posix()
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            put = self.s3.put_object(Bucket=BUCKETS["ingest"], Key=key, Body=path.read_bytes(), ContentType=content_type)
            event = _s3_event(BUCKETS["ingest"], key, path.stat().st_size, put["ETag"].strip('"'),
                              put.get("VersionId"), f"{i:016X}")
            uploads.append(Upload(key, put.get("VersionId"), event))
            if bar:
                bar.set("uploaded", len(uploads))
        return uploads

    def forward(self, uploads: list[Upload], bar: StageProgress | None = None) -> int:
        """Call the forwarder with each upload's S3 event (as S3 would); returns messages published."""
        from local import FakeLambdaContext
        from local.lambda_dispatch import step_handler

        forward = step_handler(c.FN_FORWARDER)  # in a container of the function, as S3 invokes it

        sent = 0
        for upload in uploads:
            sent += forward(upload.event, FakeLambdaContext("local-forwarder"))["forwarded"]
            if bar:
                bar.set("in Kafka", sent)
        self.published += sent
        return sent

    def process(self, files: int, bar: StageProgress | None = None, group_id: str = "local-dispatcher",
                timeout_s: float = 30 * 60) -> list[dict]:
        """Consume the topic with the ESM stand-in (group `group_id`) until it has read every
        message published so far, then wait for the executions it started. A new `group_id`
        reads the topic again from the start: a redelivery of every batch.

        Bars count the files of the executions this call started. Returns those executions.
        """
        from local import KafkaEventSourceMapping
        from local.esm import S3OnFailureDestination
        from local.lambda_dispatch import step_handler

        dispatch = step_handler(c.FN_DISPATCHER)  # in a container of the function, as the mapping invokes it

        def mapping() -> KafkaEventSourceMapping:
            return KafkaEventSourceMapping(
                self.kafka.bootstrap_servers, TOPIC, dispatch, group_id=group_id, batch_size=100, max_wait_ms=500,
                api_version=LOCAL_KAFKA_API_VERSION, on_failure=S3OnFailureDestination(self.s3, BUCKETS["failed"]),
                **esm_error_handling())

        esm = mapping()
        consumed_before = 0  # records committed by mappings this call replaced
        progress_at, progress = time.monotonic(), 0
        before = set(self._known_executions)
        histories: dict[str, list[dict]] = {}
        deadline = time.monotonic() + timeout_s
        esm.start()
        try:
            while True:
                executions = [e for e in self.sfn.list_executions(stateMachineArn=self.arn)["executions"]
                              if e["executionArn"] not in before]
                for e in executions:
                    if e["executionArn"] not in histories or e["status"] == "RUNNING" or not histories[e["executionArn"]]:
                        histories[e["executionArn"]] = history(self.sfn, e["executionArn"])
                if bar:
                    _show(bar, histories)
                records = consumed_before + esm.stats.records
                consumed = records >= self.published
                running = any(e["status"] == "RUNNING" for e in executions)
                if records != progress or running:
                    progress_at, progress = time.monotonic(), records
                elif not consumed and time.monotonic() - progress_at > STALLED_CONSUMER_S:
                    # kafka-python's consumer can stay stuck joining the mock cluster's group under
                    # heavy load; a new member of the same group resumes from the committed offsets
                    # (what Lambda's pollers do when one is replaced), and the dispatcher's execution
                    # names make a re-read batch start nothing twice.
                    print(f"the local event source mapping made no progress for {STALLED_CONSUMER_S} s: "
                          "replacing its consumer", file=sys.stderr)
                    esm.stop()
                    consumed_before += esm.stats.records
                    esm = mapping()
                    esm.start()
                    progress_at = time.monotonic()
                if consumed and not running and self._announce_written_objects():
                    continue  # extract wrote objects back (e-mail attachments): their events are on the topic
                if consumed and not running:
                    # one last read: the executions may have ended after their histories were fetched
                    for e in executions:
                        histories[e["executionArn"]] = history(self.sfn, e["executionArn"])
                    if bar:
                        _show(bar, histories)
                    break
                if time.monotonic() > deadline:
                    print(f"gave up waiting after {timeout_s:.0f} s: executions still running", file=sys.stderr)
                    break
                time.sleep(1.0)
        finally:
            esm.stop()
        self._known_executions.update(e["executionArn"] for e in executions)
        return executions

    def _announce_written_objects(self) -> int:
        """Forward the S3 event of each object version extract wrote under the attachments prefix
        since the last call, as the ingest bucket's notification does on AWS (cdk_app/streaming.py:
        every ObjectCreated goes to the forwarder). Returns how many it forwarded."""
        new: list[Upload] = []
        paginator = self.s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=BUCKETS["ingest"], Prefix=f"{c.ATTACHMENTS_PREFIX}/"):
            for version in page.get("Versions", []):
                ident = (version["Key"], version.get("VersionId"))
                if ident in self.announced:
                    continue
                upload = Upload(version["Key"], version.get("VersionId"), _s3_event(
                    BUCKETS["ingest"], version["Key"], version["Size"], version["ETag"].strip('"'),
                    version.get("VersionId"), f"A{len(self.announced):015X}"))
                self.announced[ident] = upload
                new.append(upload)
        return self.forward(new) if new else 0

    # -- reading back ---------------------------------------------------------------------
    def result(self, files: list[Path]) -> RunResult:
        """Rows from PostgreSQL, iterations from every execution's history, staged images."""
        from functions.common.db import DbConfig, open_connection
        from local import report

        elapsed = time.monotonic() - (self.started_at or time.monotonic())
        executions = self.sfn.list_executions(stateMachineArn=self.arn)["executions"]
        found: list[Iteration] = []
        for e in executions:
            found.extend(iterations(e["name"], history(self.sfn, e["executionArn"])))
        with open_connection(DbConfig.from_env(self.db_env)) as conn:
            objects = report.load_objects(conn)
        artefacts = report.collect_artefacts(self.s3, BUCKETS["staging"], PIPELINE_VERSION, objects)
        return RunResult(work=self.work, files=files, objects=objects, iterations=found, executions=executions,
                         artefacts=artefacts, elapsed=elapsed, db_env=self.db_env,
                         unavailable=dict(self.profile.unavailable),
                         attachments=sorted(key for key, _ in self.announced),
                         authorized=sum(d.allowed for d in self.deployment.authorizer.decisions),
                         denied=[f"{d.label}: {d.action} on {d.resource} ({d.reason})"
                                 for d in self.deployment.authorizer.denials()])


def _show(bar: StageProgress, histories: dict[str, list[dict]]) -> None:
    dispatched: set = set()
    done: dict[str, set] = {step: set() for step in (*c.PIPELINE_STEPS, "failed")}
    for arn, events in histories.items():
        dispatched.update(dispatched_objects(events))
        for it in iterations(arn, events):
            ident = (it.bucket, it.key, it.version_id)
            for run in it.steps:
                if run.exited is not None and run.step in done:
                    done[run.step].add(ident)
            if it.outcome == "failed":
                done["failed"].add(ident)
    bar.set("dispatched", len(dispatched))
    for step, idents in done.items():
        bar.set(step, len(idents))


def run_pipeline(folder: Path | None = None, work: Path = WORK, progress: bool = True,
                 report_path: Path | None = None) -> RunResult:
    """Process `folder` (default: the generated sample set) once, end to end; write the HTML
    report to `report_path` (default `work`/report.html). Handler output goes to the caller's
    stdout; `run()` sends it to a log file."""
    from local import report

    work.mkdir(parents=True, exist_ok=True)
    folder = _prepare_folder(folder, work)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with LocalPipeline(work, progress=progress) as pipeline:
        with StageProgress(len(files), enabled=progress) as bar:
            pipeline.forward(pipeline.upload(folder, files, bar), bar)
            pipeline.process(len(files), bar)
        result = pipeline.result(files)
        result.permissions_path = work / "permissions.md"
        write_permissions(result.permissions_path, pipeline.deployment.authorizer)
    result.report_path = report_path or work / "report.html"
    report.write_html(result.report_path, report.file_reports(result), report.run_meta(result))
    return result


def write_permissions(path: Path, authorizer) -> None:
    """The run's IAM usage, role by role (docs/permissions.md is this table for the sample set)."""
    from local.iam.usage import usage_table

    path.write_text("# Permissions the local run used\n\nEvery call of the run, authorized against the "
                    "synthesized template's policies (`local/iam/`), by role and action; one object or "
                    "execution is shown as its prefix or state machine. Made by `make run`.\n\n"
                    + usage_table(authorizer), encoding="utf-8")


def _prepare_folder(folder: Path | None, work: Path) -> Path:
    if folder is not None:
        return folder
    from samples.generate import generate

    folder = work / "samples"
    print(f"generating the sample set into {folder}", file=sys.stderr)
    generate(folder)
    return folder


def run(folder: Path | None) -> int:
    """`python -m local run`: handler logs go to .local-run/lambda.log, the summary to stdout."""
    from local import report

    WORK.mkdir(exist_ok=True)
    log_path = WORK / "lambda.log"
    with open(log_path, "w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        result = run_pipeline(folder)
    files = report.file_reports(result)
    report.print_summary(files, result)
    print(f"IAM: {result.authorized} calls authorized against the template's policies, "
          f"{len(result.denied)} denied" + "".join(f"\n  denied: {d}" for d in result.denied[:10]))
    print(f"permissions: {result.permissions_path}")
    print(f"handler logs: {log_path}\nreport:       {result.report_path}\n"
          f"search:       .venv/bin/python -m local search \"your words\"")
    executions_ok = sum(e["status"] == "SUCCEEDED" for e in result.executions)
    return 0 if len(result.objects) == len(result.files) + len(result.attachments) and executions_ok == len(result.executions) else 1


def main(argv: list[str]) -> int:
    if argv and argv[0] == "run":
        return run(Path(argv[1]) if len(argv) > 1 else None)
    print("usage: python -m local run [FOLDER]\n       python -m local serve [--port 8000]\n"
          "       python -m local search \"text query\" [--limit N]", file=sys.stderr)
    return 2
