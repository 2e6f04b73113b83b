-- Pruning (issue 11; the rule is in docs/server-choices.md, "Pruning"). A change record
-- older than the retention keeps what idempotency needs (its id, content hash, entity,
-- operation, version, seq, status) and drops its payload: `touched` becomes '' and
-- `pruned` 1. A tombstone older than the retention keeps its row (deleted, version, seq,
-- last change) and drops its last state: `state` and `field_versions` become '{}' (a live
-- entity's state is never '{}': every type has a required field). `users.stored_bytes` goes
-- down by the bytes dropped, in the same transaction.
ALTER TABLE changes ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0 CHECK (pruned IN (0, 1));

-- What is left to prune, oldest first; each index shrinks as rows are pruned.
CREATE INDEX changes_to_prune ON changes (recorded_at) WHERE pruned = 0;
CREATE INDEX tombstones_to_prune ON entities (updated_at) WHERE deleted = 1 AND state <> '{}';
