"""Labels at ingest: what store does for each object it writes (or copies), in its transaction.

`prepare` runs before store's transaction: it makes sure the label vectors of the deployment's
taxonomy exist for every embedding model deployed (embedding the label texts once per taxonomy
version and model, then only a look-up, cached per container). `label` runs inside the
transaction that wrote the object's embeddings: the object's vectors (the sum of its chunk
embeddings) and its top labels are written with them, so they are never out of step.
"""
from __future__ import annotations

import os
from typing import Any

from functions.common.model_client import ModelRequestError
from functions.common.observability import logger
from functions.taxonomy.relabel import ROLES, embed_labels
from functions.taxonomy.store import has_label_vectors, label_objects, refresh_object_vectors, save_label_vectors
from functions.taxonomy.taxonomy import ENV_TAXONOMY_URI, Taxonomy, load_taxonomy


class Labeller:
    """One per container: the taxonomy (read once) and the (role, model) pairs whose label
    vectors are known to be stored."""

    def __init__(self, taxonomy: Taxonomy | None = None, s3_client: Any = None) -> None:
        self.taxonomy = taxonomy or load_taxonomy(os.environ.get(ENV_TAXONOMY_URI), s3_client=s3_client)
        self._vectors: dict[str, tuple[Any, dict[str, str]]] = {}  # role -> (label vectors, model)

    def prepare(self, conn: Any, client: Any) -> None:
        """Label vectors for every deployed embedding model, embedded once per container and
        saved where the database lacks them (autocommit: each insert stands alone and is
        idempotent, ON CONFLICT DO NOTHING; a look-up per object otherwise)."""
        for role in ROLES:
            if not client.available(role):
                continue
            if role not in self._vectors:
                try:
                    self._vectors[role] = embed_labels(client, self.taxonomy, role)
                except ModelRequestError as exc:
                    # the taxonomy's texts, not the object, are at fault: the object is stored,
                    # unlabelled in this role, and the log says why (fix the file, then relabel)
                    logger.error("taxonomy labels refused by the model", extra={"role": role, "reason": str(exc)})
                    continue
            vectors, model = self._vectors[role]
            if not has_label_vectors(conn, self.taxonomy, role, model):
                save_label_vectors(conn, self.taxonomy, role, model, vectors)

    def label(self, conn: Any, object_id: int) -> int:
        """Inside the writer's transaction: the object's vectors, then its labels (rows written).
        Roles whose model made no label vectors (not deployed, or another version) get none."""
        refresh_object_vectors(conn, [object_id])
        return label_objects(conn, self.taxonomy, [object_id])
