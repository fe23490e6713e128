"""`python -m local search` says when nothing matched, and when only meaning did."""
from __future__ import annotations

import io

from local.search import print_result


def _file(key: str, legs: dict) -> dict:
    return {"key": key, "modality": "text", "score": 0.01, "ranks": legs, "matched_by": list(legs),
            "passages": [{"where": "", "matched_by": list(legs), "text": "tide table"}]}


def test_an_empty_answer_says_no_match_and_fails():
    out = io.StringIO()
    assert print_result({"results": [], "legs": {"text": "hnsw", "lexical": "bm25"}}, out) == 1
    assert out.getvalue().startswith("no match:")


def test_nearest_chunks_without_the_words_are_announced_as_no_word_match():
    out = io.StringIO()
    assert print_result({"results": [_file("a.txt", {"text": 1})], "legs": {"text": "hnsw"}}, out) == 0
    assert out.getvalue().startswith("no match for these words")


def test_a_word_match_is_listed_without_a_warning():
    out = io.StringIO()
    print_result({"results": [_file("a.txt", {"text": 2, "lexical": 1})], "legs": {"text": "hnsw"}}, out)
    assert "no match" not in out.getvalue() and " 1. a.txt" in out.getvalue()
