"""Faults, duplicates and poison messages through the whole local pipeline.

One LocalPipeline run (module fixture) carries every fault at once, each aimed at its own
file by a marker, next to files that must come through untouched:

* model endpoint: transient throttling, persistent throttling (429), persistent 5xx, timeouts;
* database: the first connections refused, a connection dropped before a store commits;
* Lambda crashes after doing their work: generate (retryable name), store after its commit
  and extract (both "Sandbox.Timedout", which the state machine does not retry);
* poison on the topic: malformed JSON on the partition of a good file, an unknown bucket, an
  object deleted before processing;
* duplicates: the same S3 events forwarded again, the same execution started twice, one batch
  started under two names at once.

Then each test judges one behaviour from PostgreSQL, the staging bucket, the failed-items
bucket and the execution histories.
"""
from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from pipeline_outcomes import Outcome, outcomes, staged_names, task_failures, wait_for

from functions.common.errors import RETRYABLE_ERROR_NAMES

WORDS = ("river stone lantern orchard copper meadow harbor violet thunder maple canyon silver "
         "garden falcon ember glacier willow saffron prairie beacon").split()
# Marker words live in the text of a file, so they are in every model request about it.
MARKERS = {
    "throttle-transient": "zqthrottletransient",
    "throttle-persistent": "zqthrottlepersistent",
    "5xx-persistent": "zqservererror",
    "timeout-persistent": "zqtimeout",
}
GOOD = ["ok-1", "ok-2", "ok-3", "ok-4", "db-drop", "generate-crash", "store-crash", "extract-crash"]
PERSISTENT = ["throttle-persistent", "5xx-persistent", "timeout-persistent"]
CLIENT_ATTEMPTS, STATE_ATTEMPTS = 4, 5  # ModelClient max_attempts; ASL MaxAttempts 4 + the first try
GHOST_BUCKET = "no-such-bucket-anywhere"
POISON_VALUE = b'{"bucket": "local-ingest", "key": "faults/half a message'


def _text(name: str, words: int = 400) -> str:
    body = " ".join(WORDS[(i * 7 + len(name)) % len(WORDS)] for i in range(words))
    marker = MARKERS.get(name, "")
    return f"{name} {marker}\n{body}\n"


@dataclass
class FaultRun:
    first: dict[str, Outcome]  # after the first delivery
    final: dict[str, Outcome]  # after duplicates and redelivery
    faults: object  # local.faults.Faults
    requests_first_pass: dict[str, int]  # model requests per marker during the first delivery
    waits: list[float]  # Retry intervals the state machine asked for
    first_executions: list[dict]
    second_executions: list[dict]
    executions_before_restart: int
    executions_after_restart: int
    restart_error: str
    twin_executions: list[dict]
    failed_items: dict[str, dict]  # key in the failed bucket -> body
    staging: dict[str, list[str]]  # file -> staged artefact names
    history_errors: dict[str, list[tuple[str, str]]]  # execution arn -> (error, cause) of failed attempts
    deleted_key: str


