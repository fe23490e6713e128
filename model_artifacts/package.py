"""Build a deterministic ``model.tar.gz`` for one model role.

    python -m model_artifacts.package --role R [--weights DIR | --model-id ID] --out PATH

Layout (what SageMaker unpacks into /opt/ml/model): weights at the root (optional) and
``code/`` = the role folder's ``code/`` plus every module of ``_shared/`` (``mm_serving.py``,
``mm_images.py``). Entries are
sorted, with mtime 0, uid/gid 0, no owner names, fixed modes, and the gzip header carries no
name or time, so identical inputs give byte-identical archives and a stable CDK asset hash.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import tarfile
import tempfile
from pathlib import Path

from model_artifacts.catalog import spec

ROOT = Path(__file__).resolve().parent
SHARED_DIR = ROOT / "_shared"
SHARED = SHARED_DIR / "mm_serving.py"
_SKIP = {"__pycache__", ".git", ".cache"}


def _files(base: Path) -> list[tuple[str, Path]]:
    out = []
    for path in base.rglob("*"):
        rel = path.relative_to(base)
        if path.is_file() and not _SKIP.intersection(rel.parts) and path.suffix != ".pyc":
            out.append((rel.as_posix(), path))
    return out


def entries_for(folder: str, weights_dir: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """``(archive name, source file)`` pairs for a model folder, sorted by name."""
    code = ROOT / folder / "code"
    if not (code / "inference.py").is_file():
        raise FileNotFoundError(f"{code}/inference.py is missing")
    entries = [(f"code/{name}", path) for name, path in _files(code)]
    # A container sees only code/: the shared modules travel beside inference.py.
    entries.extend((f"code/{path.name}", path) for path in sorted(SHARED_DIR.glob("*.py")))
    if weights_dir is not None:
        weights = [(name, path) for name, path in _files(Path(weights_dir)) if not name.startswith("code/")]
        if not weights:
            raise FileNotFoundError(f"no files in weights folder {weights_dir}")
        entries.extend(weights)
    return sorted(entries)


def write_tar_gz(entries: list[tuple[str, Path]], out: str | os.PathLike) -> Path:
    """Write ``entries`` to ``out`` reproducibly; returns the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            directories = {str(parent) for name, _ in entries for parent in Path(name).parents} - {"."}
            for name, path in sorted([(d, None) for d in directories] + list(entries), key=lambda e: e[0]):
                info = tarfile.TarInfo(name)
                _normalise(info)
                if path is None:
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                    continue
                info.size, info.mode = path.stat().st_size, 0o644
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
    tmp.replace(out)
    return out


def _normalise(info: tarfile.TarInfo) -> None:
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""


def package_model(role: str, out_dir: str | os.PathLike, weights_dir: str | os.PathLike | None = None) -> Path:
    """Build ``<out_dir>/<role>/model.tar.gz`` for catalog role ``role``.

    Code-only when ``weights_dir`` is None (the endpoint downloads ``HF_MODEL_ID`` at start).
    Returns the archive path. Raises KeyError for an unknown role, FileNotFoundError for a
    missing code folder or an empty weights folder.
    """
    folder = spec(role).folder
    return write_tar_gz(entries_for(folder, weights_dir), Path(out_dir) / role / "model.tar.gz")


def archive_digest(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of the archive at ``path``: with the byte-identical archives above, the same
    inputs give the same digest, so it can name the artefact's S3 key (a new artefact, a new key)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(model_id: str, target: Path) -> Path:
    from huggingface_hub import snapshot_download  # needs network; never used by tests

    return Path(snapshot_download(model_id, local_dir=target))


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", required=True)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--weights", help="folder with the model's weights (save_pretrained layout)")
    source.add_argument("--model-id", help="hub id to download and bake in (needs network)")
    parser.add_argument("--out", required=True, help="output .tar.gz path")
    args = parser.parse_args(argv)
    folder = spec(args.role).folder
    if args.model_id:
        with tempfile.TemporaryDirectory() as tmp:
            weights = _download(args.model_id, Path(tmp))
            path = write_tar_gz(entries_for(folder, weights), args.out)
    else:
        path = write_tar_gz(entries_for(folder, args.weights), args.out)
    print(path)
    return path


if __name__ == "__main__":
    main()
