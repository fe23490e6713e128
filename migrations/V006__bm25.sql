-- V006: BM25 ranking for the lexical leg of hybrid search (functions/search/lexical.py), in plain
-- PostgreSQL: Aurora PostgreSQL offers no BM25 index extension (no pg_search, no pg_textsearch),
-- and ts_rank_cd has no inverse document frequency and no length normalisation.
--
-- * chunk_terms: the postings. One row per (lexeme, chunk): the term frequency `tf` and the
--   chunk's length in indexed terms `dl` (denormalised so that scoring a query reads this table's
--   primary key alone).
-- * term_df: each lexeme's document frequency, in the same 16 slots, so that a search knows
--   every query lexeme's idf before it reads a posting (and reads the postings of the rarest
--   lexemes first: functions/search/lexical.py).
-- * text_stats: the number of chunks with terms and their total length (avgdl), in 16 slots
--   that concurrent writers pick by backend pid, so that parallel `store` transactions do not
--   queue on one counter row; a search sums the 16 rows.
--
-- Kept by triggers on chunks, in the writer's own transaction, whatever wrote the rows: store,
-- reuse's copy of another object's chunks, re-processing (delete, then insert) and deletion
-- (ON DELETE CASCADE from objects fires chunks' statement triggers with the cascaded rows).
-- Lexemes are those of to_tsvector('english'): stop words dropped, words stemmed, numbers and
-- codes such as "XK-4471" kept whole and in their parts; tf is the number of positions
-- (to_tsvector keeps at most 256 per lexeme).
CREATE TABLE pipeline.chunk_terms (
    lexeme    text    NOT NULL,
    chunk_id  bigint  NOT NULL,
    object_id bigint  NOT NULL,
    tf        integer NOT NULL CHECK (tf > 0),
    dl        integer NOT NULL CHECK (dl >= tf),
    -- INCLUDE: a query's postings are read by an index-only scan of this key.
    CONSTRAINT chunk_terms_pkey PRIMARY KEY (lexeme, chunk_id) INCLUDE (object_id, tf, dl)
);
-- deleting a chunk finds its postings by chunk id
CREATE INDEX chunk_terms_chunk ON pipeline.chunk_terms (chunk_id);

CREATE TABLE pipeline.term_df (
    lexeme text     NOT NULL,
    slot   smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    df     integer  NOT NULL,
    CONSTRAINT term_df_pkey PRIMARY KEY (lexeme, slot) INCLUDE (df)
);

CREATE TABLE pipeline.text_stats (
    slot   smallint PRIMARY KEY CHECK (slot BETWEEN 0 AND 15),
    chunks bigint   NOT NULL DEFAULT 0,
    terms  bigint   NOT NULL DEFAULT 0
);
INSERT INTO pipeline.text_stats (slot) SELECT generate_series(0, 15);

CREATE FUNCTION pipeline.chunk_terms_maintain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    removed_chunks bigint := 0;
    removed_terms  bigint := 0;
    added_chunks   bigint := 0;
    added_terms    bigint := 0;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE pipeline.chunk_terms, pipeline.term_df;
        UPDATE pipeline.text_stats SET chunks = 0, terms = 0;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        WITH gone AS (
            DELETE FROM pipeline.chunk_terms t USING old_chunks o WHERE t.chunk_id = o.id
            RETURNING t.chunk_id, t.lexeme, t.dl
        ), per_chunk AS (SELECT DISTINCT chunk_id, dl FROM gone
        ), df AS (
            -- lexemes in a fixed order: concurrent writers lock their rows in the same order
            INSERT INTO pipeline.term_df AS d (lexeme, slot, df)
            SELECT lexeme, pg_backend_pid() % 16, -count(*) FROM gone GROUP BY lexeme ORDER BY lexeme
            ON CONFLICT (lexeme, slot) DO UPDATE SET df = d.df + excluded.df
        )
        SELECT count(*), coalesce(sum(dl), 0) INTO removed_chunks, removed_terms FROM per_chunk;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        WITH terms AS (
            SELECT n.id AS chunk_id, n.object_id, u.lexeme, cardinality(u.positions) AS tf
            FROM new_chunks n, unnest(to_tsvector('english'::regconfig, coalesce(n.text, ''))) u
        ), lengths AS (
            SELECT chunk_id, sum(tf)::integer AS dl FROM terms GROUP BY chunk_id
        ), added AS (
            INSERT INTO pipeline.chunk_terms (lexeme, chunk_id, object_id, tf, dl)
            SELECT t.lexeme, t.chunk_id, t.object_id, t.tf, l.dl FROM terms t JOIN lengths l USING (chunk_id)
        ), df AS (
            INSERT INTO pipeline.term_df AS d (lexeme, slot, df)
            SELECT lexeme, pg_backend_pid() % 16, count(*) FROM terms GROUP BY lexeme ORDER BY lexeme
            ON CONFLICT (lexeme, slot) DO UPDATE SET df = d.df + excluded.df
        )
        SELECT count(*), coalesce(sum(dl), 0) INTO added_chunks, added_terms FROM lengths;
    END IF;
    IF added_chunks <> removed_chunks OR added_terms <> removed_terms THEN
        UPDATE pipeline.text_stats
           SET chunks = chunks + added_chunks - removed_chunks, terms = terms + added_terms - removed_terms
         WHERE slot = pg_backend_pid() % 16;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER chunk_terms_insert AFTER INSERT ON pipeline.chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION pipeline.chunk_terms_maintain();
CREATE TRIGGER chunk_terms_delete AFTER DELETE ON pipeline.chunks
    REFERENCING OLD TABLE AS old_chunks FOR EACH STATEMENT EXECUTE FUNCTION pipeline.chunk_terms_maintain();
CREATE TRIGGER chunk_terms_update AFTER UPDATE ON pipeline.chunks
    REFERENCING OLD TABLE AS old_chunks NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION pipeline.chunk_terms_maintain();
CREATE TRIGGER chunk_terms_truncate AFTER TRUNCATE ON pipeline.chunks
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline.chunk_terms_maintain();

-- The chunks already stored: an UPDATE that changes nothing fires the update trigger with
-- every row as both old and new, which indexes them (there are no postings to remove yet).
UPDATE pipeline.chunks SET text = text;

-- The expression index of V003 served ts_rank_cd's leg; BM25 reads the postings instead.
DROP INDEX pipeline.chunks_text_search_gin;
