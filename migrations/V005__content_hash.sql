-- V005: identical content is processed once per pipeline version (functions/processing/reuse.py).
-- content_sha256: the sha256 of the object's bytes, computed by extract while it downloads them
-- (NULL on rows written before this migration and on failure rows). reused_from: set when store
-- copied this row's chunks, generated outputs and embeddings from another object's succeeded
-- result of the same bytes instead of calling the models again: {"bucket", "key", "version_id"}
-- of that object (by identity, not by id: store replaces an object's rows with new ids when it is
-- processed again). Nullable columns without a default: adding them rewrites no row.
ALTER TABLE pipeline.objects
    ADD COLUMN content_sha256 text CONSTRAINT objects_content_sha256 CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    ADD COLUMN reused_from jsonb CONSTRAINT objects_reused_from CHECK (
        reused_from IS NULL OR (jsonb_typeof(reused_from) = 'object' AND reused_from ? 'bucket' AND reused_from ? 'key'));
-- extract's look-up of an earlier result of the same bytes (reuse.find_source): only succeeded
-- rows can be reused, so only they are indexed.
CREATE INDEX objects_content ON pipeline.objects (content_sha256, pipeline_version) WHERE status = 'succeeded';
