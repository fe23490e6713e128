"""The lexical leg's BM25 in PostgreSQL against a reference implementation (bm25s, Lucene's
variant), on a small corpus, and after every way rows change: re-processing, reuse's copy,
deletion. Rankings come from PostgreSQL (functions/search/lexical.py over V006's postings);
the reference is given the very lexemes PostgreSQL's 'english' configuration produced."""
from __future__ import annotations

import bm25s
import numpy as np
import pytest

from functions.common.constants import DB_SCHEMA
from functions.search.filters import Filters, Scope
from functions.search.lexical import TEXT_SEARCH_CONFIG, Bm25, lexical

S = DB_SCHEMA
BUCKET = "bm25-bucket"
# Short abstracts on overlapping topics, of unequal length: idf, saturation and length
# normalisation all move the ranking. "zeolite" occurs once, in one long text.
CORPUS = {
    "a.txt": "Vitamin D deficiency is common in older adults and is associated with bone loss.",
    "b.txt": "Bone density declines with age; calcium and vitamin D supplements slow the decline in older women.",
    "c.txt": "Statins lower cholesterol. Cholesterol lowering reduces cardiovascular events in adults at risk.",
    "d.txt": ("A randomised trial of exercise in older adults measured bone density, muscle strength, balance, "
              "falls and fractures over two years; exercise improved balance and reduced falls, but bone "
              "density did not change. Adverse events were rare. A zeolite supplement arm was stopped early."),
    "e.txt": "Cholesterol, cholesterol, cholesterol: dietary cholesterol has little effect on blood cholesterol.",
    "f.txt": "Sleep duration and cardiovascular risk: short sleep is associated with hypertension in adults.",
    "g.txt": "Calcium intake and kidney stones in women.",
    "h.txt": "The effect of vitamin D on falls in nursing home residents: a meta-analysis of trials.",
}
QUERIES = ["vitamin D and bone loss in older adults", "cholesterol", "zeolite", "falls and fractures after exercise",
           "kidney stones calcium women", "cardiovascular risk of short sleep"]


