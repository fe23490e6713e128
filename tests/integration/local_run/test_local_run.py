"""The local run end to end on the sample set: rows, failures, duplicates, search, report."""
from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter

import pytest

from functions.common.constants import MODALITIES
from functions.streaming.classify import classify
from samples.generate import DRAWN, SPEECH, attachment_keys

BROKEN = "documents/broken.pdf"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"]


def test_every_modality_of_the_sample_set_has_its_rows(local_run):
    # Given the sample set (files of every modality, an e-mail message with one attachment, one
    # broken PDF), processed once
    objects = local_run.result.objects
    files = [p.relative_to(local_run.folder).as_posix() for p in local_run.folder.rglob("*") if p.is_file()]
    attachments = attachment_keys(local_run.folder)
    assert len(attachments) == 1 and local_run.result.attachments == attachments
    # Then every file and every attachment extract wrote back has exactly one object row
    assert sorted(o["key"] for o in objects) == sorted(files + attachments)
    # And all but the broken PDF succeeded, in the modality their extension names (each one present)
    per_modality = Counter(o["modality"] for o in objects if o["status"] == "succeeded")
    assert per_modality == Counter(classify(key) for key in files + attachments if key != BROKEN)
    assert set(per_modality) == set(MODALITIES)
    # And every succeeded file has chunks with text embeddings
    for obj in objects:
        if obj["status"] == "succeeded":
            assert obj["chunks"] and obj["embeddings"] >= 1, obj["key"]


def test_every_object_with_text_embeddings_has_its_top_taxonomy_labels_in_the_report(local_run):
    from functions.taxonomy.taxonomy import load_taxonomy

    labelled = [o for o in local_run.result.objects if o["status"] == "succeeded"
                and any("text_embedding" in c["roles"] for c in o["chunks"])]
    assert labelled
    ids = {label.id for label in load_taxonomy().labels}
    for obj in labelled:
        text_labels = [(label, score) for label, score, role in obj["labels"] if role == "text_embedding"]
        assert len(text_labels) == 3 and {label for label, _ in text_labels} <= ids, obj["key"]
        assert text_labels[0][1] >= text_labels[-1][1]
    assert "taxonomy labels" in local_run.report_path.read_text(encoding="utf-8")


def test_every_execution_succeeds_and_the_broken_pdf_is_a_failure_with_its_reason(local_run):
    # Given both deliveries ran, when we look at the executions
    assert local_run.first_pass and all(e["status"] == "SUCCEEDED" for e in local_run.result.executions)
    # Then the planted bad file is a failed object with a failure row saying why, at extract
    broken = next(o for o in local_run.result.objects if o["key"] == BROKEN)
    assert broken["status"] == "failed"
    assert broken["failed_step"] == "extract" and broken["error"] == "InvalidObjectError"
    assert "PDF" in broken["reason"]
    assert list(local_run.after["failures"]) == [f for f in local_run.after["failures"] if f[1] == BROKEN]


def test_the_email_attachment_is_an_object_of_its_own_that_search_finds(local_run):
    from local.search import search

    objects = {o["key"]: o for o in local_run.result.objects}
    [attachment] = attachment_keys(local_run.folder)
    message = objects["documents/pilot schedule.eml"]
    # The message lists its attachment's key; the attachment has its own rows, as text
    assert message["status"] == "succeeded" and message["detected_format"] == "eml"
    assert message["metadata"]["attachment_keys"] == [attachment]
    assert objects[attachment]["status"] == "succeeded" and objects[attachment]["modality"] == "text"
    assert local_run.after["objects"] == local_run.before["objects"]  # no second version of it either
    hits = search("tanker Meridian pilot boarding at dawn", limit=3, work=local_run.work)
    assert attachment in [f.key for f in hits], [(f.key, f.passages[0].text) for f in hits]


def test_step_timings_come_from_the_execution_history(local_run):
    from local.report import file_reports

    files = {f.key: f for f in file_reports(local_run.result)}
    # Then each succeeded file has a duration for each of the four steps, the failed one for extract
    # and record_failure only
    for key, f in files.items():
        if key == BROKEN:
            assert f.seconds("extract") is not None and f.seconds("record_failure") is not None
            assert f.seconds("generate") is None and f.iteration.failure.error == "InvalidObjectError"
        else:
            assert all(f.seconds(s) is not None and f.seconds(s) >= 0 for s in ("extract", "generate", "embed", "store"))


def test_duplicate_s3_events_and_a_redelivered_kafka_batch_leave_the_same_rows(local_run):
    # Given the same object versions forwarded again and every Kafka batch delivered again
    # Then the canonical dump of the result tables is unchanged
    assert local_run.before["objects"], "the first pass stored nothing"
    # (the duplicates did reach the state machine: more iterations than files)
    assert len(local_run.result.iterations) > len(local_run.result.objects)
    for table in local_run.before:
        assert local_run.after[table] == local_run.before[table], table
    # And every execution the second delivery started succeeded too
    assert all(e["status"] == "SUCCEEDED" for e in local_run.second_pass)


def test_search_for_a_spoken_word_returns_the_recording_first(local_run):
    from local.search import search

    assert "weather" in SPEECH[0]
    hits = search("weather", limit=5, work=local_run.work)
    # The sentence is in the WAV and in the video's audio track: both carry it, and lead the list
    assert hits[0].key in {"audio/weather report.wav", "video/weather clip.mp4"}
    assert {h.key for h in hits[:2]} == {"audio/weather report.wav", "video/weather clip.mp4"}
    assert "weather" in hits[0].passages[0].text and hits[0].passages[0].time_start is not None


