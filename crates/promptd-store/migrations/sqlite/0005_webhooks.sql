-- Webhooks (issue 13): registered endpoints, and the durable outbox their messages wait in.
-- Messages for ledger events are inserted by the transaction that writes the events.
-- Append-only: never edit a released migration, add a new one.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    -- 'whsec_' + base64 of the signing key: needed in clear to sign.
    secret          TEXT NOT NULL,
    -- Subscribed message types, each between commas: ',prompt.create,prompt.update,'.
    event_types     TEXT NOT NULL,
    -- 1 when only the prompts of webhook_prompts are wanted.
    prompt_filter   BIGINT NOT NULL DEFAULT 0,
    description     TEXT,
    created_at      BIGINT NOT NULL,
    created_by      TEXT,
    disabled_at     BIGINT,
    disabled_reason TEXT,
    failing_since   BIGINT
);

CREATE TABLE webhook_prompts (
    webhook_id TEXT NOT NULL,
    prompt_id  TEXT NOT NULL,
    PRIMARY KEY (webhook_id, prompt_id)
);

-- One row per message to one endpoint. state: pending, delivered, failed, disabled.
CREATE TABLE webhook_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      TEXT NOT NULL,
    event_seq       BIGINT,
    event_type      TEXT NOT NULL,
    payload         TEXT,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    lease_owner     TEXT,
    delivered_at    BIGINT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (state, next_attempt_at);
CREATE INDEX webhook_outbox_hook ON webhook_outbox (webhook_id, id);

CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id   BIGINT NOT NULL,
    webhook_id  TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    status      BIGINT,
    response    TEXT,
    error       TEXT,
    worker      TEXT
);
CREATE INDEX webhook_attempts_message ON webhook_attempts (outbox_id, id);
