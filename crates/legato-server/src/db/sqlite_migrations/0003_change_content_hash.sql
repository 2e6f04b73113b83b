-- Schema v3: every recorded change id keeps SHA-256 of its change's content (entity type and
-- id, operation, data, base version; `apply::content_hash`). Rule 1 answers a seen id with
-- the recorded result, but a device restored from a copy of another device's data can send
-- a different change under an id the original already used; without the hash it was
-- answered `duplicate` and dropped. Now a repeat whose hash differs is refused with
-- `change_id_reused`. Rows recorded before this migration have NULL: they match any repeat,
-- as every repeat did before.

ALTER TABLE changes ADD COLUMN content_hash BLOB
    CHECK (content_hash IS NULL OR length(content_hash) = 32);
