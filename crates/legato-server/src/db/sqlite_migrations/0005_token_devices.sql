-- Tokens as devices (issue 11): a public id for `GET /api/devices` and
-- `DELETE /api/devices/{id}` (the hash never leaves the server), the client id of the last
-- WebSocket hello made with the token, and when it was last used (the sliding idle expiry).
-- Tokens issued before this migration get an id now and count as last used when created.
ALTER TABLE tokens ADD COLUMN id TEXT;
ALTER TABLE tokens ADD COLUMN client_id TEXT;
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;

UPDATE tokens SET id = lower(hex(randomblob(16))) WHERE id IS NULL;
UPDATE tokens SET last_used_at = created_at WHERE last_used_at IS NULL;

CREATE UNIQUE INDEX tokens_by_id ON tokens (id);
