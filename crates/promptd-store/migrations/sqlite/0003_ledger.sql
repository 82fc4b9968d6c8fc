-- The ledger (issue "release workflow"): every version records why it exists, DELETE moves
-- versions to a trash instead of destroying them, and every change is an event.
-- Append-only: never edit a released migration, add a new one.
ALTER TABLE prompt_versions ADD COLUMN origin TEXT NOT NULL DEFAULT 'create';
ALTER TABLE prompt_versions ADD COLUMN origin_source TEXT;
ALTER TABLE prompt_versions ADD COLUMN message TEXT;
ALTER TABLE prompt_versions ADD COLUMN actor TEXT;
-- SHA-256 of litellm_params; NULL for rows written before this migration (computed on read).
ALTER TABLE prompt_versions ADD COLUMN content_sha256 TEXT;
-- Set when the version is in the trash: reads do not see it, its number stays taken.
ALTER TABLE prompt_versions ADD COLUMN deleted_at BIGINT;
ALTER TABLE prompt_versions ADD COLUMN deleted_by TEXT;
CREATE INDEX prompt_versions_trash ON prompt_versions (deleted_at) WHERE deleted_at IS NOT NULL;

-- One row per change. seq is allocated from ledger_counter at the end of each writing
-- transaction, so numbers increase in commit order: a reader that saw event N saw all before.
CREATE TABLE prompt_events (
    seq            BIGINT PRIMARY KEY,
    prompt_id      TEXT NOT NULL,
    environment    TEXT,
    version        BIGINT,
    kind           TEXT NOT NULL,
    source         TEXT,
    message        TEXT,
    actor          TEXT,
    content_sha256 TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX prompt_events_prompt ON prompt_events (prompt_id, seq);

CREATE TABLE ledger_counter (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq BIGINT NOT NULL
);

-- Versions written before the ledger get one event each, in the order they were written.
INSERT INTO prompt_events (seq, prompt_id, environment, version, kind, actor, created_at)
SELECT ROW_NUMBER() OVER (ORDER BY created_at, prompt_id, environment, version),
       prompt_id, environment, version, 'create', created_by, created_at
FROM prompt_versions;
INSERT INTO ledger_counter (id, last_seq) SELECT 1, COUNT(*) FROM prompt_events;
