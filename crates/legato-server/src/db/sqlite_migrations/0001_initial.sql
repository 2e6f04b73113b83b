-- Legato sync server, SQLite schema v1. Shipped migrations are never edited: add a new file.
-- Times are integers, milliseconds since the Unix epoch. JSON columns hold serde_json text.

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,        -- UUID v7
    email         TEXT    NOT NULL UNIQUE,             -- normalised: trimmed, lowercase
    password_hash TEXT    NOT NULL,                    -- argon2id PHC string
    seq           INTEGER NOT NULL DEFAULT 0,          -- the user's latest change seq
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE tokens (
    hash        BLOB    NOT NULL PRIMARY KEY,          -- SHA-256 of the bearer token
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_name TEXT,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

CREATE INDEX tokens_by_user ON tokens (user_id);

CREATE TABLE entities (
    user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    entity_type    TEXT    NOT NULL,
    entity_id      TEXT    NOT NULL,
    state          TEXT    NOT NULL,                   -- full state (tombstone: last state)
    version        INTEGER NOT NULL,
    field_versions TEXT    NOT NULL,                   -- {"field": version}
    deleted        INTEGER NOT NULL,
    last_seq       INTEGER NOT NULL,
    last_change_id TEXT    NOT NULL,
    last_client_id TEXT    NOT NULL,
    last_timestamp INTEGER NOT NULL,                   -- edit time of the last change (clamped)
    updated_at     INTEGER NOT NULL,                   -- server time of the last write
    PRIMARY KEY (user_id, entity_type, entity_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX entities_by_seq ON entities (user_id, last_seq);

-- One row per applied change id: exactly-once delivery (rule 1). Conflicts and errors are
-- not recorded, so they are evaluated afresh when retried.
CREATE TABLE changes (
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    change_id   TEXT    NOT NULL,
    entity_type TEXT    NOT NULL,
    entity_id   TEXT    NOT NULL,
    operation   TEXT    NOT NULL,                      -- as pushed
    version     INTEGER NOT NULL,                      -- entity version after the change
    seq         INTEGER NOT NULL,                      -- the change's seq (no-op: entity's)
    touched     TEXT    NOT NULL,                      -- the ack's `data`
    client_id   TEXT    NOT NULL,
    timestamp   INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('applied', 'unchanged')),
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, change_id)
) STRICT, WITHOUT ROWID;
