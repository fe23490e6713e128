"""The main job on one machine: upload -> forwarder -> Kafka -> dispatcher -> Step Functions
(the real ASL in moto, the real handlers in-process) -> PostgreSQL + pgvector.

`python -m local run [FOLDER] [--work DIR] [--fresh]` processes FOLDER, or the generated sample
set when none is given: per-stage progress bars while it runs, then one line per file (read back
from PostgreSQL, step durations from the execution histories), time per step, files per minute,
and an HTML report in .local-run/report.html.
`python -m local search "text" [--limit N]` queries what the runs stored (local.search).

A run keeps what earlier runs stored: the database (`work`/pg) and the S3 stand-in's buckets
(`work`/s3.journal: uploads with their version ids, staged outputs, model-call checkpoints). A
rerun after a crash or a kill therefore resumes: a file whose bytes are already the bucket's
latest version is not uploaded again, the pipeline's extract step finds the versions already
stored and passes them through as up to date, and the interrupted ones reuse what the killed run
staged. `--fresh` starts from empty. One run at a time per work folder (local.workdir).

`LocalPipeline` is the same run as a library (the integration tests drive it step by step).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import mimetypes
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from functions.common import constants as c
from local.history import Iteration, dispatched_objects, history, iterations
from local.progress import STAGES, StageProgress
from local.results import WORK, RunResult, start_postgres
from local.s3_state import S3Journal
from local.workdir import WorkFolderBusy, WorkLock, acquire

if TYPE_CHECKING:
    from local.iam.deployed import LocalDeployment

ROOT = Path(__file__).resolve().parents[1]
BUCKETS = {"ingest": "local-ingest", "staging": "local-staging", "failed": "local-failed"}
LOCAL_MAX_TEXT_MB = 4
ENV_LOCAL_MAX_TEXT_MB = "LOCAL_MAX_TEXT_MB"
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

    start() brings up PostgreSQL (a fresh database unless `keep`), moto, Kafka and the model
    servers; upload() -> forward() -> process() move files through; result() reads everything
    back; stop() tears down (PostgreSQL's data directory stays for `search`). Environment
    variables it sets are restored on stop().

    `persist`: keep the S3 stand-in's buckets in `work`/s3.journal as they are written;
    `keep`: start from what earlier runs left (database and journal) instead of from empty.
    start() takes `work`'s lock (local.workdir: raises WorkFolderBusy while another pipeline or
    run uses the folder) unless the caller passes the one it holds as `lock`.
    """

    def __init__(self, work: Path = WORK, progress: bool = True, model_workers: int | None = None,
                 persist: bool = False, keep: bool = False, lock: WorkLock | None = None, redact: bool = False):
        self.work = work
        self.redact = redact  # the scan step's compliance.redact (COMPLIANCE, as cdk.json sets it deployed)
        self.persist, self.keep = persist, keep
        self.lock = lock
        self.restored_keys = 0  # S3 keys the journal brought back
        self.reused_uploads = 0  # files whose bytes were already the latest version in the bucket
        self.progress = progress
        self.model_workers = model_workers  # per container; None: one per CPU, as on a CPU instance
        self.published = 0  # messages the forwarder put on the topic, over all passes
        self.started_at: float | None = None
        self._saved_env: dict[str, str] | None = None
        self._known_executions: set[str] = set()
        self.announced: dict[tuple[str, str | None], Upload] = {}  # objects extract wrote, forwarded once
        self._identities: set[tuple[str, str | None]] = set()  # (key, version id) of this run's objects
        self._counted: dict[str, tuple[str, int]] = {}  # staged key -> (etag, chunks it holds)
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
        if self.lock is None:
            self._stack.callback(acquire(self.work).release)
        print("starting stand-ins: PostgreSQL+pgvector, moto (S3, Step Functions), Kafka, "
              "SageMaker endpoints (the Hugging Face toolkit under multi-model-server)", file=sys.stderr)
        self.db_env = start_postgres(self.work, fresh=not self.keep)
        os.environ.update(self.db_env)
        from functions.common.db import open_connection
        from functions.migrate.runner import apply_pending

        with open_connection() as conn:
            apply_pending(conn)
            conn.commit()
        from local.aws import LOCAL_ACCOUNT

        journal = S3Journal(self.work / "s3.journal", BUCKETS.values(), LOCAL_ACCOUNT) if self.persist else None
        if journal is not None and not self.keep:
            journal.delete()
        self.moto = MotoServer(journal=journal)
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
        if journal is not None and self.keep:
            self.restored_keys = journal.restore()
        os.environ.update({
            c.ENV_PIPELINE_VERSION: PIPELINE_VERSION, c.ENV_STAGING_BUCKET: BUCKETS["staging"],
            c.ENV_FAILED_BUCKET: BUCKETS["failed"], **self.profile.env(),
            c.ENV_KAFKA_BOOTSTRAP: self.kafka.bootstrap_servers, c.ENV_KAFKA_TOPIC: TOPIC,
            c.ENV_KAFKA_AUTH: "none", c.ENV_KAFKA_API_VERSION: LOCAL_KAFKA_API_VERSION,
            **({c.ENV_COMPLIANCE: json.dumps({"redact": True})} if self.redact else {}),
            c.ENV_VIDEO_CHUNK_SECONDS: "4", c.ENV_MAX_OBJECT_BYTES: str(512 * 1024 * 1024),
            # A CPU embeds ~10 chunks/s (bench/README.md, "Large text"): 4 MiB of text is ~10 minutes
            # here, 20 MB would be about an hour; larger texts are refused with that reason, and
            # LOCAL_MAX_TEXT_MB raises the limit (deployed: max_text_mb in cdk.json, 128).
            c.ENV_MAX_TEXT_BYTES: str(int(float(os.environ.get(ENV_LOCAL_MAX_TEXT_MB) or LOCAL_MAX_TEXT_MB) * 1024**2)),
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
            body = path.read_bytes()
            put = self._kept_version(key, body) if self.keep else None
            if put is None:
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                put = self.s3.put_object(Bucket=BUCKETS["ingest"], Key=key, Body=body, ContentType=content_type)
            else:
                self.reused_uploads += 1
            event = _s3_event(BUCKETS["ingest"], key, len(body), put["ETag"].strip('"'),
                              put.get("VersionId"), f"{i:016X}")
            uploads.append(Upload(key, put.get("VersionId"), event))
            self._identities.add((key, put.get("VersionId")))
            if bar:
                bar.set("uploaded", len(uploads))
        return uploads

    def _kept_version(self, key: str, body: bytes) -> dict | None:
        """The bucket's latest version of `key` when it holds these bytes already (an earlier run
        uploaded them): uploading again would make a new version, which the pipeline would
        rightly process again. Its S3 event is sent again instead, as a redelivery."""
        from botocore.exceptions import ClientError

        try:
            head = self.s3.head_object(Bucket=BUCKETS["ingest"], Key=key)
        except ClientError:
            return None
        return head if head["ETag"].strip('"') == hashlib.md5(body).hexdigest() else None  # noqa: S324 - S3's ETag

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
        watch = _DatabaseWatch(self.db_env)
        # The database's counts on a clock of their own: a loop pass (histories of every running
        # execution) takes seconds under load, and a run killed meanwhile would leave a last line
        # that says fewer files stored than PostgreSQL holds.
        stop_watching = threading.Event()
        watcher = threading.Thread(target=self._watch_stored, args=(bar, watch, stop_watching), daemon=True,
                                   name="progress-database")
        if bar:
            watcher.start()
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
                        self._show_stored(bar, watch)
                    break
                if time.monotonic() > deadline:
                    print(f"gave up waiting after {timeout_s:.0f} s: executions still running", file=sys.stderr)
                    break
                time.sleep(1.0)
        finally:
            esm.stop()
            stop_watching.set()
            if watcher.is_alive():
                watcher.join()
            watch.close()
        self._known_executions.update(e["executionArn"] for e in executions)
        return executions

    def _watch_stored(self, bar: StageProgress, watch: _DatabaseWatch, stop: threading.Event,
                      every_s: float = 0.5) -> None:
        while not stop.wait(every_s):
            self._show_stored(bar, watch)

    def _show_stored(self, bar: StageProgress, watch: _DatabaseWatch) -> None:
        """Stored and failed files and stored chunks from PostgreSQL; extracted and embedded
        chunks from what the steps staged."""
        stored = watch.stored(BUCKETS["ingest"], PIPELINE_VERSION, self._identities)
        if stored is None:
            return
        bar.set("store", stored.succeeded)
        bar.set("failed", stored.failed)
        extracted, embedded, calls = self._staged_chunks()
        bar.set_chunks(extracted, embedded, stored.chunks, model_calls=calls)

    def _staged_chunks(self) -> tuple[int, int, str]:
        """Chunks of this run's objects that extract staged (its manifest, or the segments of a
        long object so far) and that embed staged vectors for, read from the S3 stand-in in
        this process (each staged document parsed once); and, for objects not extracted yet,
        the model answers checkpointed so far by role ("speech 4 of 10 windows")."""
        from moto.s3.models import s3_backends

        from functions.common.constants import STAGING_PREFIX
        from local.aws import LOCAL_ACCOUNT

        ours = {hashlib.sha256(f"{BUCKETS['ingest']}/{key}/{version or 'null'}".encode()).hexdigest()
                for key, version in self._identities}
        bucket = s3_backends[LOCAL_ACCOUNT]["aws"].buckets.get(BUCKETS["staging"])
        if bucket is None:
            return 0, 0, ""
        # digest -> {"extract.json": n, "embed.json": n, "segments": n, "embeddings": n}
        found: dict[str, dict[str, int]] = {}
        calls: dict[str, dict[str, int]] = {}  # digest -> {role: answers checkpointed, "windows": audio windows}
        prefix = f"{STAGING_PREFIX}/{PIPELINE_VERSION}/"
        for name in list(bucket.keys.keys()):
            if not name.startswith(prefix):
                continue
            digest, _, rest = name[len(prefix):].partition("/")
            kind = rest if rest in ("extract.json", "embed.json") else rest.partition("/")[0]
            if digest in ours and kind in ("model-calls", "audio"):
                role = rest.split("/")[1] if kind == "model-calls" else "windows"
                calls.setdefault(digest, {})[role] = calls.get(digest, {}).get(role, 0) + 1
            if digest not in ours or kind not in ("extract.json", "embed.json", "segments", "embeddings") \
                    or not rest.endswith(".json"):
                continue
            counts = found.setdefault(digest, {})
            counts[kind] = counts.get(kind, 0) + self._chunks_in(bucket, name)
        # A finished step's manifest counts all its chunks; until then its staged parts so far.
        extracted = sum(n.get("extract.json", n.get("segments", 0)) for n in found.values())
        embedded = sum(n.get("embed.json", n.get("embeddings", 0)) for n in found.values())
        pending: dict[str, int] = {}
        windows = 0
        for digest, roles in calls.items():
            if "extract.json" in found.get(digest, {}):
                continue  # extracted: its calls are done
            windows += roles.pop("windows", 0)
            for role, n in roles.items():
                pending[role] = pending.get(role, 0) + n
        shown = ", ".join(f"{role} {n}" + (f" of {windows} windows" if role == c.MODEL_SPEECH and windows else "")
                          for role, n in sorted(pending.items()))
        return extracted, embedded, f"model answers of objects being extracted: {shown}" if shown else ""

    def _chunks_in(self, bucket, name: str) -> int:
        key = bucket.keys.get(name)
        if key is None or not hasattr(key, "etag"):
            return 0
        known = self._counted.get(name)
        if known and known[0] == key.etag:
            return known[1]
        try:
            doc = json.loads(key.value)
        except ValueError:
            return 0
        if isinstance(doc, list):  # an embedding page: one vector per chunk
            count = len(doc)
        elif "embeddings" in doc:  # embed.json: page 0's vectors and the staged pages
            count = len(doc["embeddings"] or []) + sum(int(p.get("count", 0)) for p in doc.get("embedding_pages") or [])
        else:  # extract.json or a segment: its own chunks and its pages
            count = len(doc.get("chunks") or []) + sum(int(p.get("count", 0)) for p in doc.get("chunk_pages") or [])
        self._counted[name] = (key.etag, count)
        return count

    def resume_state(self) -> dict[str, int]:
        """What earlier runs left for this run's objects: stored (a succeeded row: extract will pass
        them through as up to date), failed before (tried again), with staged work of an
        interrupted run, and the model-call checkpoints kept for those."""
        from moto.s3.models import s3_backends

        from functions.common.constants import STAGING_PREFIX
        from local.aws import LOCAL_ACCOUNT

        watch = _DatabaseWatch(self.db_env)
        try:
            rows = watch.rows(BUCKETS["ingest"], PIPELINE_VERSION, self._identities)
        finally:
            watch.close()
        state = {"files": len(self._identities), "reused uploads": self.reused_uploads,
                 "stored": sum(1 for s in rows.values() if s == "succeeded"),
                 "failed before": sum(1 for s in rows.values() if s == "failed"), "staged": 0, "checkpoints": 0}
        unfinished = {hashlib.sha256(f"{BUCKETS['ingest']}/{key}/{version or 'null'}".encode()).hexdigest()
                      for key, version in self._identities if (key, version) not in rows}
        bucket = s3_backends[LOCAL_ACCOUNT]["aws"].buckets.get(BUCKETS["staging"])
        staged: set[str] = set()
        prefix = f"{STAGING_PREFIX}/{PIPELINE_VERSION}/"
        for name in list(bucket.keys.keys()) if bucket is not None else []:
            digest, _, rest = name[len(prefix):].partition("/") if name.startswith(prefix) else ("", "", "")
            if digest in unfinished:
                staged.add(digest)
                state["checkpoints"] += rest.startswith("model-calls/")
        state["staged"] = len(staged)
        return state

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
                self._identities.add(ident)
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
        if self.keep:  # the database holds earlier runs' results too: report this run's objects
            objects = [o for o in objects if (o["key"], o["version_id"]) in self._identities]
        artefacts = report.collect_artefacts(self.s3, BUCKETS["staging"], PIPELINE_VERSION, objects)
        return RunResult(work=self.work, files=files, objects=objects, iterations=found, executions=executions,
                         artefacts=artefacts, elapsed=elapsed, db_env=self.db_env,
                         unavailable=dict(self.profile.unavailable),
                         attachments=sorted(key for key, _ in self.announced),
                         authorized=sum(d.allowed for d in self.deployment.authorizer.decisions),
                         denied=[f"{d.label}: {d.action} on {d.resource} ({d.reason})"
                                 for d in self.deployment.authorizer.denials()])


@dataclass
class Stored:
    succeeded: int
    failed: int
    chunks: int


class _DatabaseWatch:
    """One read-only connection that says what PostgreSQL holds for this run's objects."""

    def __init__(self, db_env: dict[str, str]) -> None:
        self.db_env = db_env
        self._conn: Any = None

    def _connection(self):
        if self._conn is None:
            from functions.common.db import DbConfig, open_connection

            self._conn = open_connection(DbConfig.from_env(self.db_env))
            self._conn.autocommit = True
        return self._conn

    def rows(self, bucket: str, pipeline_version: str, identities: set) -> dict[tuple[str, str | None], str]:
        """{(key, version id): status} of the objects rows among `identities`."""
        return {ident: status for ident, (status, _) in self._rows(bucket, pipeline_version, identities).items()}

    def _rows(self, bucket: str, pipeline_version: str, identities: set) -> dict[tuple[str, str | None], tuple[str, int]]:
        from functions.common.constants import DB_SCHEMA as S

        found = self._connection().execute(
            f"SELECT o.key, o.version_id, o.status, (SELECT count(*) FROM {S}.chunks ch WHERE ch.object_id = o.id)"
            f" FROM {S}.objects o WHERE o.bucket = %s AND o.pipeline_version = %s", (bucket, pipeline_version)).fetchall()
        return {(k, v): (status, n) for k, v, status, n in found if (k, v) in identities}

    def stored(self, bucket: str, pipeline_version: str, identities: set) -> Stored | None:
        """Succeeded and failed objects and stored chunks; None when the database did not answer."""
        try:
            rows = self._rows(bucket, pipeline_version, identities).values()
        except Exception:  # noqa: BLE001 - progress must never end a run
            self.close()
            return None
        return Stored(sum(1 for s, _ in rows if s == "succeeded"), sum(1 for s, _ in rows if s == "failed"),
                      sum(n for s, n in rows if s == "succeeded"))

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def _show(bar: StageProgress, histories: dict[str, list[dict]]) -> None:
    dispatched: set = set()
    # store and failed come from the database (LocalPipeline._show_stored)
    done: dict[str, set] = {step: set() for step in c.PIPELINE_STEPS if step in bar.counts() and step != c.STEP_STORE}
    for arn, events in histories.items():
        dispatched.update(dispatched_objects(events))
        for it in iterations(arn, events):
            ident = (it.bucket, it.key, it.version_id)
            for run in it.steps:
                if run.exited is not None and run.step in done:
                    done[run.step].add(ident)
    bar.set("dispatched", len(dispatched))
    for step, idents in done.items():
        bar.set(step, len(idents))


def run_pipeline(folder: Path | None = None, work: Path = WORK, progress: bool = True,
                 report_path: Path | None = None, fresh: bool = True, persist: bool = False,
                 lock: WorkLock | None = None, redact: bool = False) -> RunResult:
    """Process `folder` (default: the generated sample set) once, end to end; write the HTML
    report to `report_path` (default `work`/report.html). Handler output goes to the caller's
    stdout; `run()` sends it to a log file.

    `fresh`: start from an empty database and empty buckets; otherwise resume from what earlier
    runs in `work` left (see the module docstring). `persist`: keep the buckets in `work` for
    the next run. `lock`: `work`'s lock when the caller holds it. `redact`: compliance.redact on."""
    from local import report

    work.mkdir(parents=True, exist_ok=True)
    folder = _prepare_folder(folder, work, fresh)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with LocalPipeline(work, progress=progress, persist=persist, keep=not fresh, lock=lock, redact=redact) as pipeline:
        stages = [s for s in STAGES if s in c.PIPELINE_STEPS or s not in ("extract", "scan", "generate", "embed")]
        with StageProgress(len(files), stages=stages, enabled=progress) as bar:
            uploads = pipeline.upload(folder, files, bar)
            if not fresh:
                print(resume_line(pipeline.resume_state(), pipeline.restored_keys), file=sys.stderr)
            pipeline.forward(uploads, bar)
            executions = pipeline.process(len(files), bar)
        result = pipeline.result(files)
        result.up_to_date = skipped_up_to_date([history(pipeline.sfn, e["executionArn"]) for e in executions])
        result.model_calls = {role: pipeline.profile.runtime.invocations(endpoint)
                              for role, endpoint in sorted(pipeline.profile.endpoints.items())}
        result.permissions_path = work / "permissions.md"
        write_permissions(result.permissions_path, pipeline.deployment.authorizer)
    result.report_path = report_path or work / "report.html"
    report.write_html(result.report_path, report.file_reports(result), report.run_meta(result))
    return result


def resume_line(state: dict[str, int], restored_keys: int) -> str:
    """What a run found of earlier runs (LocalPipeline.resume_state), in one line."""
    if not state["reused uploads"] and not restored_keys:
        return "nothing kept from earlier runs in this folder: processing every file"
    new = state["files"] - state["stored"] - state["failed before"] - state["staged"]
    return (f"resuming: {state['stored']} of {state['files']} files already stored (extract will skip them as up to "
            f"date), {state['staged']} interrupted with staged work ({state['checkpoints']} model-call checkpoints "
            f"kept), {state['failed before']} failed before (tried again), {max(new, 0)} not started; "
            f"{state['reused uploads']} uploads already in the bucket, {restored_keys} S3 objects kept")


def skipped_up_to_date(executions_histories: list[list[dict]]) -> int:
    """Iterations whose store state reported the object as already stored (StoreResult status
    up_to_date, the state's output after its OutputPath)."""
    skipped = 0
    for events in executions_histories:
        for event in events:
            details = event.get("stateExitedEventDetails") or {}
            if not details.get("name", "").endswith(f": {c.STEP_STORE}") or '"up_to_date"' not in details.get("output", ""):
                continue
            with contextlib.suppress(ValueError):
                doc = json.loads(details["output"])
                skipped += isinstance(doc, dict) and doc.get("status") == "up_to_date"
    return skipped


def write_permissions(path: Path, authorizer) -> None:
    """The run's IAM usage, role by role (docs/permissions.md is this table for the sample set)."""
    from local.iam.usage import usage_table

    path.write_text("# Permissions the local run used\n\nEvery call of the run, authorized against the "
                    "synthesized template's policies (`local/iam/`), by role and action; one object or "
                    "execution is shown as its prefix or state machine. Made by `make run`.\n\n"
                    + usage_table(authorizer), encoding="utf-8")


def _prepare_folder(folder: Path | None, work: Path, fresh: bool = True) -> Path:
    """`folder`, or the sample set in `work`/samples. The generator writes timestamps into some
    formats (PDF, Office, e-mail), so a file regenerated for a rerun would be a new version and
    processed again: a file the folder already holds is kept as it is (`fresh` regenerates all)."""
    if folder is not None:
        return folder
    import shutil
    import tempfile

    from samples.generate import generate

    folder = work / "samples"
    print(f"generating the sample set into {folder}", file=sys.stderr)
    if fresh or not folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        generate(folder)
        return folder
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        made = {p.relative_to(tmp).as_posix() for p in generate(Path(tmp))}
        for name in made:
            if not (folder / name).is_file():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(Path(tmp) / name), folder / name)
    for path in [p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() not in made]:
        path.unlink()  # no longer in the sample set
    return folder


def run(folder: Path | None, work: Path = WORK, fresh: bool = False, redact: bool = False) -> int:
    """`python -m local run`: handler logs go to `work`/lambda.log, the summary to stdout."""
    from local import report

    try:
        lock = acquire(work)
    except WorkFolderBusy as exc:
        print(f"python -m local run: {exc}", file=sys.stderr)
        return 3
    with lock:
        if lock.previous:
            print(f"the previous run in {work} (pid {lock.previous.get('pid', '?')}) did not finish (killed or crashed)"
                  + ("; --fresh: starting from empty" if fresh else ": resuming from what it stored and staged"),
                  file=sys.stderr)
        elif fresh:
            print(f"--fresh: dropping the database and the S3 stand-in's buckets kept in {work}", file=sys.stderr)
        log_path = work / "lambda.log"
        started = time.monotonic()
        # Appended to: the log of an interrupted run is kept beside the rerun's.
        with open(log_path, "a", encoding="utf-8") as log, contextlib.redirect_stdout(log):
            print(f"--- python -m local run, pid {os.getpid()}, {time.strftime('%Y-%m-%d %H:%M:%S')}", flush=True)
            result = run_pipeline(folder, work=work, fresh=fresh, persist=True, lock=lock, redact=redact)
        files = report.file_reports(result)
        report.print_summary(files, result)
        if result.up_to_date:
            print(f"resumed: {result.up_to_date} files skipped as up to date by the pipeline (already stored), "
                  f"{len(result.objects) - result.up_to_date} processed in this run")
        print("model calls in this run (answers checkpointed by an earlier run are not asked again): "
              + (", ".join(f"{role} {n}" for role, n in result.model_calls.items()) or "none"))
        print(f"IAM: {result.authorized} calls authorized against the template's policies, "
              f"{len(result.denied)} denied" + "".join(f"\n  denied: {d}" for d in result.denied[:10]))
        print(f"permissions: {result.permissions_path}")
        print(f"run took {time.monotonic() - started:.1f} s (pipeline {result.elapsed:.1f} s)")
        print(f"handler logs: {log_path}\nreport:       {result.report_path}\n"
              f"search:       .venv/bin/python -m local search \"your words\"")
    executions_ok = sum(e["status"] == "SUCCEEDED" for e in result.executions)
    return 0 if len(result.objects) == len(result.files) + len(result.attachments) and executions_ok == len(result.executions) else 1


def _existing_folder(value: str) -> Path:
    path = Path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such folder: {value}")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"not a folder: {value}")
    if not any(p.is_file() for p in path.rglob("*")):
        raise argparse.ArgumentTypeError(f"no files in {value}")
    return path


def add_run_parser(commands) -> argparse.ArgumentParser:
    """The `run` command's arguments, on `commands` (argparse subparsers)."""
    parser = commands.add_parser(
        "run", help="process a folder (default: the bundled sample set) through the whole pipeline locally",
        description="Process FOLDER (default: the generated sample set) through the whole pipeline on this machine: "
                    "S3 (moto), Kafka, Step Functions, the Lambda handlers, SageMaker endpoints and PostgreSQL. "
                    "Results are kept in the work folder; a rerun resumes where an interrupted run stopped.",
        epilog="After a crash or a kill, run the same command again: files already stored are skipped as up to date "
               "and interrupted ones reuse what was staged. Only one run at a time may use a work folder.")
    parser.add_argument("folder", nargs="?", type=_existing_folder, help="the files to process (default: the sample set)")
    parser.add_argument("--work", type=Path, default=WORK, help=f"where results are kept (default {WORK.name})")
    parser.add_argument("--fresh", action="store_true",
                        help="delete what earlier runs stored in the work folder (database, buckets) before starting")
    parser.add_argument("--redact", action="store_true",
                        help="replace the personal data found by <TYPE> in stored text, search and the report, as "
                             "cdk.json's compliance.redact does deployed (files already stored stay as they are: "
                             "add --fresh when switching it)")
    return parser


def main(argv: list[str]) -> int:
    """`python -m local ...`: run (here), search and serve (their own modules)."""
    parser = argparse.ArgumentParser(prog="python -m local", description="The pipeline on this machine.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run_parser(commands)
    # Parsed by their own modules (local.search, local.serve: `python -m local search --help`).
    commands.add_parser("search", help="search what the runs stored", add_help=False)
    commands.add_parser("serve", help="keep the search warm for the CLI and a search page", add_help=False)
    commands.add_parser("similar", help="objects like one object, or recommended from liked ones", add_help=False)
    commands.add_parser("relabel", help="label stored objects with a taxonomy from their vectors", add_help=False)
    args = parser.parse_args(argv)
    return run(args.folder, work=args.work, fresh=args.fresh, redact=args.redact)
