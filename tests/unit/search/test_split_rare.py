"""How many of a query's rarest lexemes the lexical leg reads in full (lexical.split_rare)."""
from __future__ import annotations

import pytest

from functions.search.lexical import idf, split_rare

N = 10_000.0


def _work(terms, k, lookup_cost=1.0):
    read = sum(df for _, df in terms[:k])
    return read + lookup_cost * min(read, N) * (len(terms) - k)


def test_a_rare_decisive_word_is_read_alone_and_the_common_ones_looked_up():
    terms = [("zeolite", 150.0), ("older", 8000.0), ("adults", 9000.0)]
    assert split_rare(terms, N, 1.0, limit=100) == 1


def test_the_rare_words_must_give_enough_candidates_for_the_limit():
    # one chunk holds the rarest word: reading it alone could not fill a limit of 100
    terms = [("zeolite", 1.0), ("catalyst", 400.0), ("adults", 7000.0)]
    assert split_rare(terms, N, 1.0, limit=100) >= 2


def test_words_all_common_are_read_in_full_rather_than_looked_up_per_candidate():
    terms = [("kakakakax", 9999.0), ("wivantorshix", 10000.0)]
    assert split_rare(terms, N, 1.0, limit=100) == len(terms)


def test_common_words_that_could_outscore_the_rare_ones_are_read_too():
    # "fekakakax" (idf 0.40) could lift a chunk without the rare words above one holding
    # "lofevankax" once: candidates from the rare words alone could not prove the top
    terms = [("vannushishix", 1.0), ("lofevankax", 61.0), ("gon", 500.0), ("fekakakax", 6680.0)]
    k = split_rare(terms, N, 1.0, limit=10)
    assert sum(idf(N, df) for _, df in terms[k:]) <= 0.2 * idf(N, terms[k - 1][1])


@pytest.mark.parametrize("terms", [
    [("a", 5.0), ("b", 50.0), ("c", 5000.0), ("d", 9000.0)],
    [("a", 3000.0), ("b", 3000.0), ("c", 3000.0)],
    [("a", 1.0)],
])
def test_the_choice_never_estimates_more_work_than_reading_every_posting(terms):
    k = split_rare(terms, N, 1.0, limit=100)
    assert 1 <= k <= len(terms)
    assert _work(terms, k) <= _work(terms, len(terms))
