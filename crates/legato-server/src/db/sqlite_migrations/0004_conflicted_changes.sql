-- Schema v4: a change id answered `conflict` keeps that answer. The device that got it
-- settles the conflict under a new change id; if the conflicted change were evaluated
-- afresh when sent again (by a copy of that device's data dir, or after a lost answer) and
-- applied, its edit would apply twice: an increment counted twice. A repeat with the same
-- data (`data_hash`: `apply::content_hash` with the base version left out, since a later
-- change's base moves when an earlier one is acknowledged) is answered `conflict` again,
-- against the current state; other data under the id is refused with `change_id_reused`.

CREATE TABLE conflicted_changes (
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    change_id   TEXT    NOT NULL,
    data_hash   BLOB    NOT NULL CHECK (length(data_hash) = 32),
    fields      TEXT    NOT NULL,                      -- the conflict's fields, a JSON array
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, change_id)
) STRICT, WITHOUT ROWID;
