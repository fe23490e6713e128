"""Files out of chunk lists: each leg's chunks grouped per object, the objects' ranks fused.

A leg ranks chunks; a user wants files. So before any cut each leg's list becomes a list of
files, each at the rank of its best chunk in that leg (a file is as relevant as its best
passage: "MaxP"), and the fusion ranks files:

* rrf: sum over legs of weight / (rrf_k + the file's rank in the leg)
  (https://plg.uwaterloo.ca/~gvcormac/cormacksigir09-rrf.pdf);
* convex: sum over legs of weight x the file's best value in the leg, min-max normalised over
  the files the leg returned (Bruch et al., "An Analysis of Fusion Functions for Hybrid
  Retrieval", 2023); a file a leg did not return gets 0 from it.

The passages shown for a file are its chunks that any leg returned, ordered by the same fusion
at chunk level.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from functions.search.legs import Leg
from functions.search.tuning import Tuning


@dataclass(frozen=True)
class FusedFile:
    object_id: int
    score: float
    ranks: dict[str, int]  # leg -> the file's rank in it (1 = first)
    chunks: list[tuple[int, float]]  # (chunk id, chunk-level fused score), best first


def _file_lists(leg: Leg) -> list[tuple[int, float]]:
    """(object id, best value) in the leg's order of their best chunk."""
    seen: dict[int, float] = {}
    for chunk_id, value in leg.ranked:
        seen.setdefault(leg.objects[chunk_id], value)
    return list(seen.items())


def _scores(lists: dict[str, list[tuple[int, float]]], tuning: Tuning) -> dict[int, float]:
    scores: dict[int, float] = {}
    for name, ranked in lists.items():
        weight = tuning.weights.get(name, 1.0)
        if not ranked or weight == 0:
            continue
        if tuning.fusion == "rrf":
            for rank, (item, _) in enumerate(ranked, start=1):
                scores[item] = scores.get(item, 0.0) + weight / (tuning.rrf_k + rank)
        else:
            values = [v for _, v in ranked]
            low, span = min(values), max(values) - min(values)
            for item, value in ranked:
                norm = (value - low) / span if span > 0 else 1.0
                scores[item] = scores.get(item, 0.0) + weight * norm
    return scores


def _order(scores: dict[int, float], lists: dict[str, list[tuple[int, float]]]) -> list[tuple[int, float]]:
    """Best first; ties to the item with the better best rank in any leg, then the lower id."""
    best: dict[int, int] = {}
    for ranked in lists.values():
        for rank, (item, _) in enumerate(ranked, start=1):
            best[item] = min(best.get(item, rank), rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], best[kv[0]], kv[0]))


def fuse_files(legs: Sequence[Leg], limit: int, tuning: Tuning) -> list[FusedFile]:
    """The `limit` best files by the tuning's fusion, each with its chunks from the legs."""
    file_lists = {leg.name: _file_lists(leg) for leg in legs}
    chunk_lists = {leg.name: leg.ranked for leg in legs}
    chunk_scores = _order(_scores(chunk_lists, tuning), chunk_lists)
    object_of = {chunk: obj for leg in legs for chunk, obj in leg.objects.items()}
    chunks_of: dict[int, list[tuple[int, float]]] = {}
    for chunk_id, score in chunk_scores:
        chunks_of.setdefault(object_of[chunk_id], []).append((chunk_id, score))
    ranks = {name: {obj: rank for rank, (obj, _) in enumerate(ranked, start=1)} for name, ranked in file_lists.items()}
    return [
        FusedFile(object_id=obj, score=score, chunks=chunks_of[obj],
                  ranks={name: r[obj] for name, r in ranks.items() if obj in r})
        for obj, score in _order(_scores(file_lists, tuning), file_lists)[:limit]
    ]
