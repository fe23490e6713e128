"""Label stored objects with a taxonomy from their stored vectors: nothing is extracted again.

The label texts are embedded once per (taxonomy version, model) by the deployed embedding
models (the same client as the embed step); the comparison itself is SQL over object vectors
(store.label_objects). A dry run only counts (store.plan_relabel).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from functions.common.constants import DB_SCHEMA, MODEL_IMAGE_EMBEDDING, MODEL_TEXT_EMBEDDING
from functions.taxonomy.store import has_label_vectors, label_objects, plan_relabel, save_label_vectors
from functions.taxonomy.taxonomy import Taxonomy, label_vectors

ROLES = (MODEL_TEXT_EMBEDDING, MODEL_IMAGE_EMBEDDING)


def embed_labels(client: Any, taxonomy: Taxonomy, role: str) -> tuple[np.ndarray, dict[str, str]]:
    """The taxonomy's label vectors in `role`'s space and the {"id", "version"} of the model
    that made them. `client`: functions.common.model_client.ModelClient."""
    model: dict[str, str] = {}

    def embed(texts: list[str]) -> list[list[float]]:
        items: list[Any] = [{"text": t} for t in texts] if role == MODEL_IMAGE_EMBEDDING else list(texts)
        result = client.invoke(role, items)
        model.update(result.model)
        return result.outputs

    vectors = label_vectors(taxonomy, role, embed)
    if not model.get("id") or not model.get("version"):
        raise ValueError(f"the {role} model did not say which model it is")
    return vectors, model


def ensure_label_vectors(conn: Any, client: Any, taxonomy: Taxonomy, roles: tuple[str, ...] = ROLES) -> dict[str, dict[str, str]]:
    """Label vectors of `taxonomy` for every role whose model is deployed, embedded and saved
    when missing. Returns role -> model {"id", "version"}."""
    models: dict[str, dict[str, str]] = {}
    for role in roles:
        if not client.available(role):
            continue
        vectors, model = embed_labels(client, taxonomy, role)
        if not has_label_vectors(conn, taxonomy, role, model):
            save_label_vectors(conn, taxonomy, role, model, vectors)
        models[role] = model
    return models


def relabel(conn: Any, client: Any, taxonomy: Taxonomy, dry_run: bool = False) -> dict[str, Any]:
    """Replace every stored object's labels of `taxonomy` with labels of this version, in one
    transaction. Returns the plan's counts, and when not a dry run the rows written and the
    objects that got labels (objects whose vectors came from a model no longer deployed keep
    none: re-process them)."""
    plan = plan_relabel(conn, taxonomy).to_dict()
    if dry_run:
        return {**plan, "dry_run": True}
    with conn.transaction():
        models = ensure_label_vectors(conn, client, taxonomy)
        written = label_objects(conn, taxonomy)
        labelled = conn.execute(f"SELECT count(DISTINCT object_id) FROM {DB_SCHEMA}.object_labels WHERE taxonomy = %s"
                                " AND taxonomy_version = %s", (taxonomy.name, taxonomy.version)).fetchone()[0]
    return {**plan, "dry_run": False, "models": models, "labels_written": written, "objects_labelled": int(labelled)}