def key(name: str) -> str:
    return f"faults/{name}.txt"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> FaultRun:
    from functions.common.events import ExecutionInput, ObjectRef
    from functions.streaming.kafka_config import create_producer
    from local.faults import Faults, fast_state_retries
    from local.run import BUCKETS, PIPELINE_VERSION, TOPIC, LocalPipeline

    work = tmp_path_factory.mktemp("faults")
    folder = work / "in"
    (folder / "faults").mkdir(parents=True)
    files: list[Path] = []
    for name in [*GOOD, "throttle-transient", *PERSISTENT, "deleted"]:
        path = folder / key(name)
        path.write_text(_text(name), encoding="utf-8")
        files.append(path)

    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        pipeline = stack.enter_context(LocalPipeline(work, progress=False))
        waits = stack.enter_context(fast_state_retries(0.05))
        faults = stack.enter_context(Faults(runtime=pipeline.profile.runtime))
        faults.model("throttle", MARKERS["throttle-transient"], times=2)
        faults.model("throttle", MARKERS["throttle-persistent"])
        faults.model("5xx", MARKERS["5xx-persistent"])
        faults.model("timeout", MARKERS["timeout-persistent"])
        faults.refuse_db_connections(2)
        faults.drop_db_connection_before_commit("db-drop")
        faults.crash_after("generate", "generate-crash", "StagingUnavailableError")
        faults.crash_after("store", "store-crash", "Sandbox.Timedout")
        faults.crash_after("extract", "extract-crash", "Sandbox.Timedout")

        # Poison first, keyed like ok-1 so that it sits ahead of ok-1 on the same partition.
        producer = create_producer()
        ghost = ObjectRef(bucket=GHOST_BUCKET, key="faults/ghost.txt", size=10, modality="text")
        producer.send(TOPIC, key=f"{BUCKETS['ingest']}/{key('ok-1')}".encode(), value=POISON_VALUE)
        producer.send(TOPIC, key=f"{GHOST_BUCKET}/faults/ghost.txt".encode(), value=ghost.model_dump_json().encode())
        producer.flush(timeout=30)
        producer.close(timeout=5)
        pipeline.published += 2

        uploads = pipeline.upload(folder, files)
        deleted = next(u for u in uploads if u.key == key("deleted"))
        pipeline.forward(uploads)
        pipeline.s3.delete_object(Bucket=BUCKETS["ingest"], Key=deleted.key, VersionId=deleted.version_id)
        first_executions = pipeline.process(len(files))
        first = outcomes(pipeline.db_env, BUCKETS["ingest"]) | outcomes(pipeline.db_env, GHOST_BUCKET)

        requests_first_pass = dict(faults.model_requests)
        # The same S3 events again (ok-1, ok-2 and the extract crash victim: new messages), and
        # every Kafka batch redelivered (a new consumer group reads the topic from the start).
        again = [u for u in uploads if u.key in (key("ok-1"), key("ok-2"), key("extract-crash"))]
        pipeline.forward(again)
        second_executions = pipeline.process(len(files), group_id="redelivery")

        # The same execution started twice: same name and input as one that already ran.
        sfn = pipeline.sfn
        original = first_executions[0]
        original_input = sfn.describe_execution(executionArn=original["executionArn"])["input"]
        before_restart = len(sfn.list_executions(stateMachineArn=pipeline.arn)["executions"])
        try:
            sfn.start_execution(stateMachineArn=pipeline.arn, name=original["name"], input=original_input)
            restart_error = ""
        except sfn.exceptions.ExecutionAlreadyExists as exc:
            restart_error = exc.response["Error"]["Code"]
        after_restart = len(sfn.list_executions(stateMachineArn=pipeline.arn)["executions"])

        # One batch (ok-3, ok-4) started under two names at the same moment.
        refs = [ObjectRef.model_validate(r) for e in first_executions
                for r in json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])["text"]
                if r["key"] in (key("ok-3"), key("ok-4"))]
        twin_input = ExecutionInput(batch_id="twin", pipeline_version=PIPELINE_VERSION, text=refs).model_dump_json()
        arns = [sfn.start_execution(stateMachineArn=pipeline.arn, name=f"twin-{i}", input=twin_input)["executionArn"]
                for i in range(2)]
        twins = wait_for(sfn, arns)
        final = outcomes(pipeline.db_env, BUCKETS["ingest"]) | outcomes(pipeline.db_env, GHOST_BUCKET)

        failed_items = {}
        for page in pipeline.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKETS["failed"]):
            for item in page.get("Contents", []):
                body = pipeline.s3.get_object(Bucket=BUCKETS["failed"], Key=item["Key"])["Body"].read()
                failed_items[item["Key"]] = json.loads(body)
        staging = {}
        for name in ("ok-1", "generate-crash", "db-drop", "store-crash", "extract-crash"):
            upload = next(u for u in uploads if u.key == key(name))
            staging[name] = staged_names(pipeline.s3, BUCKETS["staging"], PIPELINE_VERSION, BUCKETS["ingest"],
                                         upload.key, upload.version_id)
        history_errors = {e["executionArn"]: task_failures(sfn, e["executionArn"])
                          for e in sfn.list_executions(stateMachineArn=pipeline.arn)["executions"]}
    return FaultRun(first, final, faults, requests_first_pass, waits, first_executions, second_executions, before_restart, after_restart,
                    restart_error, twins, failed_items, staging, history_errors, deleted.key)


