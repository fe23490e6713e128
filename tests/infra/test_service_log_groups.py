"""Log groups the services would create themselves (unencrypted, kept forever) exist in the
stack beforehand, under the exact names the services write to, with the pipeline's key and the
configured retention, and the resources that write to them are created after them."""
from __future__ import annotations

import pytest

from cdk_app.database import LOG_EXPORTS, cluster_identifier, cluster_log_group_name
from cdk_app.models import COMPONENT_LOG_GROUP, ENDPOINT_LOG_GROUP


def _resources(template_json: dict, cfn_type: str) -> dict:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == cfn_type}


def _group_named(template_json: dict, name: str) -> tuple[str, dict]:
    found = [(k, g["Properties"]) for k, g in _resources(template_json, "AWS::Logs::LogGroup").items()
             if g["Properties"].get("LogGroupName") == name]
    assert len(found) == 1, f"no log group {name!r} in the stack"
    return found[0]


def _assert_encrypted_with_the_data_key_and_retained(props: dict, stack) -> None:
    assert props["RetentionInDays"] == stack.config.log_retention_days
    key_arn = props["KmsKeyId"]
    assert key_arn["Fn::GetAtt"][0].startswith("StorageDataKey") and key_arn["Fn::GetAtt"][1] == "Arn"


@pytest.mark.parametrize("cfn_type,name_property,pattern", [
    ("AWS::SageMaker::Endpoint", "EndpointName", ENDPOINT_LOG_GROUP),
    ("AWS::SageMaker::InferenceComponent", "InferenceComponentName", COMPONENT_LOG_GROUP),
])
def test_each_endpoint_and_component_writes_to_a_log_group_made_before_it(template_json, stack, cfn_type,
                                                                          name_property, pattern):
    writers = _resources(template_json, cfn_type)
    assert writers
    for logical_id, writer in writers.items():
        name = writer["Properties"][name_property]
        assert isinstance(name, str), (logical_id, name)  # explicit: the group name must be known at synth
        group_id, props = _group_named(template_json, pattern.format(name))
        _assert_encrypted_with_the_data_key_and_retained(props, stack)
        assert group_id in writer.get("DependsOn", []), logical_id


def test_the_cluster_exports_its_logs_to_groups_made_before_it(template_json, stack):
    [(cluster_id, cluster)] = _resources(template_json, "AWS::RDS::DBCluster").items()
    identifier = cluster["Properties"]["DBClusterIdentifier"]
    assert identifier == cluster_identifier(stack.config) == identifier.lower()
    assert sorted(cluster["Properties"]["EnableCloudwatchLogsExports"]) == sorted(LOG_EXPORTS)
    for log_type in LOG_EXPORTS:
        group_id, props = _group_named(template_json, cluster_log_group_name(identifier, log_type))
        _assert_encrypted_with_the_data_key_and_retained(props, stack)
        assert group_id in cluster.get("DependsOn", [])


def test_sagemaker_execution_roles_write_only_their_own_log_groups(template_json):
    for role_id, role in _resources(template_json, "AWS::IAM::Role").items():
        if role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].get("Service") \
                != "sagemaker.amazonaws.com":
            continue
        statements = [s for p in _resources(template_json, "AWS::IAM::Policy").values()
                      if {"Ref": role_id} in p["Properties"]["Roles"]
                      for s in p["Properties"]["PolicyDocument"]["Statement"]
                      if any(a.startswith("logs:") for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))]
        [statement] = statements
        resources = statement["Resource"]
        assert len(resources) == 2 and all("Fn::GetAtt" in r for r in resources), (role_id, resources)
        groups = {r["Fn::GetAtt"][0] for r in resources}
        names = {template_json["Resources"][g]["Properties"]["LogGroupName"].split("/")[3] for g in groups}
        assert names == {"Endpoints", "InferenceComponents"}, (role_id, names)
