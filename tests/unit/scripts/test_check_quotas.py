"""scripts/check_quotas.py: the instances a deploy needs per type, counted from the same config
the CDK app reads, against Service Quotas answers in the documented shape (botocore's Stubber
checks them against the service model; moto has no SageMaker quotas).
https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html
https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListAWSDefaultServiceQuotas.html
"""
from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("check_quotas", ROOT / "scripts" / "check_quotas.py")
check_quotas = sys.modules.setdefault("check_quotas", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(check_quotas)

G5 = "ml.g5.xlarge"
C6I = "ml.c6i.xlarge"


def _pipeline(**models) -> dict:
    pipeline = json.loads((ROOT / "cdk.json").read_text())["context"]["pipeline"]
    return {**pipeline, "models": {**pipeline["models"], **models}}


def _quota(name: str, value: float, code: str) -> dict:
    """One Quotas entry as Service Quotas returns it (ServiceQuota shape)."""
    return {
        "ServiceCode": "sagemaker", "ServiceName": "Amazon SageMaker",
        "QuotaArn": f"arn:aws:servicequotas:us-east-1:123456789012:sagemaker/{code}",
        "QuotaCode": code, "QuotaName": name, "Value": value, "Unit": "None",
        "Adjustable": True, "GlobalQuota": False,
    }


# L-1928E07B is the code of "ml.g5.xlarge for endpoint usage"; the other code is illustrative.
def _client(applied: list[dict], defaults: list[dict] | None = None):
    client = boto3.client("service-quotas", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response("list_service_quotas", {"Quotas": applied}, {"ServiceCode": "sagemaker"})
    if defaults is not None:
        stubber.add_response("list_aws_default_service_quotas", {"Quotas": defaults}, {"ServiceCode": "sagemaker"})
    stubber.activate()
    return client, stubber


def test_cdk_json_as_it_is_needs_four_g5_and_three_c6i_at_deploy():
    needs = check_quotas.instance_needs(check_quotas.load_pipeline_config())
    assert set(needs) == {G5, C6I}
    assert (needs[G5].at_deploy, needs[G5].at_max) == (4, 16)
    assert sorted(needs[G5].roles) == ["generation", "image_embedding", "ocr", "speech"]
    assert (needs[C6I].at_deploy, needs[C6I].at_max) == (3, 12)  # text_embedding, pii, moderation


def test_overrides_apply_as_the_app_applies_them():
    config = check_quotas.load_pipeline_config(pipeline=_pipeline(
        speech={"enabled": True, "min_instances": 3, "max_instances": 6},
        ocr={"enabled": True, "instance_type": "ml.g6.xlarge"},
        generation={"enabled": False},
    ))
    needs = check_quotas.instance_needs(config)
    # image_embedding: max(1, 0) = 1 of 4; speech: 3 of 6.
    assert (needs[G5].at_deploy, needs[G5].at_max) == (1 + 3, 4 + 6)
    assert (needs["ml.g6.xlarge"].at_deploy, needs["ml.g6.xlarge"].roles) == (1, ("ocr",))


def test_a_quota_below_the_deploy_fails_and_says_so():
    config = check_quotas.load_pipeline_config()
    client, stubber = _client([_quota(f"{G5} for endpoint usage", 2.0, "L-1928E07B"),
                               _quota(f"{C6I} for endpoint usage", 4.0, "L-C6IXLARGE")])
    out = io.StringIO()
    assert check_quotas.check(config, client, out=out) == 1
    stubber.assert_no_pending_responses()
    [g5_row] = [line for line in out.getvalue().splitlines() if line.startswith(G5)]
    assert g5_row.split()[1:4] == ["4", "16", "2"] and check_quotas.SHORT_AT_DEPLOY in g5_row


def test_enough_for_the_deploy_but_not_max_scale_fails_unless_deploy_only():
    config = check_quotas.load_pipeline_config()
    applied = [_quota(f"{G5} for endpoint usage", 4.0, "L-1928E07B"), _quota(f"{C6I} for endpoint usage", 4.0, "L-C6IXLARGE")]
    assert check_quotas.check(config, _client(applied)[0], out=io.StringIO()) == 1
    assert check_quotas.check(config, _client(applied)[0], deploy_only=True, out=io.StringIO()) == 0


def test_a_quota_without_an_applied_value_is_read_from_the_aws_defaults():
    config = check_quotas.load_pipeline_config()
    client, stubber = _client([_quota(f"{G5} for endpoint usage", 16.0, "L-1928E07B")],
                              defaults=[_quota(f"{C6I} for endpoint usage", 12.0, "L-C6IXLARGE")])
    out = io.StringIO()
    assert check_quotas.check(config, client, out=out) == 0
    stubber.assert_no_pending_responses()
    assert all(check_quotas.OK in line for line in out.getvalue().splitlines()[1:])


def test_an_instance_type_with_no_quota_at_all_is_reported_unknown():
    config = check_quotas.load_pipeline_config()
    client, _ = _client([_quota(f"{G5} for endpoint usage", 16.0, "L-1928E07B")], defaults=[])
    out = io.StringIO()
    assert check_quotas.check(config, client, out=out) == 2
    assert check_quotas.UNKNOWN in out.getvalue()


def test_help_and_bad_configuration_stop_before_any_aws_call(capsys, monkeypatch):
    monkeypatch.setattr(boto3, "Session", lambda **_: pytest.fail("no AWS session before the config is valid"))
    with pytest.raises(SystemExit) as exited:
        check_quotas.main(["--help"])
    assert exited.value.code == 0 and "for endpoint usage" in capsys.readouterr().out
    assert check_quotas.main(["--pipeline", "{not json"]) == 2
    assert check_quotas.main(["--pipeline", json.dumps(_pipeline(speech={"min_instances": -1}))]) == 2
    assert "models.speech.min_instances" in capsys.readouterr().err
