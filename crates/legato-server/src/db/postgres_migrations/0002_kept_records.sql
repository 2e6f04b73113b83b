-- SQLite migration 8: records kept after pruning count in the quota, and records of
-- conflict answers are pruned (docs/server-choices.md, "Pruning" and "Storage quota"). A
-- pruned conflict record keeps its change id, data hash and time forever and drops its
-- field names (`fields` = '', `pruned`). `users.stored_bytes` now also counts 256 bytes
-- (RECORD_BYTES in db/mod.rs) for every change record and every conflict record, and the
-- field names of the conflict records not pruned.
ALTER TABLE conflicted_changes ADD COLUMN pruned boolean NOT NULL DEFAULT false;

CREATE INDEX conflicts_to_prune ON conflicted_changes (recorded_at) WHERE NOT pruned;

UPDATE users SET stored_bytes =
    coalesce((SELECT sum(octet_length(state)) FROM entities WHERE user_id = users.id), 0)
  + coalesce((SELECT sum(octet_length(touched) + 256) FROM changes
              WHERE user_id = users.id), 0)
  + coalesce((SELECT sum(octet_length(fields) + 256) FROM conflicted_changes
              WHERE user_id = users.id), 0);
