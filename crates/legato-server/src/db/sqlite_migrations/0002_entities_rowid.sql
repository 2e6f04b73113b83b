-- Schema v2: `entities` becomes an ordinary rowid table. As WITHOUT ROWID, every catch-up row
-- found through `entities_by_seq` cost a second descent of the primary-key b-tree by three
-- string keys over ~400-byte rows; now the index leads to the row by its integer rowid. The
-- old key stays as a UNIQUE constraint, so id lookups and `ON CONFLICT` upserts work as before.

CREATE TABLE entities_v2 (
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
    UNIQUE (user_id, entity_type, entity_id)
) STRICT;

-- Copied in catch-up order, so a user's existing rows are read sequentially.
INSERT INTO entities_v2 (user_id, entity_type, entity_id, state, version, field_versions,
                         deleted, last_seq, last_change_id, last_client_id, last_timestamp,
                         updated_at)
SELECT user_id, entity_type, entity_id, state, version, field_versions, deleted, last_seq,
       last_change_id, last_client_id, last_timestamp, updated_at
FROM entities ORDER BY user_id, last_seq;

-- Nothing references `entities`, so dropping it cascades nowhere (its index goes with it).
DROP TABLE entities;
ALTER TABLE entities_v2 RENAME TO entities;

CREATE INDEX entities_by_seq ON entities (user_id, last_seq);
