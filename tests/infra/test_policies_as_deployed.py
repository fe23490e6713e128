"""The synthesized stack's policies, evaluated as IAM would (local/iam): the deploy contracts a
review of the template found broken (issue 23), each as the decision AWS would make."""
from __future__ import annotations

import json

from functions.common import constants as c
from local.iam.evaluator import Request
from local.iam.template import UNRESOLVED, TemplatePolicies


def tls() -> dict:
    return {"aws:SecureTransport": True}


def _logical_id(template: dict, kind: str, prefix: str) -> str:
    return next(lid for lid, r in template["Resources"].items() if r["Type"] == kind and lid.startswith(prefix))


def test_the_stacks_policies_resolve_and_decide_as_deployed(template_json):
    """Given the synthesized app: every role's policies resolve; the extract role reads the
    ingest bucket over TLS only, decrypts through the key policy's delegation to IAM, cannot
    delete ingested files; S3 may invoke the forwarder only for the ingest bucket."""
    policies = TemplatePolicies.from_template(template_json, physical={})

    unresolved = {label for arn in policies.roles().values() for label, document in policies.identity_policies(arn)
                  if UNRESOLVED in json.dumps(document) and "VpcRestrictDefaultSG" not in label}
    assert unresolved == set()  # only the EC2 default security group (not stood in for) stays unresolved

    extract = policies.role_arn(_logical_id(template_json, "AWS::IAM::Role", "OrchestrationExtractRole"))
    ingest = policies.resolve(template_json["Outputs"][c.OUTPUT_INGEST_BUCKET]["Value"])
    obj = f"arn:aws:s3:::{ingest}/uploads/a.png"
    assert policies.authorize(Request(extract, "s3:GetObject", obj, tls())).allowed
    assert not policies.authorize(Request(extract, "s3:GetObject", obj, {"aws:SecureTransport": False})).allowed
    assert not policies.authorize(Request(extract, "s3:DeleteObject", obj, tls())).allowed

    key = policies.resolve({"Fn::GetAtt": [_logical_id(template_json, "AWS::KMS::Key", "Storage"), "Arn"]})
    via_s3 = {"kms:ViaService": f"s3.{policies.region}.amazonaws.com"}
    assert policies.authorize(Request(extract, "kms:Decrypt", key, via_s3)).allowed
    # only through S3: the role cannot decrypt with the key directly
    assert not policies.authorize(Request(extract, "kms:Decrypt", key)).allowed
    monitoring = policies.role_arn(_logical_id(template_json, "AWS::IAM::Role", "DatabaseClusterMonitoringRole"))
    assert not policies.authorize(Request(monitoring, "kms:Decrypt", key)).allowed

    forwarder = policies.resolve({"Fn::GetAtt": [_logical_id(template_json, "AWS::Lambda::Function",
                                                             "StreamingForwarderFunction"), "Arn"]})
    source = {"aws:SourceArn": f"arn:aws:s3:::{ingest}", "aws:SourceAccount": policies.account}
    assert policies.authorize(Request("s3.amazonaws.com", "lambda:InvokeFunction", forwarder, source)).allowed
    other = {**source, "aws:SourceArn": "arn:aws:s3:::another-bucket"}
    assert not policies.authorize(Request("s3.amazonaws.com", "lambda:InvokeFunction", forwarder, other)).allowed



def _machine_role_and_arn(policies: TemplatePolicies, template_json: dict, output: str) -> tuple[str, str]:
    machine_id = template_json["Outputs"][output]["Value"]["Ref"]
    machine = template_json["Resources"][machine_id]["Properties"]
    return policies.role_arn(machine["RoleArn"]["Fn::GetAtt"][0]), policies.resolve({"Ref": machine_id})


def test_each_state_machine_role_may_use_the_key_for_its_own_executions_only(template_json):
    """Issue 23, item 1: the role's key grant is conditioned on the machine's ARN in the
    encryption context; without a StateMachineName it named `...:stateMachine:` and every
    execution failed."""
    policies = TemplatePolicies.from_template(template_json)
    key = policies.resolve({"Fn::GetAtt": [_logical_id(template_json, "AWS::KMS::Key", "Storage"), "Arn"]})
    for output in (c.OUTPUT_STATE_MACHINE_ARN, c.OUTPUT_BACKFILL_STATE_MACHINE_ARN):
        role, machine = _machine_role_and_arn(policies, template_json, output)
        own = {"kms:EncryptionContext:aws:states:stateMachineArn": machine}
        for action in ("kms:Decrypt", "kms:GenerateDataKey"):
            assert policies.authorize(Request(role, action, key, own)).allowed, (output, action)
        other = {"kms:EncryptionContext:aws:states:stateMachineArn": machine + "-other"}
        decision = policies.authorize(Request(role, "kms:Decrypt", key, other))
        # Only grants without the context condition (none for the pipeline's role) could allow it.
        if output == c.OUTPUT_STATE_MACHINE_ARN:
            assert not decision.allowed, decision.reason


def test_the_dispatcher_may_start_pipeline_executions_and_encrypt_their_input(template_json):
    policies = TemplatePolicies.from_template(template_json)
    dispatcher = policies.role_arn(_logical_id(template_json, "AWS::IAM::Role", "StreamingDispatcherRole"))
    _, machine = _machine_role_and_arn(policies, template_json, c.OUTPUT_STATE_MACHINE_ARN)
    key = policies.resolve({"Fn::GetAtt": [_logical_id(template_json, "AWS::KMS::Key", "Storage"), "Arn"]})
    assert policies.authorize(Request(dispatcher, "states:StartExecution", machine)).allowed
    context = {"kms:EncryptionContext:aws:states:stateMachineArn": machine}
    assert policies.authorize(Request(dispatcher, "kms:GenerateDataKey", key, context)).allowed


def test_a_role_with_the_search_caller_policy_passes_both_function_url_checks(template_json):
    """Issue 23, item 4: since October 2025 a function URL checks InvokeFunctionUrl and
    InvokeFunction (via the URL). A role given the stack's caller policy passes both; the policy
    does not let it invoke the function directly."""
    policy_id = template_json["Outputs"][c.OUTPUT_SEARCH_CALLER_POLICY]["Value"]["Ref"]
    template = json.loads(json.dumps(template_json))
    template["Resources"]["Analyst"] = {"Type": "AWS::IAM::Role", "Properties": {
        "RoleName": "Analyst", "ManagedPolicyArns": [{"Ref": policy_id}]}}
    policies = TemplatePolicies.from_template(template)
    analyst = policies.role_arn("Analyst")
    function = policies.resolve({"Fn::GetAtt": [_logical_id(template, "AWS::Lambda::Function", "SearchFunction"), "Arn"]})
    via_url = {"lambda:FunctionUrlAuthType": "AWS_IAM", "lambda:InvokedViaFunctionUrl": True}
    assert policies.authorize(Request(analyst, "lambda:InvokeFunctionUrl", function, via_url)).allowed
    assert policies.authorize(Request(analyst, "lambda:InvokeFunction", function, via_url)).allowed
    assert not policies.authorize(Request(analyst, "lambda:InvokeFunction", function, {})).allowed