def _errors(run: FaultRun) -> list[tuple[str, str]]:
    return [e for errors in run.history_errors.values() for e in errors]


# -- the invariant ------------------------------------------------------------------------
def test_every_object_ends_with_one_result_set_or_one_failure_never_both(run):
    expected = {key(n) for n in [*GOOD, "throttle-transient", *PERSISTENT, "deleted"]} | {"faults/ghost.txt"}
    assert set(run.final) == expected
    for name, outcome in run.final.items():
        assert outcome.complete != outcome.failed, (name, outcome)
        assert outcome.object_rows == 1, (name, outcome)


def test_the_rest_of_the_batch_continues_past_failing_files(run):
    for name in ["ok-1", "ok-2", "ok-3", "ok-4", "throttle-transient"]:
        assert run.first[key(name)].complete, run.first[key(name)]
    assert all(e["status"] == "SUCCEEDED" for e in run.first_executions)


# -- model endpoint faults ----------------------------------------------------------------
def test_transient_throttling_is_absorbed_by_the_model_client_retries(run):
    marker = MARKERS["throttle-transient"]
    assert run.faults.fired.count(("model:throttle", marker)) == 2
    assert run.first[key("throttle-transient")].complete


@pytest.mark.parametrize("name, error, words", [
    ("throttle-persistent", "ModelThrottledError", "throttled after 4 attempts"),
    ("5xx-persistent", "ModelUnavailableError", "container 503"),
    ("timeout-persistent", "ModelUnavailableError", "timed out"),
])
def test_persistent_model_fault_is_retried_with_backoff_then_recorded_as_failed(run, name, error, words):
    outcome = run.final[key(name)]
    assert outcome.failed, outcome
    failed_step, recorded_error, reason = outcome.failure
    assert failed_step in ("extract", "scan", "generate", "embed") and recorded_error == error
    assert words in reason
    # Both retry layers ran: the client's backoff inside each attempt, the state machine's Retry around it.
    per_attempt = CLIENT_ATTEMPTS
    if name == "timeout-persistent":
        # A batch that timed out is sent again in halves once: the whole batch, then the half
        # holding the marked text with the client's attempts (the file's chunks share one batch).
        per_attempt = 1 + CLIENT_ATTEMPTS
    assert run.requests_first_pass[MARKERS[name]] == per_attempt * STATE_ATTEMPTS


def test_state_machine_retries_wait_with_exponential_backoff_and_a_cap(run):
    assert run.waits, "no Retry interval was waited"
    assert max(run.waits) <= 60  # MaxDelaySeconds
    # Full jitter draws from [0, 3 * 2^n]: the fourth retry's ceiling is 24 s, so a wait above
    # 3 s shows the backoff growing (the chance that all waits of three files stay below is tiny).
    assert any(w > 3 for w in run.waits)


# -- database faults ----------------------------------------------------------------------
def test_refused_database_connections_are_retried_and_everything_completes(run):
    assert [f for f in run.faults.fired if f[0] == "db:refused"] and len(
        [f for f in run.faults.fired if f[0] == "db:refused"]) == 2
    assert any(error == "DatabaseUnavailableError" and "database is down" in cause for error, cause in _errors(run))


def test_connection_dropped_before_store_commits_rolls_back_and_the_retry_completes(run):
    assert any(kind == "db:dropped" and key("db-drop") in detail for kind, detail in run.faults.fired)
    assert any(error == "DatabaseUnavailableError" and "connection failed" in cause for error, cause in _errors(run))
    dropped, same_text_length = run.first[key("db-drop")], run.first[key("ok-1")]
    assert dropped.complete and dropped.object_rows == 1
    assert (dropped.chunks, dropped.embeddings) == (same_text_length.chunks, same_text_length.embeddings)


