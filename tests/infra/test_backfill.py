"""The backfill construct: MWAA environment, its DAG bundle, its connection secret, its IAM,
and the backfill state machine (Distributed Map) with its batch Lambda."""
from __future__ import annotations

import json
from pathlib import Path

from aws_cdk.assertions import Match

from cdk_app import backfill
from functions.reprocess import names
from step_functions import backfill as backfill_asl

ROOT = backfill.ROOT


def _statements(template_json: dict, role_logical_prefix: str) -> list[dict]:
    out = []
    for resource in template_json["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        roles = json.dumps(resource["Properties"].get("Roles", []))
        if role_logical_prefix in roles:
            out.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return out


def test_mwaa_runs_the_configured_airflow_with_the_dags_settings(template, stack):
    config = stack.config
    template.has_resource_properties("AWS::MWAA::Environment", {
        "AirflowVersion": config.backfill.airflow_version,
        "AirflowConfigurationOptions": Match.object_like({
            "pipeline.pipeline_version": config.pipeline_version,
            "pipeline.reconcile_schedule": config.backfill.reconcile_schedule,
            "pipeline.state_machine_arn": Match.any_value(),
            "pipeline.backfill_state_machine_arn": Match.any_value(),
            "pipeline.ingest_bucket": Match.any_value(),
            "secrets.backend": backfill.SECRETS_BACKEND,
        }),
    })


def test_dag_bundle_carries_the_shared_function_modules(template_json):
    deployments = [r for r in template_json["Resources"].values() if r["Type"] == "Custom::CDKBucketDeployment"
                   and r["Properties"].get("DestinationBucketKeyPrefix") == "dags"]
    assert len(deployments) == 1
    assert len(deployments[0]["Properties"]["SourceBucketNames"]) == 2  # dags/ + functions' shared modules
    staged = {p.relative_to(backfill.SHARED_STAGE).as_posix() for p in backfill.SHARED_STAGE.rglob("*.py")}
    assert staged == set(backfill.DAG_SHARED_MODULES)


def _functions_imports(path: Path) -> set[str]:
    """Repository files that `path` imports from the functions package (any depth of the code)."""
    import ast

    needed: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("functions"):
            parts = node.module.split(".")
            for depth in range(1, len(parts) + 1):  # every package on the way is imported too
                package = ROOT.joinpath(*parts[:depth])
                if package.is_dir():
                    needed.add(f"{'/'.join(parts[:depth])}/__init__.py")
            base = ROOT.joinpath(*parts)
            if base.is_dir():  # "from functions.pkg import module"
                needed |= {f"{'/'.join(parts)}/{a.name}.py" for a in node.names if (base / f"{a.name}.py").exists()}
            else:
                needed.add("/".join(parts) + ".py")
    return needed


def test_shared_modules_cover_every_functions_import_of_the_dags_transitively():
    """What MWAA gets must import: the DAGs' imports, and theirs, all shipped."""
    pending = set((ROOT / "dags").rglob("*.py"))
    seen: set[str] = set()
    while pending:
        path = pending.pop()
        for module in _functions_imports(path) - seen:
            seen.add(module)
            assert module in backfill.DAG_SHARED_MODULES, f"{path.relative_to(ROOT)} imports {module}, not shipped to MWAA"
            pending.add(ROOT / module)


def test_db_connection_secret_uses_iam_auth_and_holds_no_password(template_json):
    secrets = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::SecretsManager::Secret"
               and "airflow/connections" in json.dumps(r["Properties"].get("Name", ""))]
    assert len(secrets) == 1
    body = json.dumps(secrets[0]["Properties"]["SecretString"])
    assert '\\"iam\\": true' in body and "password" not in body
    assert "KmsKeyId" in secrets[0]["Properties"]


def test_connection_ids_match_the_dags():
    assert backfill.DB_CONN_ID == names.DB_CONN_ID


