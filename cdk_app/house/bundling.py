"""Lambda code and layers bundled on the synth machine, without Docker.

Layers are built with `pip install --platform manylinux... --only-binary=:all:` for the
Lambda runtime's Python and architecture, so wheels match Lambda even when the synth
machine runs another Python. Builds are cached under .build/ keyed by the requirements
and target (deleting the folder is always safe: the next synth rebuilds it).
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = ROOT / "functions"
MIGRATIONS_DIR = ROOT / "migrations"  # read by functions/migrate at deploy time
REQUIREMENTS_DIR = FUNCTIONS_DIR / "requirements"
BUILD_DIR = ROOT / ".build"
LAMBDA_PYTHON = "3.14"  # must match house.python_function.RUNTIME

_PLATFORMS = {
    # Lambda's Amazon Linux 2023 has glibc 2.34; accept every manylinux tag up to it.
    "x86_64": [f"manylinux_2_{n}_x86_64" for n in (34, 28, 27, 24, 17)] + ["manylinux2014_x86_64"],
    "arm64": [f"manylinux_2_{n}_aarch64" for n in (34, 28, 27, 24, 17)] + ["manylinux2014_aarch64"],
}
_CODE_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements", "tests")
# Local bundling always succeeds, so this image is never pulled; CDK just needs one named.
_NO_DOCKER = DockerImage.from_registry("local-bundling-only")


def runtime_architecture(name: str) -> lambda_.Architecture:
    return lambda_.Architecture.ARM_64 if name == "arm64" else lambda_.Architecture.X86_64


def build_layer(requirements: Path, architecture: str) -> Path:
    """pip-install `requirements` for Lambda into .build/layers/<hash>/python; return the layer root."""
    digest = hashlib.sha256(
        requirements.read_bytes() + f"{architecture}|{LAMBDA_PYTHON}".encode()
    ).hexdigest()[:16]
    target = BUILD_DIR / "layers" / f"{requirements.stem}-{architecture}-{digest}"
    done = target / ".complete"
    if done.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", "--only-binary=:all:", "--implementation", "cp",
        "--python-version", LAMBDA_PYTHON, "--target", str(target / "python"),
        "-r", str(requirements),
    ]
    for platform in _PLATFORMS[architecture]:
        cmd += ["--platform", platform]
    subprocess.run(cmd, check=True)
    # Tests and caches only make the layer bigger (250 MB unzipped limit for function + layers).
    for junk in list((target / "python").rglob("__pycache__")) + list((target / "python").glob("*/tests")):
        shutil.rmtree(junk, ignore_errors=True)
    done.write_text(digest)
    return target


def _tree_digest(*folders: Path) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class _CopyFolders:
    """Copies repository folders, by name, into the asset."""

    def __init__(self, *folders: Path) -> None:
        self._folders = folders

    def try_bundle(self, output_dir: str, _options) -> bool:  # jsii passes BundlingOptions positionally
        for folder in self._folders:
            shutil.copytree(folder, Path(output_dir) / folder.name, dirs_exist_ok=True, ignore=_CODE_IGNORE)
        return True


def layer_code(requirements_name: str, architecture: str) -> lambda_.Code:
    """Code for a Lambda layer built from functions/requirements/<name>.txt."""
    built = build_layer(REQUIREMENTS_DIR / f"{requirements_name}.txt", architecture)
    return lambda_.Code.from_asset(str(built), exclude=[".complete"])


def function_code() -> lambda_.Code:
    """The `functions` package (handlers and plain modules) and `migrations/`, shared by every
    function; hashed by content so a changed handler or migration file is a new asset."""
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        asset_hash=_tree_digest(FUNCTIONS_DIR, MIGRATIONS_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=BundlingOptions(image=_NO_DOCKER, local=_CopyFolders(FUNCTIONS_DIR, MIGRATIONS_DIR)),
    )
