-- V008: object-level vectors ("more like this", recommendations) and taxonomy labels.
--
-- object_vectors: per object, role and model, the sum of its chunk embeddings (cosine is
-- blind to length, so the sum ranks as the mean does), written by store in the transaction that
-- writes the embeddings (functions/taxonomy/store.py refresh_object_vectors) and gone with the
-- object (ON DELETE CASCADE), so it is exact through re-processing, reuse and deletion. Partial
-- HNSW indexes per embedding space, as V001/V004 build them for chunks.
CREATE TABLE pipeline.object_vectors (
    object_id     bigint  NOT NULL REFERENCES pipeline.objects (id) ON DELETE CASCADE,
    model_role    text    NOT NULL,
    model_id      text    NOT NULL,
    model_version text    NOT NULL,
    dimension     integer NOT NULL,
    chunks        integer NOT NULL CHECK (chunks > 0),
    embedding     vector  NOT NULL,
    PRIMARY KEY (object_id, model_role, model_id, model_version),
    CONSTRAINT object_vectors_dimension CHECK (vector_dims(embedding) = dimension)
);
CREATE INDEX object_vectors_text_384_hnsw ON pipeline.object_vectors
    USING hnsw ((embedding::vector(384)) vector_cosine_ops) WITH (m = 32, ef_construction = 128)
    WHERE model_role = 'text_embedding' AND dimension = 384;
CREATE INDEX object_vectors_image_512_hnsw ON pipeline.object_vectors
    USING hnsw ((embedding::vector(512)) vector_cosine_ops) WITH (m = 32, ef_construction = 128)
    WHERE model_role = 'image_embedding' AND dimension = 512;

-- taxonomy_vectors: each label of a taxonomy version embedded by one model (its name and
-- description, sharpened by its examples: functions/taxonomy/taxonomy.py), the other side of
-- the zero-shot comparison. Written once per (taxonomy version, model); never changed.
CREATE TABLE pipeline.taxonomy_vectors (
    taxonomy         text    NOT NULL,
    taxonomy_version text    NOT NULL,
    label            text    NOT NULL,
    model_role       text    NOT NULL,
    model_id         text    NOT NULL,
    model_version    text    NOT NULL,
    dimension        integer NOT NULL,
    embedding        vector  NOT NULL,
    PRIMARY KEY (taxonomy, taxonomy_version, model_role, model_id, model_version, label)
);

-- object_labels: an object's top labels in one taxonomy, with the taxonomy version and the
-- model whose vectors were compared. Relabelling replaces an object's rows for that taxonomy.
CREATE TABLE pipeline.object_labels (
    object_id        bigint   NOT NULL REFERENCES pipeline.objects (id) ON DELETE CASCADE,
    taxonomy         text     NOT NULL,
    taxonomy_version text     NOT NULL,
    model_role       text     NOT NULL,
    label            text     NOT NULL,
    path             text[]   NOT NULL,   -- the label and its ancestors, root first
    score            real     NOT NULL,   -- cosine similarity of the object's and the label's vectors
    rank             smallint NOT NULL CHECK (rank >= 1),
    model_id         text     NOT NULL,
    model_version    text     NOT NULL,
    labelled_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (object_id, taxonomy, model_role, label)
);
CREATE INDEX object_labels_label ON pipeline.object_labels (taxonomy, label, object_id);
