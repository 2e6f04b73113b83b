//! The database schema (versioned migrations) and the per-connection settings.
//!
//! Never edit a migration that has shipped: append a new `M::up` instead.

use std::time::Duration;

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use crate::error::Result;

/// Version 1.
///
/// - `entities`: one row per entity, tombstones included. `state`/`deleted` are what the user
///   sees: the base overlaid with the entity's unsettled changes (outbox rows, dead letters,
///   stored conflicts, in `seq` order). `base_*` is the last state the server acknowledged
///   (`base_state` NULL: the server has never seen this entity; but see version 4).
///   `ts_ms`, `duration_min` and `search_text` are derived from `state` by the functions
///   that write this table (`entity.rs`); they exist so the UI queries are plain
///   integer range scans on an index instead of JSON parsing per row.
/// - `outbox`: changes not yet acknowledged, in `seq` order. `sent` is set once a row has
///   been handed to the network: its change id may be recorded by the server even if the
///   ack was lost, so its content must never change again (no coalescing into it).
/// - `dead_letters`: changes the server refused `max_attempts` times; kept (and still applied
///   locally) until the user retries or discards them. `seq` keeps their overlay order.
/// - `conflicts`: conflicts waiting for the user; `local` is the conflicted change's data,
///   still applied locally (in `seq` order) so the user's edit stays visible.
/// - `meta`: `client_id` and `cursor`.
///
/// The foreign keys make an orphan change (one whose entity row is gone) impossible.
const SCHEMA_V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE entities (
    entity_type  TEXT    NOT NULL CHECK (entity_type IN ('logbook', 'repertoire', 'goals')),
    entity_id    TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    deleted      INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    base_state   TEXT,
    base_version INTEGER NOT NULL DEFAULT 0,
    base_deleted INTEGER NOT NULL DEFAULT 0 CHECK (base_deleted IN (0, 1)),
    ts_ms        INTEGER,
    duration_min INTEGER,
    search_text  TEXT,
    PRIMARY KEY (entity_type, entity_id)
) STRICT;

CREATE INDEX entities_logbook_time ON entities (ts_ms, duration_min)
    WHERE entity_type = 'logbook' AND deleted = 0;

CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id       TEXT    NOT NULL UNIQUE,
    entity_type     TEXT    NOT NULL,
    entity_id       TEXT    NOT NULL,
    operation       TEXT    NOT NULL CHECK (operation IN ('create', 'update', 'delete')),
    data            TEXT    NOT NULL,
    base_version    INTEGER NOT NULL,
    timestamp       INTEGER NOT NULL,
    client_id       TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    in_flight       INTEGER NOT NULL DEFAULT 0 CHECK (in_flight IN (0, 1)),
    sent            INTEGER NOT NULL DEFAULT 0 CHECK (sent IN (0, 1)),
    FOREIGN KEY (entity_type, entity_id) REFERENCES entities (entity_type, entity_id)
) STRICT;

CREATE INDEX outbox_entity ON outbox (entity_type, entity_id, seq);

CREATE TABLE dead_letters (
    change_id     TEXT    PRIMARY KEY NOT NULL,
    seq           INTEGER NOT NULL,
    entity_type   TEXT    NOT NULL,
    entity_id     TEXT    NOT NULL,
    operation     TEXT    NOT NULL CHECK (operation IN ('create', 'update', 'delete')),
    data          TEXT    NOT NULL,
    base_version  INTEGER NOT NULL,
    timestamp     INTEGER NOT NULL,
    client_id     TEXT    NOT NULL,
    attempts      INTEGER NOT NULL,
    error_code    TEXT    NOT NULL,
    error_message TEXT    NOT NULL,
    failed_at     INTEGER NOT NULL,
    FOREIGN KEY (entity_type, entity_id) REFERENCES entities (entity_type, entity_id)
) STRICT;

CREATE INDEX dead_letters_entity ON dead_letters (entity_type, entity_id, seq);

CREATE TABLE conflicts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    seq            INTEGER NOT NULL,
    change_id      TEXT    NOT NULL UNIQUE,
    entity_type    TEXT    NOT NULL,
    entity_id      TEXT    NOT NULL,
    operation      TEXT    NOT NULL CHECK (operation IN ('create', 'update', 'delete')),
    base_version   INTEGER NOT NULL,
    remote_version INTEGER NOT NULL,
    remote_deleted INTEGER NOT NULL CHECK (remote_deleted IN (0, 1)),
    local          TEXT    NOT NULL,
    remote         TEXT    NOT NULL,
    fields         TEXT    NOT NULL,
    timestamp      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    FOREIGN KEY (entity_type, entity_id) REFERENCES entities (entity_type, entity_id)
) STRICT;

