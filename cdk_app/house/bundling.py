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
# Files in wheels that nothing imports at run time: Cython declarations, type stubs, C headers.
_NEVER_IMPORTED = ("*.pxd", "*.pyi", "*.pyx", "*.h")
# Local bundling always succeeds, so this image is never pulled; CDK just needs one named.
_NO_DOCKER = DockerImage.from_registry("local-bundling-only")
# "Deployment package (.zip file archive) ... 250 MB unzipped, including layers":
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
# Synth refuses a function within this much of the limit: a patch release of a dependency must
# not be what breaks the next deploy.
LAMBDA_SIZE_MARGIN_BYTES = 15 * 1024 * 1024
# Unzipped bytes of each layer this synth built, by the layer construct's path.
LAYER_BYTES: dict[str, int] = {}


class PackageTooLarge(ValueError):
    """A function's code and layers come too close to Lambda's unzipped size limit."""


def tree_bytes(folder: Path, skip: frozenset[str] = frozenset()) -> int:
    """Bytes of the files under `folder` (what Lambda unzips), without caches and the `skip` folders."""
    return sum(path.stat().st_size for path in folder.rglob("*")
               if path.is_file() and path.suffix != ".pyc"
               and not ({"__pycache__", *skip} & set(path.relative_to(folder).parts)))


def function_code_bytes() -> int:
    """Unzipped bytes of the code asset every function shares (functions/ and migrations/, as
    _CopyFolders copies them)."""
    return tree_bytes(FUNCTIONS_DIR, frozenset({"requirements", "tests"})) + tree_bytes(MIGRATIONS_DIR)


def check_package_size(function_name: str, layer_bytes: dict[str, int],
                       limit: int = LAMBDA_UNZIPPED_LIMIT_BYTES, margin: int = LAMBDA_SIZE_MARGIN_BYTES) -> int:
    """The unzipped size of `function_name` (code + `layer_bytes`); raises PackageTooLarge when it
    is within `margin` of `limit`, naming each part."""
    code = function_code_bytes()
    total = code + sum(layer_bytes.values())
    if total > limit - margin:
        parts = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in {"code": code, **layer_bytes}.items())
        raise PackageTooLarge(
            f"{function_name}: {total / 1e6:.1f} MB unzipped ({parts}) is over Lambda's "
            f"{limit / 1e6:.1f} MB limit less a {margin / 1e6:.1f} MB margin; slim a layer "
            "(functions/requirements/) or move the dependency to a container image")
    return total


def runtime_architecture(name: str) -> lambda_.Architecture:
    return lambda_.Architecture.ARM_64 if name == "arm64" else lambda_.Architecture.X86_64


def build_layer(requirements: Path, architecture: str) -> Path:
    """pip-install `requirements` for Lambda into .build/layers/<hash>/python; return the layer root.

    A sibling `<name>.no-deps.txt` is installed into the same layer without its dependencies:
    for packages whose declared dependencies serve features the functions never use (tokenizers
    declares huggingface_hub for `from_pretrained` downloads, about 23 MB).
    """
    no_deps = requirements.with_name(f"{requirements.stem}.no-deps.txt")
    digest = hashlib.sha256(
        requirements.read_bytes() + (no_deps.read_bytes() if no_deps.exists() else b"")
        + f"{architecture}|{LAMBDA_PYTHON}".encode()
    ).hexdigest()[:16]
    target = BUILD_DIR / "layers" / f"{requirements.stem}-{architecture}-{digest}"
    done = target / ".complete"
    if done.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    for path, extra in ((requirements, []), (no_deps, ["--no-deps"])):
        if not path.exists():
            continue
        cmd = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--only-binary=:all:", "--implementation", "cp",
            "--python-version", LAMBDA_PYTHON, "--target", str(target / "python"), *extra,
            "-r", str(path),
        ]
        for platform in _PLATFORMS[architecture]:
            cmd += ["--platform", platform]
        subprocess.run(cmd, check=True)
    # Tests, caches and Cython/typing sources are never imported at run time and only count
    # against the 250 MB unzipped limit for function + layers.
    for junk in list((target / "python").rglob("__pycache__")) + list((target / "python").glob("*/tests")):
        shutil.rmtree(junk, ignore_errors=True)
    for pattern in _NEVER_IMPORTED:
        for path in (target / "python").rglob(pattern):
            path.unlink()
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


def layer_code(requirements_name: str, architecture: str) -> tuple[lambda_.Code, int]:
    """Code for a Lambda layer built from functions/requirements/<name>.txt, and its unzipped bytes."""
    built = build_layer(REQUIREMENTS_DIR / f"{requirements_name}.txt", architecture)
    return lambda_.Code.from_asset(str(built), exclude=[".complete"]), tree_bytes(built / "python")


def function_code() -> lambda_.Code:
    """The `functions` package (handlers and plain modules) and `migrations/`, shared by every
    function; hashed by content so a changed handler or migration file is a new asset."""
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        asset_hash=_tree_digest(FUNCTIONS_DIR, MIGRATIONS_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        # jsii calls try_bundle(output_dir, options) positionally; ILocalBundling's Python signature
        # spells the options out as keyword-only arguments, which no such method can match.
        bundling=BundlingOptions(image=_NO_DOCKER, local=_CopyFolders(FUNCTIONS_DIR, MIGRATIONS_DIR)),  # type: ignore[arg-type]
    )