# -- Lambda crashes after partial work ----------------------------------------------------
def test_generate_crash_after_its_work_is_retried_and_leaves_one_result_set(run):
    assert ("crash:generate", key("generate-crash")) in run.faults.fired
    assert run.final[key("generate-crash")].complete
    # Deterministic staging keys: the re-run overwrote its own artefacts, nothing was added.
    assert _shape(run.staging["generate-crash"]) == _shape(run.staging["ok-1"])


def test_store_crash_after_its_commit_keeps_the_result_and_records_no_failure(run):
    assert ("crash:store", key("store-crash")) in run.faults.fired
    assert any(error == "Sandbox.Timedout" for error, _ in _errors(run))
    assert run.first[key("store-crash")].complete


def test_extract_crash_is_recorded_then_a_redelivery_completes_it_and_clears_the_failure(run):
    first = run.first[key("extract-crash")]
    assert first.failed and first.failure[1] == "Sandbox.Timedout" and "crashed after" in first.failure[2]
    assert run.final[key("extract-crash")].complete
    assert _shape(run.staging["extract-crash"]) == _shape(run.staging["ok-1"])


def _shape(names: list[str]) -> list[str]:
    """Staged names with model-call checkpoints reduced to their folder: a checkpoint is named by
    the hash of its request, which differs between files of different text."""
    return sorted(n.rsplit("/", 1)[0] + "/<request>" if n.startswith("model-calls/") else n for n in names)


# -- duplicates ---------------------------------------------------------------------------
def test_duplicate_s3_events_and_redelivered_batches_leave_the_same_rows(run):
    assert run.second_executions and all(e["status"] == "SUCCEEDED" for e in run.second_executions)
    for name in [n for n in GOOD if n != "extract-crash"] + ["throttle-transient"]:
        assert run.final[key(name)] == run.first[key(name)]  # same object row ids, same counts
    for name in PERSISTENT:
        assert run.final[key(name)].failed and run.final[key(name)].failure == run.first[key(name)].failure


def test_the_same_execution_started_twice_runs_once(run):
    assert run.restart_error == "ExecutionAlreadyExists"
    assert run.executions_after_restart == run.executions_before_restart


def test_one_batch_started_twice_at_once_leaves_one_result_set(run):
    assert [t["status"] for t in run.twin_executions] == ["SUCCEEDED", "SUCCEEDED"]
    for name in ("ok-3", "ok-4"):
        assert run.final[key(name)] == run.first[key(name)]


# -- poison on the topic ------------------------------------------------------------------
def test_malformed_message_is_parked_with_its_reason_and_does_not_block_its_partition(run):
    parked = [body for k, body in run.failed_items.items() if k.startswith("failed/kafka/")]
    assert len(parked) == 1
    assert parked[0]["reason"].startswith("value is not JSON")
    assert parked[0]["record"]["value"]  # the raw record is kept for a human
    # ok-1 was published after the poison on the same partition (same key) and went through
    assert run.first[key("ok-1")].complete


def test_message_for_an_unknown_bucket_ends_as_a_failure_row_with_the_reason(run):
    outcome = run.final["faults/ghost.txt"]
    assert outcome.failed and outcome.failure[0] == "extract"
    assert "NoSuchBucket" in outcome.failure[2]


def test_object_deleted_before_processing_ends_as_a_failure_row_with_the_reason(run):
    outcome = run.final[run.deleted_key]
    assert outcome.failed and outcome.failure[:2] == ("extract", "InvalidObjectError")
    assert "no longer exists" in outcome.failure[2]


def test_no_retryable_error_was_recorded_for_a_file_that_completed(run):
    for name in GOOD:
        outcome = run.final[key(name)]
        assert outcome.complete and not outcome.failures
    assert set(RETRYABLE_ERROR_NAMES) >= {"ModelThrottledError", "ModelUnavailableError", "DatabaseUnavailableError"}