def test_airflow_can_list_versions_of_the_ingest_bucket_only(template_json):
    statements = _statements(template_json, "BackfillExecutionRole")
    listing = [s for s in statements if "s3:ListBucketVersions" in json.dumps(s["Action"])]
    assert len(listing) == 1
    assert "*" not in json.dumps(listing[0]["Resource"])
    assert "IngestBucket" in json.dumps(listing[0]["Resource"]) or "Ingest" in json.dumps(listing[0]["Resource"])


def test_dag_bundle_ships_the_reprocessing_core_not_a_copy():
    assert not (ROOT / "dags" / "multimodal_reprocess" / "core.py").exists()
    assert "functions/reprocess/core.py" in backfill.DAG_SHARED_MODULES


def test_airflow_may_start_and_read_pipeline_executions_but_not_stop_them(template_json):
    actions = json.dumps([s["Action"] for s in _statements(template_json, "BackfillExecutionRole")])
    assert "states:StartExecution" in actions
    assert "states:DescribeExecution" in actions
    assert "states:StopExecution" not in actions
    assert "secretsmanager:GetSecretValue" in actions


def test_mwaa_requirements_use_the_constraints_of_the_configured_airflow(stack):
    version = stack.config.backfill.airflow_version
    requirements = (ROOT / "dags" / "requirements.txt").read_text()
    # MWAA reads the constraints shipped with the DAGs: no internet needed from its subnets.
    assert '--constraint "/usr/local/airflow/dags/constraints.txt"' in requirements
    constraints = (ROOT / "dags" / "constraints.txt").read_text().splitlines()
    assert f"apache-airflow=={version}" in constraints


# --- the backfill state machine ------------------------------------------------------------

def _backfill_machine(template_json: dict) -> tuple[str, dict]:
    machines = [(name, r) for name, r in template_json["Resources"].items()
                if r["Type"] == "AWS::StepFunctions::StateMachine" and name.startswith("BackfillBatches")]
    assert len(machines) == 1
    return machines[0]


def _definition(resource: dict) -> dict:
    """The deployed definition with its substitution placeholders left in."""
    body = resource["Properties"]["DefinitionString"]
    text = body if isinstance(body, str) else "".join(p if isinstance(p, str) else "0" for p in body["Fn::Join"][1])
    return json.loads(text)


