-- Legato sync server, PostgreSQL schema v1: what SQLite's migrations 1 to 7 built, in one.
-- Shipped migrations are never edited: add a new file (and a line in postgres.rs).
-- Times are bigint milliseconds since the Unix epoch. JSON columns are text holding
-- serde_json's text as written (not jsonb: catch-up sends it as is, and `stored_bytes`
-- counts its bytes exactly as the SQLite backend does). The database must be UTF8.

CREATE TABLE users (
    id            text   NOT NULL PRIMARY KEY,          -- UUID v7
    email         text   NOT NULL UNIQUE,               -- normalised: trimmed, lowercase
    password_hash text   NOT NULL,                      -- argon2id PHC string
    seq           bigint NOT NULL DEFAULT 0,            -- the user's latest change seq
    created_at    bigint NOT NULL,
    -- JSON bytes of the user's entity states and change records' `touched` (the quota).
    stored_bytes  bigint NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
    hash         bytea  NOT NULL PRIMARY KEY CHECK (length(hash) = 32), -- SHA-256 of the token
    id           text   NOT NULL UNIQUE,                -- public id (GET /api/devices)
    user_id      text   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_name  text,
    client_id    text,                                  -- of the last hello with the token
    created_at   bigint NOT NULL,
    last_used_at bigint NOT NULL,
    revoked_at   bigint
);

CREATE INDEX tokens_by_user ON tokens (user_id);

CREATE TABLE entities (
    user_id        text    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    entity_type    text    NOT NULL,
    entity_id      text    NOT NULL,
    state          text    NOT NULL,                    -- full state (tombstone: last state)
    version        bigint  NOT NULL,
    field_versions text    NOT NULL,                    -- {"field": version}
    deleted        boolean NOT NULL,
    last_seq       bigint  NOT NULL,
    last_change_id text    NOT NULL,
    last_client_id text    NOT NULL,
    last_timestamp bigint  NOT NULL,                    -- edit time of the last change (clamped)
    updated_at     bigint  NOT NULL,                    -- server time of the last write
    PRIMARY KEY (user_id, entity_type, entity_id)
);

CREATE INDEX entities_by_seq ON entities (user_id, last_seq);

-- One row per applied change id, forever (rule 1; pruning drops only `touched`).
CREATE TABLE changes (
    user_id      text    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    change_id    text    NOT NULL,
    entity_type  text    NOT NULL,
    entity_id    text    NOT NULL,
    operation    text    NOT NULL,                      -- as pushed
    version      bigint  NOT NULL,                      -- entity version after the change
    seq          bigint  NOT NULL,                      -- the change's seq (no-op: entity's)
    touched      text    NOT NULL,                      -- the ack's `data` ('' once pruned)
    client_id    text    NOT NULL,
    timestamp    bigint  NOT NULL,
    status       text    NOT NULL CHECK (status IN ('applied', 'unchanged')),
    recorded_at  bigint  NOT NULL,
    content_hash bytea   NOT NULL CHECK (length(content_hash) = 32),
    pruned       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, change_id)
);

-- Change ids answered `conflict` (SQLite migration 4): never pruned, not in the quota.
CREATE TABLE conflicted_changes (
    user_id     text   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    change_id   text   NOT NULL,
    data_hash   bytea  NOT NULL CHECK (length(data_hash) = 32),
    fields      text   NOT NULL,                        -- the conflict's fields, a JSON array
    recorded_at bigint NOT NULL,
    PRIMARY KEY (user_id, change_id)
);

-- What is left to prune, oldest first; each index shrinks as rows are pruned.
CREATE INDEX changes_to_prune ON changes (recorded_at) WHERE NOT pruned;
CREATE INDEX tombstones_to_prune ON entities (updated_at) WHERE deleted AND state <> '{}';