def test_search_for_a_drawn_word_returns_the_image_first(local_run):
    from local.search import search

    assert "INVOICE" in DRAWN[0]
    hits = search("INVOICE", limit=3, work=local_run.work)
    assert hits[0].key == "images/invoice hello.png" and hits[0].modality == "image"
    assert hits[0].score > hits[1].score


def test_search_query_can_use_the_partial_hnsw_index(local_run):
    from functions.common.db import DbConfig, open_connection
    from local.run import start_postgres
    from local.search import explain

    db_env = start_postgres(local_run.work, fresh=False)
    with open_connection(DbConfig.from_env(db_env)) as conn:
        conn.execute("SET enable_seqscan = off")  # a handful of rows: make the planner show it can use the index
        plan = explain(conn, [0.1] * 384, limit=5)
    assert "embeddings_text_384_hnsw" in plan, plan


def test_report_is_self_contained_with_one_section_per_file(local_run):
    text = local_run.report_path.read_text(encoding="utf-8")
    assert len(re.findall(r'<section class="file"', text)) == len(local_run.result.objects)
    assert not re.search(r'(src|href)="(https?:)?//', text), "the report must not load anything from the network"
    assert "data:image/jpeg;base64," in text  # thumbnails and keyframes are inline
    assert "model not available" in text  # generation has no local weights
    assert "corrupt or truncated PDF" in text


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_report_renders_in_headless_chromium_without_console_errors(local_run, tmp_path):
    # When the report is opened in headless Chromium
    proc = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=2000", "--dump-dom", local_run.report_path.as_uri()],
        capture_output=True, text=True, timeout=120)
    # Then the DOM has one section per file, one execution graph each, and the console is clean
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert dom.count('<section class="file"') == len(local_run.result.objects)
    assert dom.count('<svg class="graph"') == len(local_run.result.objects)
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "net::ERR" in line]
    assert not console, console


def test_every_call_of_the_run_is_authorized_by_the_templates_policies(local_run):
    """The stand-ins authorize each call as the deployed role (local/iam): S3 with the KMS calls
    S3 makes for the caller, StartExecution, the state machine's Lambda invokes and key use,
    InvokeEndpoint. A deploy-breaking grant (issue 23) would show here as a denial."""
    decisions = local_run.deployment.authorizer.decisions
    assert local_run.result.denied == [], local_run.result.denied[:5]
    used = {(d.label, d.action) for d in decisions if d.allowed}
    for expected in [("function dispatcher", "states:StartExecution"), ("function dispatcher", "kms:GenerateDataKey"),
                     ("function extract", "s3:GetObjectVersion"), ("function extract", "kms:Decrypt"),
                     ("function extract", "s3:PutObject"), ("function embed", "sagemaker:InvokeEndpoint"),
                     ("function store", "s3:GetObject"), ("pipeline state machine", "lambda:InvokeFunction"),
                     ("pipeline state machine", "kms:Decrypt")]:
        assert expected in used, expected


# Grants the sample run cannot use, by step: paths it does not take, each with where it is covered.
NOT_IN_THE_SAMPLE_RUN = {
    # no poison record in the samples (tests/integration/streaming/test_dispatch_to_step_functions.py
    # writes them); the event source mapping's on-failure destination: CDK grants the function
    # read/write on the failed bucket for the Lambda service to write its records
    "dispatcher": {"s3:PutObject", "s3:AbortMultipartUpload", "kms:Decrypt", "kms:GenerateDataKey*",
                   "kms:Encrypt", "kms:ReEncrypt*", "kms:DescribeKey", "s3:GetObject*", "s3:GetBucket*",
                   "s3:List*", "s3:DeleteObject*", "s3:Abort*", "s3:PutObjectLegalHold", "s3:PutObjectRetention",
                   "s3:PutObjectTagging", "s3:PutObjectVersionTagging"},
    # the generation model has no local weights: the run records it as unavailable, so neither
    # its calls nor their checkpoints (reads of keys that may not exist: s3:ListBucket) happen
    "generate": {"sagemaker:InvokeEndpoint", "s3:ListBucket"},
    # no long object in the samples: no Distributed Map child executions
    "pipeline state machine": {"states:StartExecution", "states:DescribeExecution", "states:StopExecution"},
}


def test_no_pipeline_role_holds_a_permission_that_nothing_uses(local_run):
    """Least privilege checked by use: each granted action of the roles the run exercises was
    needed by a call of the run, is used by the AWS service that runs the role
    (local/iam/usage.py SERVICE_USED, each with its reason), or belongs to a path the samples do
    not take (NOT_IN_THE_SAMPLE_RUN)."""
    from local.iam.usage import unused_grants

    authorizer = local_run.deployment.authorizer
    labels = {d.role_arn: d.label.removeprefix("function ") for d in authorizer.decisions}
    unused = {labels[role]: set(patterns) - NOT_IN_THE_SAMPLE_RUN.get(labels[role], set())
              for role, patterns in unused_grants(authorizer, labels).items()}
    assert {label: patterns for label, patterns in unused.items() if patterns} == {}