def _store(conn, key: str, text: str, chunks: int = 1) -> int:
    object_id = conn.execute(
        f"INSERT INTO {S}.objects (bucket, key, size, modality, pipeline_version, status)"
        " VALUES (%s, %s, 1, 'text', 'v1', 'succeeded') RETURNING id", (BUCKET, key)).fetchone()[0]
    words = text.split()
    step = -(-len(words) // chunks)
    for ordinal in range(chunks):
        conn.execute(f"INSERT INTO {S}.chunks (object_id, ordinal, kind, text) VALUES (%s, %s, 'text', %s)",
                     (object_id, ordinal, " ".join(words[ordinal * step:(ordinal + 1) * step])))
    return object_id


def _tokens(conn) -> dict[int, list[str]]:
    """Chunk id -> its lexemes, each repeated tf times (what PostgreSQL indexed)."""
    rows = conn.execute(f"SELECT ch.id, u.lexeme, cardinality(u.positions) FROM {S}.chunks ch,"
                        " unnest(to_tsvector('english', coalesce(ch.text, ''))) u ORDER BY ch.id, u.lexeme").fetchall()
    tokens: dict[int, list[str]] = {}
    for chunk_id, lexeme, tf in rows:
        tokens.setdefault(chunk_id, []).extend([lexeme] * tf)
    return tokens


def query_lexemes(conn, text: str) -> list[str]:
    """The lexemes the leg looks up for `text` (what the reference BM25 is given)."""
    rows = conn.execute(f"SELECT DISTINCT lexeme FROM unnest(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, %s))"
                        " ORDER BY lexeme", (text,)).fetchall()
    return [r[0] for r in rows]


def _reference(conn, query: str, bm25: Bm25) -> dict[int, float]:
    tokens = _tokens(conn)
    ids = sorted(tokens)
    retriever = bm25s.BM25(k1=bm25.k1, b=bm25.b, method="lucene")
    retriever.index([tokens[i] for i in ids], show_progress=False)
    scores = retriever.get_scores(query_lexemes(conn, query))
    return {i: float(s) for i, s in zip(ids, scores) if s > 0}


def _ours(conn, query: str, bm25: Bm25) -> dict[int, float]:
    return dict(lexical(conn, query, 100, Filters(), Scope(), bm25).ranked)


def _assert_equal(conn, bm25: Bm25 = Bm25()) -> None:
    for query in QUERIES:
        ours, reference = _ours(conn, query, bm25), _reference(conn, query, bm25)
        assert ours.keys() == reference.keys(), query
        np.testing.assert_allclose([ours[i] for i in sorted(ours)], [reference[i] for i in sorted(ours)],
                                   rtol=0, atol=1e-6, err_msg=query)


@pytest.fixture
def conn(migrated_db):
    from functions.common.db import open_connection

    connection = open_connection(migrated_db)
    connection.execute(f"TRUNCATE {S}.objects, {S}.failures RESTART IDENTITY CASCADE")
    with connection.transaction():
        for key, text in CORPUS.items():
            _store(connection, key, text, chunks=2 if key == "d.txt" else 1)
    yield connection
    connection.close()


@pytest.mark.parametrize("bm25", [Bm25(), Bm25(k1=0.9, b=0.4), Bm25(k1=2.0, b=1.0)], ids=str)
def test_scores_equal_the_reference_bm25(conn, bm25):
    _assert_equal(conn, bm25)


def test_statistics_stay_exact_after_reprocessing_reuse_and_deletion(conn):
    # re-processing: store deletes the object version's rows (cascading to chunks) and writes new ones
    with conn.transaction():
        conn.execute(f"DELETE FROM {S}.objects WHERE key = 'd.txt'")
        _store(conn, "d.txt", CORPUS["d.txt"] + " Zeolite again.", chunks=3)
    _assert_equal(conn)
    # reuse: results/reuse.py copies another object's chunks with INSERT ... SELECT
    with conn.transaction():
        copy = conn.execute(f"INSERT INTO {S}.objects (bucket, key, size, modality, pipeline_version, status)"
                            " VALUES (%s, 'copy-of-b.txt', 1, 'text', 'v1', 'succeeded') RETURNING id", (BUCKET,)).fetchone()[0]
        conn.execute(f"INSERT INTO {S}.chunks (object_id, ordinal, kind, text) SELECT %s, ordinal, kind, text"
                     f" FROM {S}.chunks WHERE object_id = (SELECT id FROM {S}.objects WHERE key = 'b.txt')", (copy,))
    _assert_equal(conn)
    # deletion, and a rolled-back write that must leave no trace
    conn.execute(f"DELETE FROM {S}.objects WHERE key IN ('a.txt', 'e.txt')")
    with pytest.raises(RuntimeError), conn.transaction():
        _store(conn, "never.txt", "zeolite zeolite zeolite cholesterol")
        raise RuntimeError("the store step failed after writing")
    _assert_equal(conn)
    postings, counted = conn.execute(
        f"SELECT (SELECT count(*) FROM {S}.chunk_terms),"
        f" (SELECT count(*) FROM {S}.chunks ch, unnest(to_tsvector('english', coalesce(ch.text, ''))))").fetchone()
    assert postings == counted
    assert conn.execute(f"SELECT sum(chunks) FROM {S}.text_stats").fetchone()[0] == len(_tokens(conn))
    df = dict(conn.execute(f"SELECT lexeme, sum(df) FROM {S}.term_df GROUP BY lexeme HAVING sum(df) <> 0").fetchall())
    assert df == dict(conn.execute(f"SELECT lexeme, count(*) FROM {S}.chunk_terms GROUP BY lexeme").fetchall())


def test_a_rare_word_decides_the_ranking_where_the_old_full_text_leg_missed_it(conn):
    # Given many short texts about older adults and one long text that alone names "zeolite"
    with conn.transaction():
        for i in range(30):
            _store(conn, f"cohort-{i:02d}.txt", f"Older adults in cohort {i}: outcomes of older adults after one year.")
    query = "zeolite in older adults"

    def key(chunk_id: int) -> str:
        return conn.execute(f"SELECT o.key FROM {S}.chunks ch JOIN {S}.objects o ON o.id = ch.object_id"
                            " WHERE ch.id = %s", (chunk_id,)).fetchone()[0]

    # The leg before V006 (ts_rank_cd over an OR of the query's words, every-word matches first)
    # ranks a short text full of the common words first: the corpus shows the point
    old = conn.execute(
        "SELECT ch.id FROM pipeline.chunks ch, (SELECT plainto_tsquery('english', %(q)s) AS a,"
        " replace(plainto_tsquery('english', %(q)s)::text, ' & ', ' | ')::tsquery AS o) q"
        " WHERE to_tsvector('english', ch.text) @@ q.o ORDER BY (to_tsvector('english', ch.text) @@ q.a) DESC,"
        " ts_rank_cd(to_tsvector('english', ch.text), q.o, 1) DESC, ch.id LIMIT 1", {"q": query}).fetchone()[0]
    assert key(old) != "d.txt"
    # BM25 weighs the rare word for what it is worth
    assert key(lexical(conn, query, 10).ranked[0][0]) == "d.txt"


@pytest.mark.parametrize("query", QUERIES)
def test_reading_the_rarest_lexemes_first_keeps_the_exact_top_and_exact_scores(conn, query):
    # Given look-ups that cost nothing: only the rarest lexeme's postings are read in full
    bm25 = Bm25(lookup_cost=0, exact_top=3)
    leg = lexical(conn, query, 100, bm25=bm25)
    reference = _reference(conn, query, bm25)
    truth = sorted(reference, key=lambda i: (-reference[i], i))
    # Then the scores it returns are BM25's, and its first three ranks are the reference's
    # (the candidates proved them, or the leg read every posting: leg.method says which)
    assert leg.method in {"bm25", "bm25-rare-first", "bm25-all-postings"}
    for chunk_id, score in leg.ranked:
        assert score == pytest.approx(reference[chunk_id], abs=1e-6)
    assert [i for i, _ in leg.ranked[:3]] == truth[:3]
    if leg.method == "bm25-all-postings":
        assert [i for i, _ in leg.ranked] == truth


def test_the_rare_first_path_is_taken_when_the_rare_words_decide(conn):
    with conn.transaction():
        for i in range(30):
            _store(conn, f"cohort-{i:02d}.txt", f"Older adults in cohort {i}: outcomes of older adults after one year.")
    leg = lexical(conn, "zeolite older adults", 1, bm25=Bm25(lookup_cost=0, exact_top=1))
    assert leg.method == "bm25-rare-first"
    assert leg.ranked[0][1] == pytest.approx(_reference(conn, "zeolite older adults", Bm25())[leg.ranked[0][0]], abs=1e-6)


def test_filters_choose_what_is_returned_not_the_statistics(conn):
    everything = dict(lexical(conn, "vitamin D", 100).ranked)
    only_h = lexical(conn, "vitamin D", 100, Filters(key_prefix="h.")).ranked
    assert len(only_h) == 1 and only_h[0][1] == pytest.approx(everything[only_h[0][0]], abs=1e-9)


class _Counting:
    """The connection, counting the statements the leg runs (which of its forms answered)."""

    def __init__(self, conn) -> None:
        self.conn, self.sql = conn, []

    def execute(self, sql, params=None):
        self.sql.append(sql)
        return self.conn.execute(sql, params)

    @property
    def pooled(self) -> list[bool]:
        """Per statement after the statistics: whether it was the pooled form (bm25_sql)."""
        return ["coalesce((" in sql for sql in self.sql[1:]]


def _other_bucket(conn, texts: list[str]) -> None:
    with conn.transaction():
        for i, text in enumerate(texts):
            object_id = _store(conn, f"other-{i}.txt", text)
            conn.execute(f"UPDATE {S}.objects SET bucket = 'other-bucket' WHERE id = %s", (object_id,))


def _truth_in_our_bucket(conn, query: str) -> tuple[list[int], dict[int, float]]:
    reference = _reference(conn, query, Bm25())
    ours = {cid for (cid,) in conn.execute(
        f"SELECT ch.id FROM {S}.chunks ch JOIN {S}.objects o ON o.id = ch.object_id WHERE o.bucket = %s", (BUCKET,))}
    return sorted((i for i in reference if i in ours), key=lambda i: (-reference[i], i)), reference


def test_a_scope_that_leaves_out_the_best_chunks_still_gets_its_exact_top(conn):
    # Given chunks in another bucket that hold "cholesterol" far more often than ours
    _other_bucket(conn, ["cholesterol " * (6 + i) + "lipid panel" for i in range(6)])
    truth, reference = _truth_in_our_bucket(conn, "cholesterol")
    everything = sorted(reference, key=lambda i: (-reference[i], i))
    assert not set(everything[:4]) & set(truth)  # the pool of 2 x 2 holds none of ours
    # When the caller may read our bucket only
    counting = _Counting(conn)
    leg = lexical(counting, "cholesterol", 2, scope=Scope(buckets=(BUCKET,)))
    # Then the pool (ranked before the scope) had none that pass, so the leg filtered first:
    # statistics, the pool, the filtered statement; and it returns our two best, exactly
    assert counting.pooled == [True, False]
    assert [i for i, _ in leg.ranked] == truth[:2]
    assert [s for _, s in leg.ranked] == pytest.approx([reference[i] for i in truth[:2]], abs=1e-6)


def test_a_pool_with_enough_chunks_in_scope_answers_alone_and_exactly(conn):
    # Given two chunks in another bucket among the best for "cholesterol", and more of ours
    _other_bucket(conn, ["cholesterol " * 8 + "lipid panel", "cholesterol " * 9 + "lipid panel"])
    with conn.transaction():
        for i in range(4):
            _store(conn, f"diet-{i}.txt", f"Dietary cholesterol in cohort {i} and its effect on blood lipids.")
    truth, reference = _truth_in_our_bucket(conn, "cholesterol")
    everything = sorted(reference, key=lambda i: (-reference[i], i))
    assert set(everything[:6]) - set(truth) and len(set(everything[:6]) & set(truth)) >= 3
    # When our bucket's caller asks for 3 (a pool of 6: some of it out of scope)
    counting = _Counting(conn)
    leg = lexical(counting, "cholesterol", 3, scope=Scope(buckets=(BUCKET,)))
    # Then the pool answered (statistics and one statement) with our three best, exactly
    assert counting.pooled == [True]
    assert [i for i, _ in leg.ranked] == truth[:3]
    assert [s for _, s in leg.ranked] == pytest.approx([reference[i] for i in truth[:3]], abs=1e-6)


@pytest.mark.parametrize("query", QUERIES)
def test_the_pooled_and_the_filtered_first_forms_give_the_same_ranking(conn, query):
    # Given a bucket scope (pooled) and a filter every object passes (filtered first)
    pooled = _Counting(conn)
    by_scope = lexical(pooled, query, 4, scope=Scope(buckets=(BUCKET,)))
    by_filter = lexical(conn, query, 4, Filters(pipeline_version="v1"), Scope(buckets=(BUCKET,)))
    # Then both give the same chunks, order and scores; the pooled form ran without a second try
    assert [i for i, _ in by_scope.ranked] == [i for i, _ in by_filter.ranked]
    assert [s for _, s in by_scope.ranked] == pytest.approx([s for _, s in by_filter.ranked], abs=1e-9)
    assert by_scope.method == by_filter.method
    assert pooled.pooled == ([True] if by_scope.method != "bm25-all-postings" else [True, True])
