-- V007: compliance findings (functions/compliance). One row per value of personal data found in a
-- chunk's text (kind 'pii') and per unsafe label on a chunk's image (kind 'moderation'), written
-- by store in the object's transaction and replaced with the object's other rows (ON DELETE
-- CASCADE from objects and chunks). The value itself is never stored: value_hash is an HMAC of it.
CREATE TABLE pipeline.findings (
    id            bigserial PRIMARY KEY,
    object_id     bigint  NOT NULL REFERENCES pipeline.objects (id) ON DELETE CASCADE,
    chunk_id      bigint  NOT NULL REFERENCES pipeline.chunks (id) ON DELETE CASCADE,
    kind          text    NOT NULL CHECK (kind IN ('pii', 'moderation')),
    type          text    NOT NULL,   -- EMAIL_ADDRESS, CREDIT_CARD ... or a moderation label
    score         real    NOT NULL CHECK (score >= 0 AND score <= 1),
    recognizer    text    NOT NULL DEFAULT '',   -- Presidio's recognizer, or the moderation model
    char_start    integer,            -- characters of the chunk's stored text, end exclusive
    char_end      integer,
    page          integer,            -- the chunk's
    time_start    double precision,   -- the chunk's time range (transcripts, video)
    time_end      double precision,
    value_hash    text,               -- HMAC-SHA256 (deployment salt) of the value, 32 hex digits
    metadata      jsonb   NOT NULL DEFAULT '{}'::jsonb,   -- moderation: the detections' boxes
    model_id      text    NOT NULL,
    model_version text    NOT NULL,
    CONSTRAINT findings_offsets CHECK (char_start IS NULL OR (char_start >= 0 AND char_end > char_start)),
    CONSTRAINT findings_pii_where CHECK (kind <> 'pii' OR (char_start IS NOT NULL AND value_hash IS NOT NULL))
);
CREATE INDEX findings_object ON pipeline.findings (object_id);
-- The search filters "contains PII of type X" / "flagged with label Y" (functions/search/filters.py).
CREATE INDEX findings_kind_type ON pipeline.findings (kind, type, object_id);
-- Per object: {"counts": {"pii": {type: n}, "moderation": {label: n}}, "distinct_values": {type: n},
-- "flags": ["pii:EMAIL_ADDRESS", ...], "models": {role: {id, version}}, "unavailable": [roles]}.
-- NULL: the object was not scanned (stored before this migration, or by an execution without the scan step).
ALTER TABLE pipeline.objects ADD COLUMN compliance jsonb;
