"""A user's taxonomy as data: labels with descriptions, optional examples and hierarchy.

The file (JSON) is named by the deployment (cdk.json context `taxonomy`: a path in the
repository or an s3:// URI); taxonomies/iab_content_tier1.json ships as the default. Its version
is a digest of what changes labels (ids, names, descriptions, examples, parents), so every label
row names the exact taxonomy it came from, and editing the file yields a new version that
`relabel` applies to stored objects.

    {"name": "iab-content-tier1", "labels": [
        {"id": "sports", "name": "Sports", "description": "football, tennis, ...",
         "examples": ["The striker scored twice ..."], "parent": null}, ...]}
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions.common.constants import MODEL_IMAGE_EMBEDDING

DEFAULT_TAXONOMY = Path(__file__).resolve().parents[2] / "taxonomies" / "iab_content_tier1.json"
# Where a deployed function finds the taxonomy (cdk_app/taxonomy.py sets it to the file's asset).
ENV_TAXONOMY_URI = "TAXONOMY_URI"
# How much a label's examples weigh against its description (few-shot): equal halves.
EXAMPLE_WEIGHT = 1.0


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    examples: tuple[str, ...] = Field(default=(), max_length=50)
    parent: Optional[str] = None


class Taxonomy(BaseModel):
    """A validated taxonomy. Raises pydantic.ValidationError (a ValueError) on a bad file:
    duplicate ids, a parent that is not a label, a cycle."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    labels: tuple[Label, ...] = Field(min_length=1, max_length=5000)

    @model_validator(mode="after")
    def _consistent(self) -> Taxonomy:
        ids = [label.id for label in self.labels]
        if len(set(ids)) != len(ids):
            raise ValueError("label ids must be unique")
        known = set(ids)
        for label in self.labels:
            if label.parent is not None and label.parent not in known:
                raise ValueError(f"label {label.id!r}: parent {label.parent!r} is not a label")
            self.path(label.id)  # raises on a cycle
        return self

    @property
    def version(self) -> str:
        """A digest of everything that decides the labels (not the file's formatting)."""
        canonical = json.dumps([label.model_dump() for label in self.labels], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(f"{self.name}\n{canonical}".encode()).hexdigest()[:16]

    def path(self, label_id: str) -> list[str]:
        """The label and its ancestors, root first."""
        parents = {label.id: label.parent for label in self.labels}
        path: list[str] = []
        at: Optional[str] = label_id
        while at is not None:
            if at in path:
                raise ValueError(f"label {label_id!r}: its parents form a cycle")
            path.append(at)
            at = parents[at]
        return path[::-1]

    def texts(self, role: str) -> list[str]:
        """What is embedded for each label (its name and description), in label order: for the
        image-text model's text tower (CLIP) as a caption of a picture of it."""
        if role == MODEL_IMAGE_EMBEDDING:
            # CLIP reads at most 77 tokens and was trained on captions: the name alone
            return [f"a photo of {label.name.lower()}"[:200] for label in self.labels]
        return [f"{label.name}: {label.description}" if label.description else label.name for label in self.labels]

    def examples(self) -> list[tuple[int, str]]:
        """(label index, example text) for every example: the few-shot side."""
        return [(i, text) for i, label in enumerate(self.labels) for text in label.examples]


def load_taxonomy(source: str | Path | None = None, s3_client: Any = None) -> Taxonomy:
    """The taxonomy at `source` (a path, an s3://bucket/key URI, or None for the default).
    Raises ValueError on an invalid file, OSError / botocore errors when it cannot be read."""
    if source is None or str(source) == "":
        raw = DEFAULT_TAXONOMY.read_bytes()  # the local run and tests (deployed functions get TAXONOMY_URI)
    elif str(source).startswith("s3://"):
        bucket, _, key = str(source)[5:].partition("/")
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        raw = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    else:
        raw = Path(source).read_bytes()
    return Taxonomy.model_validate_json(raw)


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


def label_vectors(taxonomy: Taxonomy, role: str, embed: Any) -> np.ndarray:
    """One unit vector per label (label order) in `role`'s space: its description's embedding,
    moved towards the mean of its examples' embeddings when it has any (few-shot; examples are
    embedded by the text model, so they sharpen labels for text only). `embed(texts)` returns
    one vector per text."""
    vectors = _unit(np.asarray(embed(taxonomy.texts(role)), dtype=np.float64))
    examples = taxonomy.examples()
    if examples and role != MODEL_IMAGE_EMBEDDING:
        found = _unit(np.asarray(embed([text for _, text in examples]), dtype=np.float64))
        owners = np.asarray([i for i, _ in examples])
        for i in set(owners.tolist()):
            centre = _unit(found[owners == i].mean(axis=0))
            vectors[i] = _unit(vectors[i] + EXAMPLE_WEIGHT * centre)
    return vectors
