//! The [`Store`]: one SQLite connection, opened with the project's settings and migrated.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::Result;
use crate::schema::{StoreOptions, configure_connection};

const CLIENT_ID_KEY: &str = "client_id";
const CURSOR_KEY: &str = "cursor";
/// Which file the store was last opened as (see [`file_identity`]).
const FILE_IDENTITY_KEY: &str = "file_identity";

/// The client-side store: entities with their local and base states, the outbox, dead
/// letters, stored conflicts, the sync cursor and this device's client id.
///
/// Synchronous on purpose: it owns one `rusqlite::Connection` and blocks on disk IO. Async
/// code uses it through [`crate::StoreHandle`], which runs it on a dedicated thread.
///
/// Every write method is one `BEGIN IMMEDIATE` transaction: it either happens entirely or
/// not at all, also across a process kill.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) client_id: String,
}

impl Store {
    /// Opens (creating if needed) the store at `path` with the default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, StoreOptions::default())
    }

    /// Opens the store at `path` with explicit options.
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        let conn = Connection::open(path.as_ref())?;
        let identity = file_identity(path.as_ref());
        Self::from_connection(conn, &options, identity.as_deref())
    }

    /// A private in-memory store (tests, previews).
    pub fn open_in_memory() -> Result<Self> {
        Self::from_connection(
            Connection::open_in_memory()?,
            &StoreOptions::default(),
            None,
        )
    }

    fn from_connection(
        mut conn: Connection,
        options: &StoreOptions,
        identity: Option<&str>,
    ) -> Result<Self> {
        configure_connection(&conn, options)?;
        crate::query::register_functions(&conn)?;
        crate::schema::migrate(&mut conn)?;
        let client_id = ensure_client_id(&mut conn, identity)?;
        crate::outbox::freeze_possibly_sent(&mut conn)?;
        Ok(Store { conn, client_id })
    }

    /// This device's client id: a UUID v7 generated when the store was first created.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The highest server `seq` whose change is durably applied here (0: none yet).
    pub fn cursor(&self) -> Result<u64> {
        read_cursor(&self.conn)
    }

    /// Runs SQLite's `PRAGMA integrity_check`; `Ok("ok")` when the file is sound.
    pub fn integrity_check(&self) -> Result<String> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let lines: Vec<String> = stmt
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(lines.join("\n"))
    }

    /// Copies the write-ahead log back into the database file (`PRAGMA
    /// wal_checkpoint(PASSIVE)`: never waits for readers). [`crate::StoreHandle`] calls it
    /// when idle, so a user's save rarely pays for a checkpoint; SQLite's automatic
    /// checkpoint (every 1000 pages) stays as the bound on the log's size during bursts.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// The raw connection, for read-only diagnostics in tests and tools.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Runs `f` with `PRAGMA synchronous = NORMAL`, then restores the connection's level, also
