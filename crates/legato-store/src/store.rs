//! The [`Store`]: one SQLite connection, opened with the project's settings and migrated.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::Result;
use crate::schema::{MIGRATIONS, StoreOptions, configure_connection};

const CLIENT_ID_KEY: &str = "client_id";
const CURSOR_KEY: &str = "cursor";

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
        Self::from_connection(Connection::open(path)?, &options)
    }

    /// A private in-memory store (tests, previews).
    pub fn open_in_memory() -> Result<Self> {
        Self::from_connection(Connection::open_in_memory()?, &StoreOptions::default())
    }

    fn from_connection(mut conn: Connection, options: &StoreOptions) -> Result<Self> {
        configure_connection(&conn, options)?;
        MIGRATIONS.to_latest(&mut conn)?;
        let client_id = ensure_client_id(&mut conn)?;
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

fn write_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
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

fn ensure_client_id(conn: &mut Connection) -> Result<String> {
    let tx = write_tx(conn)?;
    let id = match read_meta(&tx, CLIENT_ID_KEY)? {
        Some(id) => id,
        None => {
            let id = uuid::Uuid::now_v7().to_string();
            write_meta(&tx, CLIENT_ID_KEY, &id)?;
            id
        }
    };
    tx.commit()?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn cursor_starts_at_zero_and_never_goes_back() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.cursor().unwrap(), 0);
        advance_cursor(&store.conn, 7).unwrap();
        advance_cursor(&store.conn, 3).unwrap();
        assert_eq!(store.cursor().unwrap(), 7);
    }
}
