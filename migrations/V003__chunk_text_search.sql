-- V003: full-text search over chunk text, the lexical leg of hybrid search
-- (functions/search/core.py fuses it with the vector legs by reciprocal rank fusion).
-- An expression index, not a stored column: no table rewrite, and no change to the rows the
-- other functions read and write. Queries use this very expression (to_tsvector with an explicit
-- configuration: the immutable two-argument form an index accepts) so that the planner picks it.
-- 'english': stop words dropped (PostgreSQL's ranking has no inverse document frequency, so
-- "the" would otherwise match everything), words stemmed; numbers and codes such as "XK-4471"
-- are kept whole and in their parts.
CREATE INDEX chunks_text_search_gin ON pipeline.chunks
    USING gin (to_tsvector('english'::regconfig, coalesce(text, '')));
