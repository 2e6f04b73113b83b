-- Records kept after pruning count in the quota, and records of conflict answers are pruned
-- (issue 11; the rule is in docs/server-choices.md, "Pruning" and "Storage quota").
-- A record of a `conflict` answer older than the retention keeps its change id, data hash
-- and time forever (so the answer stays `conflict`) and drops its field names: `fields`
-- becomes '' and `pruned` 1. `users.stored_bytes` now also counts 256 bytes (RECORD_BYTES
-- in db/mod.rs) for every change record and every conflict record, and the field names of
-- the conflict records not pruned.
ALTER TABLE conflicted_changes ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0
    CHECK (pruned IN (0, 1));

CREATE INDEX conflicts_to_prune ON conflicted_changes (recorded_at) WHERE pruned = 0;

UPDATE users SET stored_bytes =
    coalesce((SELECT sum(length(CAST(state AS BLOB))) FROM entities WHERE user_id = users.id), 0)
  + coalesce((SELECT sum(length(CAST(touched AS BLOB)) + 256) FROM changes
              WHERE user_id = users.id), 0)
  + coalesce((SELECT sum(length(CAST(fields AS BLOB)) + 256) FROM conflicted_changes
              WHERE user_id = users.id), 0);