/// when `f` fails (SQLite refuses to change the level inside a transaction, so the level
/// holds for every commit `f` makes).
///
/// For writes whose loss on a power cut is harmless (see the callers:
/// [`Store::apply_remote_batch`], [`Store::mark_in_flight`]). In WAL mode a commit under
/// `NORMAL` is atomic and survives a process kill; only a power loss or an OS crash may roll
/// back the last such commits. WAL recovery keeps a prefix of the log, so what survives is
/// always a prefix of the commit history: the next `FULL` commit (any local edit) syncs the
/// log, the earlier `NORMAL` frames included, and no `FULL` commit can outlive a `NORMAL`
/// commit made before it.
pub(crate) fn with_relaxed_sync<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> Result<T>,
) -> Result<T> {
    // Cached: this runs for every remote apply and in-flight mark.
    let level: i64 = conn
        .prepare_cached("PRAGMA synchronous")?
        .query_row([], |row| row.get(0))?;
    if level <= 1 {
        // Already OFF or NORMAL.
        return f(conn);
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A panic in `f` (caught further up by `StoreHandle`, which keeps serving) must not
    // leave the connection relaxed either.
    let result = catch_unwind(AssertUnwindSafe(|| f(&mut *conn)));
    // Restored whatever `f` did: the next local edit must be durable again.
    let restored = conn.pragma_update(None, "synchronous", level);
    let value = result.unwrap_or_else(|panic| resume_unwind(panic))?;
    restored?;
    Ok(value)
}

/// Starts a write transaction. `IMMEDIATE` takes the write lock up front, so a
/// read-then-write sequence never fails half-way with `SQLITE_BUSY` on the upgrade.
/// (A function of the connection alone, so `Store` methods can still read `client_id`.)
pub(crate) fn write_tx(conn: &mut Connection) -> Result<Transaction<'_>> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

pub(crate) fn read_meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

pub(crate) fn write_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

pub(crate) fn read_cursor(conn: &Connection) -> Result<u64> {
    match read_meta(conn, CURSOR_KEY)? {
        None => Ok(0),
        Some(text) => text
            .parse()
            .map_err(|_| crate::StoreError::Corrupt(format!("cursor `{text}`"))),
    }
}

/// Moves the cursor forward to `cursor` (never back) inside the caller's transaction.
pub(crate) fn advance_cursor(conn: &Connection, cursor: u64) -> Result<()> {
    if cursor > read_cursor(conn)? {
        write_meta(conn, CURSOR_KEY, &cursor.to_string())?;
    }
    Ok(())
}

/// The client id, generated on first open, and renewed when the database file is a copy.
///
/// PROTOCOL.md 5.1: a client id is never shared by two devices, and a device restored from
/// a copy takes a new one. A copy of a data dir (a restored backup, a cloned machine) holds
/// the same client id as the original, and both would then fold edits into the same unsent
/// change ids and never see each other's live updates. A copy is a different file: the
/// store records [`file_identity`] and, when the file it opens is not the one it recorded,
/// takes a new client id. The changes it inherited are the original's edits, which it may
/// have sent already: they are marked sent (never folded into again; a resend is answered
/// `duplicate`) and keep the original's client id (they are its changes: it never gets
/// them back as updates, and holds them itself). A false alarm (the file moved to another
/// filesystem) only costs a new id.
fn ensure_client_id(conn: &mut Connection, identity: Option<&str>) -> Result<String> {
    let tx = write_tx(conn)?;
    let recorded = read_meta(&tx, FILE_IDENTITY_KEY)?;
    let copied = matches!((identity, recorded.as_deref()), (Some(now), Some(then)) if now != then);
    let id = match read_meta(&tx, CLIENT_ID_KEY)? {
        Some(id) if !copied => id,
        Some(old) => {
            let id = uuid::Uuid::now_v7().to_string();
            write_meta(&tx, CLIENT_ID_KEY, &id)?;
            let inherited = tx.execute("UPDATE outbox SET sent = 1", [])?;
            tracing::warn!(old, new = %id, inherited,
                "this database is a copy of another device's (a restored backup?): new client id");
            id
        }
        None => {
            let id = uuid::Uuid::now_v7().to_string();
            write_meta(&tx, CLIENT_ID_KEY, &id)?;
            id
        }
    };
    if let Some(identity) = identity
        && recorded.as_deref() != Some(identity)
    {
        write_meta(&tx, FILE_IDENTITY_KEY, identity)?;
    }
    tx.commit()?;
    Ok(id)
}

/// What tells this database file from a copy of it: its inode and its birth time where the
/// platform has them (a copy is a new file: a new inode, a new birth time), else the birth
/// time alone. `None` when neither can be read: then copies go undetected.
fn file_identity(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let born = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(format!("ino:{}:born:{}", meta.ino(), born.unwrap_or(0)))
    }
    #[cfg(not(unix))]
    {
        born.map(|born| format!("born:{born}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copied_database_takes_a_new_client_id_and_freezes_what_it_inherited() {
        let dir = tempfile::tempdir().unwrap();
        let (path, copy) = (dir.path().join("a.db"), dir.path().join("copy.db"));
        let original = {
            let mut store = Store::open(&path).unwrap();
            store
                .create(
                    legato_protocol::EntityType::Goals,
                    serde_json::json!({"title": "Scales"})
                        .as_object()
                        .unwrap()
                        .clone(),
                    1,
                )
                .unwrap();
            store.client_id().to_owned()
        };
        std::fs::copy(&path, &copy).unwrap();
        assert_eq!(Store::open(&path).unwrap().client_id(), original);
        let copied = Store::open(&copy).unwrap();
        assert_ne!(
            copied.client_id(),
            original,
            "the copy has an id of its own"
        );
        let (sent, client): (bool, String) = copied
            .conn
            .query_row("SELECT sent, client_id FROM outbox", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert!(sent, "an inherited change is never folded into");
        assert_eq!(client, original, "still the original's change");
        let again = copied.client_id().to_owned();
        drop(copied);
        assert_eq!(
            Store::open(&copy).unwrap().client_id(),
            again,
            "kept from now on"
        );
        assert_eq!(Store::open(&path).unwrap().client_id(), original);
    }

    #[test]
    fn client_id_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let first = Store::open(&path).unwrap().client_id().to_owned();
        assert_eq!(uuid::Uuid::parse_str(&first).unwrap().get_version_num(), 7);
        let again = Store::open(&path).unwrap();
        assert_eq!(again.client_id(), first);
        assert_eq!(again.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn relaxed_sync_is_restored_after_an_error_and_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("store.db")).unwrap();
        let level = |conn: &Connection| -> i64 {
            conn.pragma_query_value(None, "synchronous", |row| row.get(0))
                .unwrap()
        };
        let inside = with_relaxed_sync(&mut store.conn, |conn| Ok(level(conn))).unwrap();
        assert_eq!(inside, 1, "NORMAL inside");
        assert_eq!(level(&store.conn), 2, "FULL after");
        let failed: Result<()> = with_relaxed_sync(&mut store.conn, |conn| {
            let tx = write_tx(conn)?;
            tx.execute("INSERT INTO no_such_table VALUES (1)", [])?;
            tx.commit()?;
            Ok(())
        });
        assert!(failed.is_err());
        assert_eq!(level(&store.conn), 2, "FULL after an error");
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            let _ = with_relaxed_sync(&mut store.conn, |conn| -> Result<()> {
                let _tx = write_tx(conn)?;
                panic!("boom")
            });
        }));
        assert!(panicked.is_err());
        assert_eq!(level(&store.conn), 2, "FULL after a panic");
    }

    #[test]
    fn cursor_starts_at_zero_and_never_goes_back() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.cursor().unwrap(), 0);
        advance_cursor(&store.conn, 7).unwrap();
        advance_cursor(&store.conn, 3).unwrap();
        assert_eq!(store.cursor().unwrap(), 7);
    }
}
