"""What each leg of the search returns, and its names."""
from __future__ import annotations

from dataclasses import dataclass, field

from functions.common.constants import MODEL_IMAGE_EMBEDDING, MODEL_TEXT_EMBEDDING

LEG_TEXT, LEG_IMAGE, LEG_LEXICAL = "text", "image", "lexical"
LEG_OF_ROLE = {MODEL_TEXT_EMBEDDING: LEG_TEXT, MODEL_IMAGE_EMBEDDING: LEG_IMAGE}


@dataclass(frozen=True)
class Leg:
    """One ranked list of chunks, best first: (chunk id, value) where the value is a cosine
    similarity (vector legs) or a BM25 score (lexical); `objects` maps each chunk to its object
    row, so that fusion can rank files. `method` says how it was computed (exact, hnsw,
    hnsw-iterative, hnsw-then-exact, bm25)."""

    name: str
    ranked: list[tuple[int, float]]
    method: str
    objects: dict[int, int] = field(default_factory=dict)
