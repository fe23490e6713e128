"""Where the model archives live and what the synth says about them: each ModelDataUrl names a
.tar.gz (SageMaker's CreateModel requires one; a CDK file asset of model.tar.gz is keyed <hash>.gz),
under a content-addressed key in a bucket of the stack that only that model's role reads, and a
model that scales to zero without packaged weights is flagged at synth."""
from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template

from cdk_app.config import load_config
from cdk_app.house.bundling import BUILD_DIR
from cdk_app.models import ARTEFACT_NAME, Models, artefact_key, deployment_tmp_mib
from cdk_app.storage import Storage
from model_artifacts.package import archive_digest

ROOT = Path(__file__).resolve().parents[2]


def _resources(template_json: dict, cfn_type: str) -> dict:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == cfn_type}


def _key_of(url) -> str:
    """The object key of an s3:// ModelDataUrl, literal or Fn::Join of a deploy-time bucket name."""
    if isinstance(url, str):
        return url.split("/", 3)[3]
    parts = url["Fn::Join"][1]
    assert parts[0] == "s3://" and isinstance(parts[-1], str), url
    return parts[-1].lstrip("/")


def _models_by_role(template_json: dict) -> dict[str, dict]:
    out = {}
    for logical_id, model in _resources(template_json, "AWS::SageMaker::Model").items():
        key = _key_of(model["Properties"]["PrimaryContainer"]["ModelDataUrl"])
        out[key.split("/")[1]] = {"id": logical_id, "key": key, **model}
    return out


def _models_only_stack(models: dict, context_overrides: dict | None = None):
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    pipeline = {**context["pipeline"], **(context_overrides or {}), "models": models}
    config = load_config(pipeline)
    stack = cdk.Stack(cdk.App(context=context))
    Models(stack, "Models", config=config, storage=Storage(stack, "Storage", config=config))
    return stack


def test_every_model_data_url_names_a_tar_gz(template_json):
    models = _resources(template_json, "AWS::SageMaker::Model")
    assert models
    for logical_id, model in models.items():
        key = _key_of(model["Properties"]["PrimaryContainer"]["ModelDataUrl"])
        assert key.endswith(".tar.gz"), (logical_id, key)
        assert key.endswith(f"/{ARTEFACT_NAME}"), (logical_id, key)


def test_each_archive_key_is_its_roles_content_hash(template_json):
    for role, model in _models_by_role(template_json).items():
        archive = BUILD_DIR / "models" / role / ARTEFACT_NAME
        assert model["key"] == artefact_key(role, archive_digest(archive))


def test_archives_are_copied_into_the_stacks_bucket_before_each_model_is_created(template_json):
    deployments = _resources(template_json, "Custom::CDKBucketDeployment")
    [bucket_id] = [k for k, b in _resources(template_json, "AWS::S3::Bucket").items() if k.startswith("ModelsArtefacts")]
    bucket = template_json["Resources"][bucket_id]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
        "SSEAlgorithm"] == "aws:kms"
    for role, model in _models_by_role(template_json).items():
        prefix = model["key"].rsplit("/", 1)[0]
        [(deployment_id, deployment)] = [(k, d) for k, d in deployments.items()
                                         if d["Properties"].get("DestinationBucketKeyPrefix") == prefix]
        assert deployment["Properties"]["DestinationBucketName"] == {"Ref": bucket_id}
        # Earlier archives stay for models being replaced or rolled back to.
        assert deployment["Properties"].get("Prune") is False
        assert deployment["Properties"].get("RetainOnDelete", True) is not False
        assert deployment_id in model.get("DependsOn", []), role


def test_each_execution_role_reads_only_its_own_models_archives(template_json):
    by_role = _models_by_role(template_json)
    for role, model in by_role.items():
        role_id = model["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
        policies = [p for p in _resources(template_json, "AWS::IAM::Policy").values()
                    if {"Ref": role_id} in p["Properties"]["Roles"]]
        text = json.dumps(policies)
        assert f"/models/{role}/*" in text
        for other in set(by_role) - {role}:
            assert f"/models/{other}/" not in text, (role, other)


def test_deployment_tmp_grows_with_the_archive_and_refuses_what_lambda_cannot_hold():
    assert deployment_tmp_mib(50 * 2**20) is None
    assert deployment_tmp_mib(2 * 2**30) == 2 * 2048 + 256
    with pytest.raises(ValueError, match="weights_dir"):
        deployment_tmp_mib(6 * 2**30)


def test_a_code_only_model_that_scales_to_zero_warns_that_each_wake_downloads_the_weights():
    stack = _models_only_stack({"text_embedding": {"enabled": True}, "image_embedding": {"enabled": False},
                                "generation": {"enabled": False}, "speech": {"enabled": False},
                                "ocr": {"enabled": False}})
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp(".*every wake from zero downloads.*"))
    assert len(warnings) == 1
    assert "models.text_embedding.weights_dir" in json.dumps(warnings[0].entry.data)


@pytest.mark.parametrize("overrides", [{"min_instances": 1}, {"weights_dir": "WEIGHTS"}])
def test_no_wake_warning_for_a_model_kept_warm_or_with_packaged_weights(tmp_path, overrides):
    weights = tmp_path / "w"
    weights.mkdir()
    (weights / "config.json").write_text("{}")
    model = {"enabled": True, **{k: (str(weights) if v == "WEIGHTS" else v) for k, v in overrides.items()}}
    stack = _models_only_stack({"text_embedding": model, "image_embedding": {"enabled": False},
                                "generation": {"enabled": False}, "speech": {"enabled": False},
                                "ocr": {"enabled": False}})
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp(".*every wake from zero downloads.*"))
    assert warnings == []
    [model_resource] = _resources(Template.from_stack(stack).to_json(), "AWS::SageMaker::Model").values()
    assert _key_of(model_resource["Properties"]["PrimaryContainer"]["ModelDataUrl"]).endswith(".tar.gz")
