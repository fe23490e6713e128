"""The SQL of object vectors and taxonomy labels (migrations/V008__object_vectors_and_taxonomy.sql).

Everything here runs inside the caller's transaction: store calls refresh_object_vectors and
label_objects in the transaction that writes an object's embeddings, so an object's vectors and
labels are never out of step with its chunks; relabel calls label_objects for stored objects.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from functions.common.constants import DB_SCHEMA
from functions.taxonomy.taxonomy import Taxonomy

S = DB_SCHEMA
TOP_LABELS = 3  # labels kept per object and taxonomy (the best first)


def refresh_object_vectors(conn: Any, object_ids: Sequence[int]) -> int:
    """Recompute the object vectors of `object_ids` from their chunk embeddings (the sum per
    role and model). Returns the rows written."""
    ids = [int(i) for i in object_ids]
    conn.execute(f"DELETE FROM {S}.object_vectors WHERE object_id = ANY(%s)", (ids,))
    cur = conn.execute(
        f"""INSERT INTO {S}.object_vectors (object_id, model_role, model_id, model_version, dimension, chunks, embedding)
            SELECT object_id, model_role, model_id, model_version, dimension, count(*), sum(embedding)
            FROM {S}.embeddings WHERE object_id = ANY(%s)
            GROUP BY object_id, model_role, model_id, model_version, dimension""", (ids,))
    return int(cur.rowcount)


def save_label_vectors(conn: Any, taxonomy: Taxonomy, role: str, model: dict[str, str], vectors: np.ndarray) -> None:
    """The taxonomy's label vectors made by `model` ({"id", "version"}); kept when already there
    (a (taxonomy version, model) pair is computed once and never changes)."""
    from pgvector import Vector

    rows = [(taxonomy.name, taxonomy.version, label.id, role, model["id"], model["version"], len(v), Vector(v.astype(np.float32)))
            for label, v in zip(taxonomy.labels, vectors)]
    with conn.cursor() as cur:
        cur.executemany(
            f"""INSERT INTO {S}.taxonomy_vectors (taxonomy, taxonomy_version, label, model_role, model_id, model_version,
                    dimension, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""", rows)


def has_label_vectors(conn: Any, taxonomy: Taxonomy, role: str, model: dict[str, str]) -> bool:
    row = conn.execute(
        f"SELECT count(*) FROM {S}.taxonomy_vectors WHERE taxonomy = %s AND taxonomy_version = %s AND model_role = %s"
        " AND model_id = %s AND model_version = %s", (taxonomy.name, taxonomy.version, role, model["id"], model["version"])
    ).fetchone()
    return int(row[0]) == len(taxonomy.labels)


# The objects (one model per role: the one with most chunks) whose vectors can be compared with
# this taxonomy version's label vectors: same role, model and dimension.
_TARGETS = f"""SELECT DISTINCT ON (ov.object_id, ov.model_role) ov.object_id, ov.model_role, ov.model_id,
        ov.model_version, ov.dimension, ov.embedding
    FROM {S}.object_vectors ov JOIN {S}.objects o ON o.id = ov.object_id AND o.status = 'succeeded'
    WHERE (%(all)s OR ov.object_id = ANY(%(ids)s))
      AND EXISTS (SELECT 1 FROM {S}.taxonomy_vectors tv WHERE tv.taxonomy = %(taxonomy)s
          AND tv.taxonomy_version = %(version)s AND tv.model_role = ov.model_role AND tv.model_id = ov.model_id
          AND tv.model_version = ov.model_version AND tv.dimension = ov.dimension)
    ORDER BY ov.object_id, ov.model_role, ov.chunks DESC, ov.model_version DESC"""


def label_objects(conn: Any, taxonomy: Taxonomy, object_ids: Optional[Sequence[int]] = None,
                  top: int = TOP_LABELS) -> int:
    """Replace the `taxonomy` labels of `object_ids` (None: every stored object) with their `top`
    labels by cosine similarity of object and label vectors, for every role whose model has label
    vectors of this taxonomy version (save_label_vectors). Returns the label rows written; an
    object without comparable vectors keeps no label of this taxonomy for that role."""
    params = {"all": object_ids is None, "ids": [int(i) for i in object_ids or []], "taxonomy": taxonomy.name,
              "version": taxonomy.version, "top": int(top),
              "paths": json.dumps({label.id: taxonomy.path(label.id) for label in taxonomy.labels})}
    conn.execute(f"DELETE FROM {S}.object_labels WHERE taxonomy = %(taxonomy)s AND (%(all)s OR object_id = ANY(%(ids)s))",
                 params)
    cur = conn.execute(
        f"""INSERT INTO {S}.object_labels (object_id, taxonomy, taxonomy_version, model_role, label, path, score, rank,
                model_id, model_version)
            SELECT t.object_id, %(taxonomy)s, %(version)s, t.model_role, b.label,
                   ARRAY(SELECT jsonb_array_elements_text(%(paths)s::jsonb -> b.label)), b.score, b.rank,
                   t.model_id, t.model_version
            FROM ({_TARGETS}) t CROSS JOIN LATERAL (
                SELECT tv.label, 1 - (tv.embedding <=> t.embedding) AS score,
                       row_number() OVER (ORDER BY tv.embedding <=> t.embedding, tv.label) AS rank
                FROM {S}.taxonomy_vectors tv
                WHERE tv.taxonomy = %(taxonomy)s AND tv.taxonomy_version = %(version)s
                  AND tv.model_role = t.model_role AND tv.model_id = t.model_id
                  AND tv.model_version = t.model_version AND tv.dimension = t.dimension
                ORDER BY tv.embedding <=> t.embedding, tv.label LIMIT %(top)s) b""", params)
    return int(cur.rowcount)


@dataclass
class RelabelPlan:
    """What relabelling stored objects with a taxonomy version would do (a dry run's counts)."""

    taxonomy: str
    version: str
    objects: int = 0  # stored objects with at least one object vector
    labelled_now: int = 0  # of those, objects with labels of this taxonomy (any version)
    at_this_version: int = 0  # of those, objects whose labels are already of this version
    by_model: dict[str, int] = field(default_factory=dict)  # "role model@version" -> objects

    def to_dict(self) -> dict[str, Any]:
        return {"taxonomy": self.taxonomy, "version": self.version, "objects": self.objects,
                "labelled_now": self.labelled_now, "at_this_version": self.at_this_version, "by_model": self.by_model}


def plan_relabel(conn: Any, taxonomy: Taxonomy) -> RelabelPlan:
    plan = RelabelPlan(taxonomy.name, taxonomy.version)
    for role, model_id, version, n in conn.execute(
            f"""SELECT ov.model_role, ov.model_id, ov.model_version, count(DISTINCT ov.object_id)
                FROM {S}.object_vectors ov JOIN {S}.objects o ON o.id = ov.object_id AND o.status = 'succeeded'
                GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""").fetchall():
        plan.by_model[f"{role} {model_id}@{version}"] = int(n)
    plan.objects, plan.labelled_now, plan.at_this_version = conn.execute(
        f"""SELECT count(DISTINCT ov.object_id),
                   count(DISTINCT l.object_id),
                   count(DISTINCT l.object_id) FILTER (WHERE l.taxonomy_version = %(version)s)
            FROM {S}.object_vectors ov JOIN {S}.objects o ON o.id = ov.object_id AND o.status = 'succeeded'
            LEFT JOIN {S}.object_labels l ON l.object_id = ov.object_id AND l.taxonomy = %(taxonomy)s""",
        {"taxonomy": taxonomy.name, "version": taxonomy.version}).fetchone()
    return plan
