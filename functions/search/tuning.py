"""How the search trades recall, quality and latency: one frozen object, defaults measured in bench/.

bench/retrieval.py measures the vector legs' recall against exact search and the latency of the
whole search; bench/search_quality.py chose the fusion on the dev splits of public benchmarks
(bench/README.md has the figures and why).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from functions.search.legs import LEG_IMAGE, LEG_LEXICAL, LEG_TEXT
from functions.search.lexical import Bm25

FUSIONS = ("rrf", "convex")


@dataclass(frozen=True)
class Tuning:
    """exact_max_rows: at most this many rows passing the filters -> a vector leg scans exactly;
    candidates: rows fetched from the HNSW index before the exact re-rank (at least depth);
    ef_search: the index's search breadth (pgvector caps what one scan returns at ef_search on
        versions without iterative scans, so it is kept >= candidates);
    depth: chunks each leg contributes to the fusion (the fusion can only be as good as its
        legs' candidate lists: at least 100);
    fusion: "rrf" (sum of weight / (rrf_k + rank) of the file in each leg) or "convex" (sum of
        weight x the file's best value in each leg, min-max normalised over the leg's list);
    weights: per leg; passages: chunks shown per file; bm25: the lexical leg's parameters.
    """

    exact_max_rows: int = 20_000
    candidates: int = 1000
    ef_search: int = 1000
    depth: int = 100
    fusion: str = "rrf"
    rrf_k: int = 60
    weights: dict[str, float] = field(default_factory=lambda: {LEG_TEXT: 1.0, LEG_IMAGE: 1.0, LEG_LEXICAL: 1.0})
    passages: int = 3
    bm25: Bm25 = field(default_factory=Bm25)

    def __post_init__(self) -> None:
        if self.exact_max_rows < 0 or self.candidates < 1 or self.rrf_k < 1 or self.depth < 1 or self.passages < 1:
            raise ValueError(f"invalid search tuning {self}")
        if not 1 <= self.ef_search <= 1000:  # pgvector's hnsw.ef_search range
            raise ValueError("ef_search must be 1..1000")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("leg weights must not be negative")
