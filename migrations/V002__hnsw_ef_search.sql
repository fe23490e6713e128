-- HNSW search breadth for every new session of this database.
-- pgvector's default (hnsw.ef_search = 40) gave recall@10 0.951 at 100k x 384 vectors, right on
-- our 0.95 floor; 64 gives 0.973 with p95 4.7 ms on the same index (bench/README.md, "Vector search").
DO $$ BEGIN
    EXECUTE format('ALTER DATABASE %I SET hnsw.ef_search = 64', current_database());
END $$;
