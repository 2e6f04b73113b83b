-- Per-user storage quota (issue 11): the bytes an account stores, kept up to date by every
-- write: the JSON text of its entities' states and of its change records' `touched`.
ALTER TABLE users ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;

UPDATE users SET stored_bytes =
    coalesce((SELECT sum(length(CAST(state AS BLOB))) FROM entities WHERE user_id = users.id), 0)
  + coalesce((SELECT sum(length(CAST(touched AS BLOB))) FROM changes WHERE user_id = users.id), 0);
