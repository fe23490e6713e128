"""functions/search/fusion.py: chunks grouped per file before the cut, then the files' ranks fused."""
from __future__ import annotations

import pytest

from functions.search.fusion import fuse_files
from functions.search.legs import Leg
from functions.search.tuning import Tuning

# chunk -> object: object 10 has chunks 1, 2, 3 (a long file), object 20 chunk 4, 30 chunk 5, 40 chunk 6
OBJECTS = {1: 10, 2: 10, 3: 10, 4: 20, 5: 30, 6: 40}


def leg(name: str, ranked: list[tuple[int, float]]) -> Leg:
    return Leg(name, ranked, "test", {c: OBJECTS[c] for c, _ in ranked})


def test_a_long_file_counts_once_so_other_files_fill_the_answer():
    # A long file's three chunks top the text leg: as chunks they would take three of three places
    text = leg("text", [(1, 0.9), (2, 0.89), (3, 0.88), (4, 0.5), (5, 0.4)])
    files = fuse_files([text], 3, Tuning())
    assert [f.object_id for f in files] == [10, 20, 30]
    assert [c for c, _ in files[0].chunks] == [1, 2, 3]  # its passages, best first
    assert files[1].ranks == {"text": 2}


def test_reciprocal_rank_fusion_of_file_ranks_rewards_agreement_between_legs():
    text = leg("text", [(1, 0.9), (4, 0.8), (5, 0.7)])
    lexical = leg("lexical", [(5, 12.0), (6, 3.0)])
    files = fuse_files([text, lexical], 10, Tuning(rrf_k=60))
    assert [f.object_id for f in files] == [30, 10, 20, 40]
    assert files[0].score == pytest.approx(1 / 63 + 1 / 61)
    assert files[0].ranks == {"text": 3, "lexical": 1}


def test_a_legs_weight_scales_its_say():
    text = leg("text", [(1, 0.9), (4, 0.8)])
    lexical = leg("lexical", [(4, 5.0), (1, 1.0)])
    tied = fuse_files([text, lexical], 2, Tuning())
    assert tied[0].score == pytest.approx(tied[1].score)
    lexical_first = fuse_files([text, lexical], 2, Tuning(weights={"text": 1.0, "lexical": 2.0}))
    assert [f.object_id for f in lexical_first] == [20, 10]


def test_convex_combination_of_min_max_normalised_values():
    text = leg("text", [(1, 0.9), (4, 0.5), (5, 0.1)])  # normalised 1, 0.5, 0
    lexical = leg("lexical", [(5, 10.0), (4, 9.0), (6, 0.0)])  # normalised 1, 0.9, 0
    files = fuse_files([text, lexical], 4, Tuning(fusion="convex", weights={"text": 1.0, "lexical": 0.5}))
    assert {f.object_id: round(f.score, 6) for f in files} == {10: 1.0, 20: 0.95, 30: 0.5, 40: 0.0}
    assert [f.object_id for f in files] == [10, 20, 30, 40]


def test_an_unknown_fusion_or_a_negative_weight_is_refused():
    with pytest.raises(ValueError):
        Tuning(fusion="sum")
    with pytest.raises(ValueError):
        Tuning(weights={"text": -1.0})
