"""`backfill.mwaa: false` (issue 18): no Airflow to pay for at rest, and the nightly reconciliation
still runs, on the backfill state machine, started by an EventBridge Scheduler schedule."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk.assertions import Annotations, Match

from cdk_app.backfill import airflow_cron_to_scheduler
from functions.common import constants as c
from functions.reprocess.distributed import backfill_input
from functions.reprocess.params import RunParams

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def without_airflow(tmp_path_factory):
    import aws_cdk as cdk

    from app import build_app

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["pipeline"]["backfill"] = {**context["pipeline"]["backfill"], "mwaa": False}
    outdir = tmp_path_factory.mktemp("cdk.out.no-airflow")
    app, stack = build_app(cdk.App(context=context, outdir=str(outdir)))
    assembly = app.synth()
    path = outdir / assembly.get_stack_by_name(stack.stack_name).template_file
    return stack, json.loads(path.read_text()), path


def _of_type(template: dict, cfn_type: str) -> dict:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == cfn_type}


def test_no_airflow_and_none_of_its_endpoints_or_secrets(without_airflow, template_json):
    _, template, _ = without_airflow
    assert _of_type(template_json, "AWS::MWAA::Environment")  # on in cdk.json: the DAGs run backfills
    assert not _of_type(template, "AWS::MWAA::Environment")
    services = json.dumps([r["Properties"]["ServiceName"] for r in _of_type(template, "AWS::EC2::VPCEndpoint").values()])
    assert "airflow" not in services
    # Logs and KMS endpoints serve only MWAA's workers: Lambda ships the functions' logs, and S3
    # and Step Functions call KMS on the caller's behalf.
    assert ".logs" not in services and ".kms" not in services, services
    assert not [k for k in _of_type(template, "AWS::SecretsManager::Secret") if "Airflow" in k or "DbConnection" in k]
    assert c.OUTPUT_MWAA_WEBSERVER not in template["Outputs"]
    assert c.OUTPUT_BACKFILL_STATE_MACHINE_ARN in template["Outputs"]


def test_the_reconciliation_is_scheduled_on_the_backfill_state_machine(without_airflow):
    stack, template, _ = without_airflow
    [schedule] = _of_type(template, "AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "cron(0 3 * * ? *)"  # cdk.json: "0 3 * * *"
    assert props["State"] == "ENABLED"
    target = props["Target"]
    [machine_id] = [k for k in _of_type(template, "AWS::StepFunctions::StateMachine") if k.startswith("Backfill")]
    assert target["Arn"] == {"Ref": machine_id}
    # The input: the JSON document the reconcile DAG would send, the ingest bucket's name spliced in.
    parts = target["Input"]["Fn::Join"][1]
    [bucket_ref] = [p for p in parts if isinstance(p, dict)]
    assert bucket_ref["Ref"].startswith("StorageIngest")
    run = json.loads("".join("INGEST" if isinstance(p, dict) else p for p in parts))
    assert run == backfill_input(RunParams(bucket="INGEST", pipeline_version=stack.config.pipeline_version))
    assert run["modified_since"] is None and run["dry_run"] is False
    # Its role may start that state machine (and encrypt the input with the pipeline key), nothing else.
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    statements = [s for p in _of_type(template, "AWS::IAM::Policy").values()
                  if {"Ref": role_id} in p["Properties"]["Roles"] for s in p["Properties"]["PolicyDocument"]["Statement"]]
    actions = sorted(a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    # Decrypt too: the Scheduler's StartExecution reads under the machine's key; both key uses
    # are limited to that machine's executions by the encryption context.
    assert actions == ["kms:Decrypt", "kms:GenerateDataKey", "states:StartExecution"]
    for statement in statements:
        if statement["Action"] in ("kms:Decrypt", "kms:GenerateDataKey"):
            [context] = statement["Condition"]["StringEquals"].values()
            assert context == {"Ref": machine_id}


def test_without_airflow_the_template_is_nag_and_lint_clean(without_airflow):
    stack, _, path = without_airflow
    annotations = Annotations.from_stack(stack)
    found = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*")) + annotations.find_warning(
        "*", Match.string_like_regexp("AwsSolutions-.*"))
    assert [f"{e.id}: {e.entry.data}"[:300] for e in found] == []
    result = subprocess.run([sys.executable, "-m", "cfnlint", "--format", "json", str(path)], capture_output=True, text=True)
    assert [f for f in json.loads(result.stdout or "[]") if f["Level"] == "Error"] == []


@pytest.mark.parametrize("airflow, scheduler", [
    ("0 3 * * *", {"minute": "0", "hour": "3", "month": "*", "day": "*"}),
    ("30 2 * * 0", {"minute": "30", "hour": "2", "month": "*", "week_day": "SUN"}),
    ("0 4 * * 1-5", {"minute": "0", "hour": "4", "month": "*", "week_day": "MON-FRI"}),
    ("15 1 1 * *", {"minute": "15", "hour": "1", "month": "*", "day": "1"}),
    ("0 0 * * 7", {"minute": "0", "hour": "0", "month": "*", "week_day": "SUN"}),
])
def test_airflow_cron_becomes_an_eventbridge_scheduler_cron(airflow, scheduler):
    assert airflow_cron_to_scheduler(airflow) == scheduler


@pytest.mark.parametrize("bad", ["@daily", "0 3 * *", "0 3 1 * 1"])
def test_cron_that_eventbridge_cannot_take_is_refused(bad):
    with pytest.raises(ValueError):
        airflow_cron_to_scheduler(bad)
