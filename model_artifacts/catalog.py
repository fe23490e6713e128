"""What the CDK app deploys, one typed entry per model role.

Public API (read by ``cdk_app``; nothing here imports CDK):

- ``CATALOG: dict[str, ModelSpec]`` - one entry per role in ``constants.MODEL_ROLES``.
- ``ModelSpec`` fields: ``role``, ``folder`` (under model_artifacts/, holds ``code/``),
  ``hub_model_id``, ``licence``, ``framework`` ("huggingface" | "pytorch"),
  ``framework_version`` (PyTorch version of the DLC), ``py_version``, ``transformers_version``
  (None for plain PyTorch), ``instance_type``, ``env`` (container environment: pass as is),
  ``target_invocations_per_instance_per_minute`` (target value of the predefined metric
  ``SageMakerVariantInvocationsPerInstance``), ``min_instances``, ``max_instances``,
  ``max_batch_items`` (requests with more items get 413; the client must split),
  ``client_batch_items`` (items per request the target assumes). ``spec.image_uri(region)``
  resolves the DLC image through the SageMaker SDK's image_uris when the SDK is installed.
- ``spec(role) -> ModelSpec`` - raises KeyError with the known roles.
- ``model_artifacts.package.package_model(role, out_dir, weights_dir=None) -> Path``
  builds the deterministic ``model.tar.gz`` for ``ModelDataUrl`` (code-only without weights:
  the endpoint then downloads ``HF_MODEL_ID`` at start, which needs internet egress or a VPC
  route to huggingface.co from the endpoint).

Framework choice: every production model runs on the Hugging Face PyTorch inference DLC
(transformers 5.5.3, PyTorch 2.6.0, py312; listed in the SDK's image_uri_config/huggingface.json).
It ships transformers 5, so Florence-2, CLIP and Whisper need nothing installed at start; its
toolkit calls our model_fn/input_fn/predict_fn/output_fn from code/inference.py. The tests run
transformers 5.24 locally (the code uses only APIs present in both).

OCR in production: tesseract is not in the DLC images, so role ``ocr`` is a second endpoint
of the Florence-2 generation code with ``DEFAULT_TASK=ocr`` (its ``<OCR_WITH_REGION>`` task);
words carry ``conf: null`` because Florence-2 has no per-word confidence. Locally, role ``ocr``
is tesseract (model_artifacts/ocr_tesseract) - see model_artifacts.local_server.

Autoscaling targets: see ``_target`` below and bench/README.md. No GPU was available when they
were measured, so every target is derived from CPU throughput of the same architecture,
which is a lower bound for the GPU instance types named here; re-measure on the instance
(``python bench/models.py``) and raise them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from functions.common.constants import (
    ENV_MODEL_BATCH_SIZE,
    MODEL_GENERATION,
    MODEL_IMAGE_EMBEDDING,
    MODEL_OCR,
    MODEL_ROLES,
    MODEL_SPEECH,
    MODEL_TEXT_EMBEDDING,
)

# Container environment names read by model_artifacts/_shared/mm_serving.py.
ENV_HF_MODEL_ID = "HF_MODEL_ID"
ENV_HF_MODEL_REVISION = "HF_MODEL_REVISION"
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


@dataclass(frozen=True)
class ModelSpec:
    """One deployable model: where its code is, which container runs it, how it scales."""

    role: str
    folder: str
    hub_model_id: str
    licence: str
    instance_type: str
    target_invocations_per_instance_per_minute: int
    framework: str = "huggingface"
    framework_version: str = HF_PYTORCH_VERSION
    py_version: str = HF_PY_VERSION
    transformers_version: str | None = HF_TRANSFORMERS_VERSION
    min_instances: int = 1
    max_instances: int = 4
    max_batch_items: int = 256
    client_batch_items: int = 32
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """Container environment (model id, batch sizes, role-specific settings)."""
        return {
            ENV_HF_MODEL_ID: self.hub_model_id,
            ENV_MODEL_BATCH_SIZE: str(self.client_batch_items),
            ENV_MAX_BATCH_ITEMS: str(self.max_batch_items),
            # Hugging Face DLC: load our handlers from code/inference.py.
            "SAGEMAKER_PROGRAM": "inference.py",
            **dict(self.extra_env),
        }

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
# batch size each role's client sends (client_batch_items below):
_CPU_ITEMS_PER_S = {
    MODEL_IMAGE_EMBEDDING: 20.18,  # CLIP ViT-B/32 size, batch 32
    MODEL_GENERATION: 0.91,  # reduced Florence-2, 384 px, one 16-token pass, batch 8
    MODEL_SPEECH: 1.05,  # Whisper-tiny size, 5 s clips, 16 tokens, batch 8
    MODEL_TEXT_EMBEDDING: 340.22,  # real all-MiniLM-L6-v2, batch 32
}

CATALOG: dict[str, ModelSpec] = {
    MODEL_IMAGE_EMBEDDING: ModelSpec(
        role=MODEL_IMAGE_EMBEDDING,
        folder="image_embedding",
        hub_model_id="openai/clip-vit-base-patch32",
        licence="MIT",
        instance_type="ml.g5.xlarge",
        # CPU lower bound (ViT-B/32 images at batch 32) x 60 / 32 items per call x 0.5.
        target_invocations_per_instance_per_minute=_target(_CPU_ITEMS_PER_S[MODEL_IMAGE_EMBEDDING], 32),
    ),
    MODEL_GENERATION: ModelSpec(
        role=MODEL_GENERATION,
        folder="generation",
        hub_model_id="florence-community/Florence-2-base",
        licence="MIT",
        instance_type="ml.g5.xlarge",
        client_batch_items=8,
        max_batch_items=64,
        # Two generate passes per image (caption + OD tags); CPU lower bound at batch 8.
        target_invocations_per_instance_per_minute=_target(_CPU_ITEMS_PER_S[MODEL_GENERATION], 8),
        extra_env={ENV_DEFAULT_TASK: "caption"},
    ),
    MODEL_SPEECH: ModelSpec(
        role=MODEL_SPEECH,
        folder="speech",
        hub_model_id="openai/whisper-large-v3-turbo",
        licence="MIT",
        instance_type="ml.g5.xlarge",
        client_batch_items=8,
        max_batch_items=64,
        target_invocations_per_instance_per_minute=_target(_CPU_ITEMS_PER_S[MODEL_SPEECH], 8),
    ),
    MODEL_TEXT_EMBEDDING: ModelSpec(
        role=MODEL_TEXT_EMBEDDING,
        folder="text_embedding",
        hub_model_id="sentence-transformers/all-MiniLM-L6-v2",
        licence="Apache-2.0",
        # MiniLM is small enough for CPU; the target below is measured with the real model.
        instance_type="ml.c6i.xlarge",
        target_invocations_per_instance_per_minute=_target(_CPU_ITEMS_PER_S[MODEL_TEXT_EMBEDDING], 32),
    ),
    MODEL_OCR: ModelSpec(
        role=MODEL_OCR,
        folder="generation",
        hub_model_id="florence-community/Florence-2-base",
        licence="MIT",
        instance_type="ml.g5.xlarge",
        client_batch_items=8,
        max_batch_items=64,
        # One generate pass per image (OCR_WITH_REGION): about twice the caption rate.
        target_invocations_per_instance_per_minute=_target(2 * _CPU_ITEMS_PER_S[MODEL_GENERATION], 8),
        extra_env={ENV_DEFAULT_TASK: "ocr"},
    ),
}
assert set(CATALOG) == set(MODEL_ROLES), "every model role needs a catalog entry"


def spec(role: str) -> ModelSpec:
    """The ModelSpec for ``role``; raises KeyError naming the known roles."""
    try:
        return CATALOG[role]
    except KeyError:
        raise KeyError(f"unknown model role {role!r}; known: {sorted(CATALOG)}") from None
