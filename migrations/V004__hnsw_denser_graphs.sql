-- V004: denser HNSW graphs for the two partial vector indexes of V001: m 32 and
-- ef_construction 128 instead of pgvector's defaults (16, 64). Near-duplicate chunks (pages of
-- a manual that differ by a number, repeated log lines) crowd a sparse graph: with the defaults
-- an index scan at ef_search 1,000 found 97.2 % of the exact top 10 on 100,000 such vectors;
-- figures with these parameters in bench/README.md, "Retrieval" (bench/retrieval.py builds the
-- index from this very statement). Rebuilding blocks writes to the embeddings table while it
-- builds (store retries), once, on deploy. On a table of millions of vectors the build can outlast
-- the migrate function's 15 minutes: there, build the new index by hand first (CREATE INDEX
-- CONCURRENTLY under another name, then swap names) and deploy after.
DROP INDEX pipeline.embeddings_text_384_hnsw;
CREATE INDEX embeddings_text_384_hnsw ON pipeline.embeddings
    USING hnsw ((embedding::vector(384)) vector_cosine_ops) WITH (m = 32, ef_construction = 128)
    WHERE model_role = 'text_embedding' AND dimension = 384;
DROP INDEX pipeline.embeddings_image_512_hnsw;
CREATE INDEX embeddings_image_512_hnsw ON pipeline.embeddings
    USING hnsw ((embedding::vector(512)) vector_cosine_ops) WITH (m = 32, ef_construction = 128)
    WHERE model_role = 'image_embedding' AND dimension = 512;
