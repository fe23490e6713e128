-- V001: the pipeline's results. Applied by functions/migrate (one transaction per file).
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS pipeline;

-- One row per (object version, pipeline version): the latest outcome.
CREATE TABLE pipeline.objects (
    id               bigserial PRIMARY KEY,
    bucket           text        NOT NULL,
    key              text        NOT NULL,
    version_id       text,                 -- NULL for unversioned buckets
    etag             text,
    size             bigint      NOT NULL,
    modality         text        NOT NULL,
    content_type     text,                 -- what the uploader claimed
    detected_format  text,                 -- what extract found by content
    pipeline_version text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('succeeded', 'failed')),
    metadata         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    unavailable      text[]      NOT NULL DEFAULT '{}',   -- model roles that were not deployed
    timings          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT objects_identity UNIQUE NULLS NOT DISTINCT (bucket, key, version_id, pipeline_version)
);
CREATE INDEX objects_modality_status ON pipeline.objects (modality, status);

-- Chunks / segments of an object: text chunks, pages, time ranges of audio and video.
CREATE TABLE pipeline.chunks (
    id         bigserial PRIMARY KEY,
    object_id  bigint  NOT NULL REFERENCES pipeline.objects (id) ON DELETE CASCADE,
    ordinal    integer NOT NULL,
    kind       text    NOT NULL,   -- image | text | page_text | video_segment | audio_segment | audio_window
    text       text,
    time_start double precision,
    time_end   double precision,
    duration   double precision,
    page       integer,
    metadata   jsonb   NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT chunks_ordinal UNIQUE (object_id, ordinal),
    CONSTRAINT chunks_time CHECK (time_start IS NULL OR time_end >= time_start)
);

-- What the generation model said, about the whole object (chunk_id NULL) or one chunk.
CREATE TABLE pipeline.generated (
    id            bigserial PRIMARY KEY,
    object_id     bigint NOT NULL REFERENCES pipeline.objects (id) ON DELETE CASCADE,
    chunk_id      bigint REFERENCES pipeline.chunks (id) ON DELETE CASCADE,
    task          text   NOT NULL,   -- caption | summarize
    content       jsonb  NOT NULL,   -- {"caption", "tags"} or {"summary", "keywords"}
    model_id      text   NOT NULL,
    model_version text   NOT NULL,
    CONSTRAINT generated_one UNIQUE NULLS NOT DISTINCT (object_id, chunk_id, task)
);

-- Embeddings of chunks. One table for every model: the column has no fixed dimension, and
-- each (model role, dimension) gets its own partial HNSW index over the vector cast to that
-- dimension (pgvector's documented way to index mixed dimensions). A new embedding model is
-- one migration adding one index; queries use the same cast and WHERE so the planner picks it.
CREATE TABLE pipeline.embeddings (
    id            bigserial PRIMARY KEY,
    object_id     bigint  NOT NULL REFERENCES pipeline.objects (id) ON DELETE CASCADE,
    chunk_id      bigint  NOT NULL REFERENCES pipeline.chunks (id) ON DELETE CASCADE,
    model_role    text    NOT NULL,
    model_id      text    NOT NULL,
    model_version text    NOT NULL,
    dimension     integer NOT NULL,
    embedding     vector  NOT NULL,
    CONSTRAINT embeddings_one UNIQUE (chunk_id, model_role),
    CONSTRAINT embeddings_dimension CHECK (vector_dims(embedding) = dimension)
);
-- all-MiniLM-L6-v2 (text_embedding): 384 dimensions, cosine.
CREATE INDEX embeddings_text_384_hnsw ON pipeline.embeddings
    USING hnsw ((embedding::vector(384)) vector_cosine_ops)
    WHERE model_role = 'text_embedding' AND dimension = 384;
-- CLIP ViT-B/32-class image/text space (image_embedding): 512 dimensions, cosine.
CREATE INDEX embeddings_image_512_hnsw ON pipeline.embeddings
    USING hnsw ((embedding::vector(512)) vector_cosine_ops)
    WHERE model_role = 'image_embedding' AND dimension = 512;

-- Why an object version could not be processed (latest failure per version).
CREATE TABLE pipeline.failures (
    id               bigserial PRIMARY KEY,
    bucket           text        NOT NULL,
    key              text        NOT NULL,
    version_id       text,
    pipeline_version text        NOT NULL,
    failed_step      text        NOT NULL,
    error            text        NOT NULL,   -- the exception class name Step Functions saw
    reason           text        NOT NULL,
    at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT failures_identity UNIQUE NULLS NOT DISTINCT (bucket, key, version_id, pipeline_version)
);