def _role_statements(template_json: dict, role_logical_id: str) -> list[dict]:
    out = []
    for resource in template_json["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_logical_id} in resource["Properties"]["Roles"]:
            out.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return out


def _actions(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def test_committed_backfill_asl_matches_its_generator():
    assert backfill_asl.load() == backfill_asl.render()


def test_backfill_is_a_distributed_map_over_the_listing_in_batches_of_standard_children(template_json):
    _, machine = _backfill_machine(template_json)
    state = _definition(machine)["States"][backfill_asl.MAP_STATE]

    assert state["Type"] == "Map"
    assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert state["ItemReader"]["Resource"] == "arn:aws:states:::s3:listObjectsV2"
    assert state["ItemReader"]["Parameters"] == {"Bucket.$": "$.bucket", "Prefix.$": "$.prefix"}
    assert state["ItemBatcher"]["MaxItemsPerBatch"] == 1000
    assert {"pipeline_version.$", "dry_run.$", "modalities.$", "modified_since.$"} <= set(state["ItemBatcher"]["BatchInput"])
    assert 1 <= state["MaxConcurrency"] <= 100
    assert 0 < state["ToleratedFailurePercentage"] < 100
    assert state["ResultWriter"]["Parameters"]["Prefix"] == names.RESULTS_PREFIX
    batch = state["ItemProcessor"]["States"][backfill_asl.BATCH_STATE]
    assert {"RetryableSendError", "DatabaseUnavailableError"} <= {e for r in batch["Retry"] for e in r["ErrorEquals"]}


def test_backfill_substitutions_name_the_batch_function_and_the_staging_bucket(template_json):
    _, machine = _backfill_machine(template_json)
    substitutions = json.dumps(machine["Properties"]["DefinitionSubstitutions"])

    assert backfill_asl.FUNCTION_ARN_KEY in substitutions and "BackfillBatchesReprocessBatch" in substitutions
    assert backfill_asl.RESULTS_BUCKET_KEY in substitutions and "StorageStaging" in substitutions


def test_backfill_state_machine_lists_only_the_ingest_bucket_and_runs_only_its_own_children(template_json):
    name, machine = _backfill_machine(template_json)
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = _role_statements(template_json, role)

    listing = [s for s in statements if "s3:ListBucket" in _actions(s)]
    assert len(listing) == 1 and "Ingest" in json.dumps(listing[0]["Resource"])
    starts = [s for s in statements if "states:StartExecution" in _actions(s)]
    assert len(starts) == 1 and f'"{name}", "Name"' in json.dumps(starts[0]["Resource"])
    children = [s for s in statements if "states:StopExecution" in _actions(s)]
    assert len(children) == 1 and "states:DescribeExecution" in _actions(children[0])
    assert f'"{name}", "Name"' in json.dumps(children[0]["Resource"]) and ":execution:" in json.dumps(children[0]["Resource"])
    invokes = [s for s in statements if "lambda:InvokeFunction" in _actions(s)]
    assert invokes and all("BackfillBatchesReprocessBatch" in json.dumps(s["Resource"]) for s in invokes)
    assert not any(a.startswith("s3:Delete") for s in statements for a in _actions(s))


def test_batch_lambda_reads_ingest_connects_to_the_db_and_starts_only_pipeline_executions(template_json):
    functions = [(n, r) for n, r in template_json["Resources"].items()
                 if r["Type"] == "AWS::Lambda::Function" and n.startswith("BackfillBatchesReprocessBatch")]
    assert len(functions) == 1
    _, fn = functions[0]
    assert fn["Properties"]["Handler"] == f"functions.{names.FN_REPROCESS_BATCH}.handler.lambda_handler"
    assert "VpcConfig" in fn["Properties"]
    role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = _role_statements(template_json, role)
    actions = {a for s in statements for a in _actions(s)}

    assert {"s3:GetObject*", "rds-db:connect", "states:StartExecution"} <= actions
    starts = [s for s in statements if "states:StartExecution" in _actions(s)]
    assert all("OrchestrationStateMachine" in json.dumps(s["Resource"]) for s in starts)
    assert not any(a.startswith(("s3:Put", "s3:Delete", "states:Stop")) for a in actions)


def test_airflow_may_start_the_backfill_and_read_its_results(template_json):
    statements = _statements(template_json, "BackfillExecutionRole")
    starts = [s for s in statements if "states:StartExecution" in _actions(s)]

    assert any("BackfillBatchesStateMachine" in json.dumps(s["Resource"]) for s in starts)
    reads = [s for s in statements if "s3:GetObject*" in _actions(s)]
    assert any(names.RESULTS_PREFIX in json.dumps(s["Resource"]) for s in reads)


def test_backfill_runs_and_batches_alarm_to_the_pipeline_topic(template_json):
    logical_id, _ = _backfill_machine(template_json)
    alarms = {k: r["Properties"] for k, r in template_json["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    on_machine = [a for a in alarms.values()
                  if logical_id in json.dumps(a.get("Metrics", [])) and "ExecutionsFailed" in json.dumps(a["Metrics"])
                  and "ExecutionsTimedOut" in json.dumps(a["Metrics"])]
    assert len(on_machine) == 1  # failed + timed out, one alarm
    batch_fn = [a for a in alarms.values() if a.get("MetricName") == "Errors"
                and "ReprocessBatch" in json.dumps(a.get("Dimensions", []))]
    assert len(batch_fn) == 1
    topics = [k for k, r in template_json["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
    for alarm in (*on_machine, *batch_fn):
        assert alarm["Threshold"] >= 1
        assert any(t in json.dumps(alarm["AlarmActions"]) for t in topics)