CREATE INDEX conflicts_entity ON conflicts (entity_type, entity_id, seq);
"#;

/// Version 2: `outbox.deferrals`, the transient rejections (`rate_limited`, `internal`,
/// `unknown`) of a change. They back off on their own count and never count as attempts:
/// only permanent refusals move a change towards the dead letters. A row put back into the
/// outbox (a retried dead letter, a conflict's resolution) is a new row: both counts start
/// at 0.
const SCHEMA_V2: &str = r#"
ALTER TABLE outbox ADD COLUMN deferrals INTEGER NOT NULL DEFAULT 0;
"#;

/// Version 3.
///
/// - `base_state` on `outbox`, `dead_letters` and `conflicts`: the base state (JSON) the
///   change was made on, i.e. the entity's last acknowledged state when the change was
///   created (`{}` for a create). Edits folded into an unsent change keep the base of that
///   change; an ack that rebases later changes moves theirs to the acknowledged state; a
///   dead letter, a stored conflict and a requeued change carry it along. A conflict is
///   merged against it rather than against the entity's current base, which a live update
///   may have moved to the server's state in the meantime (the other device's edit would
///   then look unchanged and be lost). NULL on rows written before this version: those fall
///   back to the entity's base, as before.
/// - `trash`: the last local state of recently deleted entities (at most
///   [`crate::TRASH_DEPTH`]), for [`crate::Store::undo_delete`]. A delete that cancels an
///   unsent create leaves no other trace of the entity.
const SCHEMA_V3: &str = r#"
ALTER TABLE outbox ADD COLUMN base_state TEXT;
ALTER TABLE dead_letters ADD COLUMN base_state TEXT;
ALTER TABLE conflicts ADD COLUMN base_state TEXT;

CREATE TABLE trash (
    entity_type TEXT    NOT NULL,
    entity_id   TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    deleted_at  INTEGER NOT NULL,
    PRIMARY KEY (entity_type, entity_id)
) STRICT;
"#;

/// Version 4: `entities` rebuilt, same rows and columns plus `base_is_state`.
///
/// - `base_is_state` set: `base_state` is NULL and the base state is `state` itself, the usual
///   case of an entity with nothing unsettled, which used to store the same JSON twice (twice
///   the pages to write during a catch-up). Unset: `base_state` means what it always did
///   (NULL: the server has never seen this entity). Rows whose base text equals their state
///   are converted.
/// - The `entity_type` check is written with `=` rather than `IN (...)`: SQLite evaluates an
///   `IN` of three or more values by building a temporary b-tree, on every write of a row
///   (about a fifth of the time of a catch-up page's upsert).
///
/// Rebuilding a table others reference needs `foreign_keys` OFF (the drop would otherwise
/// fail on the outbox rows): [`migrate`] turns them off around the migrations, and this one
/// checks them before it commits.
const SCHEMA_V4: &str = r#"
CREATE TABLE entities_v4 (
    entity_type   TEXT    NOT NULL CHECK (entity_type = 'logbook' OR entity_type = 'repertoire'
                                          OR entity_type = 'goals'),
    entity_id     TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    deleted       INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    base_state    TEXT,
    base_is_state INTEGER NOT NULL DEFAULT 0
                  CHECK (base_is_state IN (0, 1) AND (base_is_state = 0 OR base_state IS NULL)),
    base_version  INTEGER NOT NULL DEFAULT 0,
    base_deleted  INTEGER NOT NULL DEFAULT 0 CHECK (base_deleted IN (0, 1)),
    ts_ms         INTEGER,
    duration_min  INTEGER,
    search_text   TEXT,
    PRIMARY KEY (entity_type, entity_id)
) STRICT;

INSERT INTO entities_v4 (entity_type, entity_id, state, deleted, base_state, base_is_state,
                         base_version, base_deleted, ts_ms, duration_min, search_text)
SELECT entity_type, entity_id, state, deleted,
       CASE WHEN base_state = state THEN NULL ELSE base_state END,
       base_state IS NOT NULL AND base_state = state,
       base_version, base_deleted, ts_ms, duration_min, search_text
FROM entities;

DROP TABLE entities;
ALTER TABLE entities_v4 RENAME TO entities;

CREATE INDEX entities_logbook_time ON entities (ts_ms, duration_min)
    WHERE entity_type = 'logbook' AND deleted = 0;
