-- promptd schema v1 (PostgreSQL). Append-only: never edit a released migration, add a new one.
CREATE TABLE prompt_versions (
    id             TEXT PRIMARY KEY,
    prompt_id      TEXT NOT NULL,
    version        BIGINT NOT NULL,
    environment    TEXT NOT NULL,
    created_by     TEXT,
    litellm_params TEXT NOT NULL,
    prompt_info    TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (prompt_id, environment, version)
);
CREATE INDEX prompt_versions_prompt_id ON prompt_versions (prompt_id);

-- The last version handed out per (prompt, environment). Allocating through this row (an
-- upsert that increments it) serialises concurrent writers and never reuses a number while
-- any version of the environment remains.
CREATE TABLE prompt_counters (
    prompt_id    TEXT NOT NULL,
    environment  TEXT NOT NULL,
    last_version BIGINT NOT NULL,
    PRIMARY KEY (prompt_id, environment)
);

CREATE TABLE api_keys (
    token      TEXT PRIMARY KEY,
    key_name   TEXT NOT NULL,
    key_alias  TEXT,
    user_id    TEXT,
    user_role  TEXT NOT NULL,
    metadata   TEXT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    created_by TEXT
);
CREATE UNIQUE INDEX api_keys_alias ON api_keys (key_alias) WHERE key_alias IS NOT NULL;
