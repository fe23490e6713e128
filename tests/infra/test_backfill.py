"""The backfill construct: MWAA environment, its DAG bundle, its connection secret, its IAM."""
from __future__ import annotations

import importlib.util
import json
import sys

from aws_cdk.assertions import Match

from cdk_app import backfill
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


def _dag_core():
    """dags/multimodal_reprocess/core.py, imported the way Airflow does (dags/ on sys.path)."""
    sys.path.insert(0, str(ROOT / "dags"))
    try:
        spec = importlib.util.spec_from_file_location("_dag_core", ROOT / "dags" / "multimodal_reprocess" / "core.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "dags"))
        sys.modules.pop("_dag_core", None)


def test_mwaa_runs_the_configured_airflow_with_the_dags_settings(template, stack):
    config = stack.config
    template.has_resource_properties("AWS::MWAA::Environment", {
        "AirflowVersion": config.backfill.airflow_version,
        "AirflowConfigurationOptions": Match.object_like({
            "pipeline.pipeline_version": config.pipeline_version,
            "pipeline.reconcile_schedule": config.backfill.reconcile_schedule,
            "pipeline.state_machine_arn": Match.any_value(),
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


def test_shared_modules_cover_every_functions_import_of_the_dags():
    for path in (ROOT / "dags").rglob("*.py"):
        for line in path.read_text().splitlines():
            if line.startswith("from functions."):
                module = line.split()[1].replace(".", "/") + ".py"
                assert module in backfill.DAG_SHARED_MODULES, f"{path.name} imports {module}, not shipped to MWAA"


def test_db_connection_secret_uses_iam_auth_and_holds_no_password(template_json):
    secrets = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::SecretsManager::Secret"
               and "airflow/connections" in json.dumps(r["Properties"].get("Name", ""))]
    assert len(secrets) == 1
    body = json.dumps(secrets[0]["Properties"]["SecretString"])
    assert '\\"iam\\": true' in body and "password" not in body
    assert "KmsKeyId" in secrets[0]["Properties"]


def test_connection_ids_match_the_dags():
    core = _dag_core()
    assert backfill.DB_CONN_ID == core.DB_CONN_ID


def test_airflow_can_list_versions_of_the_ingest_bucket_only(template_json):
    statements = _statements(template_json, "BackfillExecutionRole")
    listing = [s for s in statements if "s3:ListBucketVersions" in json.dumps(s["Action"])]
    assert len(listing) == 1
    assert "*" not in json.dumps(listing[0]["Resource"])
    assert "IngestBucket" in json.dumps(listing[0]["Resource"]) or "Ingest" in json.dumps(listing[0]["Resource"])


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