"#;

/// Version 5: `outbox.rejected_at`, when the server last refused the change (ms since the
/// epoch, this device's clock; 0: never). A row whose refusal lies in the future of the clock
/// saw the clock jump back: its `next_attempt_at` is due at once rather than when the clock
/// catches up (which could be days, blocking every later change of the entity meanwhile).
const SCHEMA_V5: &str = r#"
ALTER TABLE outbox ADD COLUMN rejected_at INTEGER NOT NULL DEFAULT 0;
"#;

/// Version 6: `outbox.last_error_code`, the protocol code of the server's last refusal of
/// the change (`last_error` keeps the words), so what a refusal means is read from the code
/// and never from the message.
const SCHEMA_V6: &str = r#"
ALTER TABLE outbox ADD COLUMN last_error_code TEXT;
"#;

/// Version 7: the practice timer of this device (`crate::timer`), never synced: one
/// `timer` row while a session exists (`running_since` NULL while paused or stopped,
/// `stopped_at` set once stopped), and its `timer_segments`, one per piece practised (a
/// NULL `title`: time on no piece), each with its active time and last metronome tempo.
const SCHEMA_V7: &str = r#"
CREATE TABLE timer (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    started_at    INTEGER NOT NULL,
    running_since INTEGER,
    stopped_at    INTEGER,
    reminded      INTEGER NOT NULL DEFAULT 0 CHECK (reminded IN (0, 1)),
    current_seq   INTEGER NOT NULL,
    CHECK (stopped_at IS NULL OR running_since IS NULL)
) STRICT;

CREATE TABLE timer_segments (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    title     TEXT,
    composer  TEXT,
    piece_id  TEXT,
    tempo     INTEGER,
    active_ms INTEGER NOT NULL DEFAULT 0 CHECK (active_ms >= 0)
) STRICT;
"#;

/// Version 8: the state each copy this device re-created (an undone delete, a kept edit of
/// an entity deleted elsewhere) grew from, kept past the create's ack: when the copy folds
/// back into the entity it stood in for, only what differs from it joins the entity
/// (`conflict::fold_copy`).
const SCHEMA_V8: &str = r#"
CREATE TABLE recreations (
    entity_type TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    origin      TEXT NOT NULL,
    PRIMARY KEY (entity_type, entity_id)
) STRICT;
"#;

const MIGRATION_SLICE: &[M<'static>] = &[
    M::up(SCHEMA_V1),
    M::up(SCHEMA_V2),
    M::up(SCHEMA_V3),
    M::up(SCHEMA_V4).foreign_key_check(),
    M::up(SCHEMA_V5),
    M::up(SCHEMA_V6),
    M::up(SCHEMA_V7),
    M::up(SCHEMA_V8),
];

/// Every schema version, oldest first.
pub const MIGRATIONS: Migrations<'static> = Migrations::from_slice(MIGRATION_SLICE);

/// Brings the schema to the latest version, with `foreign_keys` off meanwhile (see version 4)
/// and on again afterwards, also when a migration fails.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let migrated = MIGRATIONS.to_latest(conn);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(migrated?)
}

/// How hard SQLite works to make a commit durable (`PRAGMA synchronous`).
///
/// In WAL mode both survive a process kill (SIGKILL): a committed transaction is in the WAL
/// file, and the OS has it even if the process dies. They differ on power loss or an OS
/// crash: with `Normal` the last commits before the loss may roll back; with `Full` (the
/// default) every commit that returned is on the disk. A practice log promises "never lose
/// an entry", and the measured cost of `Full` is small for human-paced edits (see the
/// `local_write` benchmark), so `Full` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    Normal,
    #[default]
    Full,
}

impl Synchronous {
    fn as_pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// Settings of one store connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    pub synchronous: Synchronous,
    /// How long a write waits for another connection's lock before failing with
    /// [`crate::StoreError::Busy`].
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Applies the per-connection PRAGMAs. Public so the benchmark's raw baseline runs with
/// exactly the same settings.
pub fn configure_connection(conn: &Connection, options: &StoreOptions) -> Result<()> {
    // `journal_mode` answers with the mode in force: "wal" on disk, "memory" in memory.
    let _mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", options.synchronous.as_pragma())?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(options.busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_validate() {
        MIGRATIONS.validate().unwrap();
    }

    #[test]
    fn connection_settings_are_applied() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("s.db")).unwrap();
        configure_connection(&conn, &StoreOptions::default()).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
    }
}
