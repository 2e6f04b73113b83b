//! SQLite implementation of [`Database`].
//!
//! Threads: one dedicated writer thread owns the only write connection and runs closures sent
//! over a channel, one at a time (SQLite admits one writer anyway; queuing in-process avoids
//! `SQLITE_BUSY` and keeps `BEGIN IMMEDIATE` transactions short). Reads run on `spawn_blocking`
//! threads with a small pool of read-only connections, concurrent with the writer thanks to
//! WAL. No SQLite call ever runs on an async worker thread.
//!
//! Durability: WAL with `synchronous = FULL`, so a commit is on disk before the server
//! acknowledges it.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use legato_core::EntityRecord;
use legato_protocol::{Change, EntityId, EntityType, Fields, Operation};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use serde_json::value::RawValue;
use tokio::sync::{Semaphore, oneshot};

use super::{
    ChangeOutcome, ChangesPage, Credentials, Database, DbError, Device, FullUpdate, NewToken,
    NewUser, OnCommit, PAGE_BYTES, PruneStep, RecordedChange, TokenRecord, UserId,
};
use crate::apply::{
    ContentHash, Evaluation, Stored, content_hash, data_hash, evaluate, live_update,
    repeat_conflict,
};
use crate::auth::TokenHash;

const MIGRATION_SLICE: &[M<'static>] = &[
    M::up(include_str!("sqlite_migrations/0001_initial.sql")),
    M::up(include_str!("sqlite_migrations/0002_entities_rowid.sql")),
    M::up(include_str!(
        "sqlite_migrations/0003_change_content_hash.sql"
    )),
    M::up(include_str!(
        "sqlite_migrations/0004_conflicted_changes.sql"
    )),
    M::up(include_str!("sqlite_migrations/0005_token_devices.sql")),
    M::up(include_str!("sqlite_migrations/0006_stored_bytes.sql")),
    M::up(include_str!("sqlite_migrations/0007_pruning.sql")),
    M::up(include_str!("sqlite_migrations/0008_kept_records.sql")),
];

/// The schema migrations, in order. Never edit a shipped one: append.
pub const MIGRATIONS: Migrations<'static> = Migrations::from_slice(MIGRATION_SLICE);

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Concurrent read connections (each read runs on a blocking thread).
const MAX_READERS: usize = 8;
/// Readers change pages may hold at once; the others stay for token checks and small reads.
const MAX_BULK_READERS: usize = MAX_READERS - 2;

type WriteJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// A SQLite database file. Cheap to clone; all clones share the writer thread and pool.
#[derive(Debug, Clone)]
pub struct SqliteDatabase {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Mutex<Option<std_mpsc::Sender<WriteJob>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    read_permits: Semaphore,
    /// Taken by change pages before a read permit (see `MAX_BULK_READERS`).
    bulk_permits: Semaphore,
    /// Bytes one account may store; 0: no limit.
    quota_bytes: AtomicU64,
}

fn backend(err: impl std::error::Error + Send + Sync + 'static) -> DbError {
    DbError::Backend(Box::new(err))
}

impl From<rusqlite::Error> for DbError {
    fn from(err: rusqlite::Error) -> Self {
        backend(err)
    }
}

pub(super) fn corrupt(what: &str, err: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(format!("{what}: {err}"))
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

fn open_writer(path: &Path) -> Result<Connection, DbError> {
    create_private(path).map_err(backend)?;
    let mut conn = Connection::open(path)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(DbError::Corrupt(format!(
            "cannot enable WAL (journal_mode = {mode})"
        )));
    }
    configure(&conn)?;
    MIGRATIONS.to_latest(&mut conn).map_err(backend)?;
    Ok(conn)
}

/// Creates the database's directory (mode 0700, every level it creates) and the database
/// file (0600) before SQLite opens it, and narrows an existing file (and its `-wal`/`-shm`)
/// to 0600: they hold password and token hashes. SQLite gives the `-wal` and `-shm` files it
/// creates the database file's mode. Elsewhere than Unix the platform's defaults stay.
fn create_private(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
        if let Some(dir) = dir {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let mut names = vec![path.as_os_str().to_owned()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            names.push(name);
        }
        for name in names {
            match std::fs::metadata(&name) {
                Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
    }
    #[cfg(not(unix))]
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection, DbError> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

impl SqliteDatabase {
    /// Opens (creating it and its directory if needed) and migrates the database at `path`.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, DbError> {
        let path = path.into();
        let opened_path = path.clone();
        let conn = tokio::task::spawn_blocking(move || open_writer(&opened_path))
            .await
            .map_err(backend)??;
        let (tx, rx) = std_mpsc::channel::<WriteJob>();
        let thread = std::thread::Builder::new()
            .name("legato-sqlite-writer".to_owned())
            .spawn(move || writer_loop(conn, rx))
            .map_err(backend)?;
        Ok(SqliteDatabase {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(thread)),
                readers: Mutex::new(Vec::new()),
                read_permits: Semaphore::new(MAX_READERS),
                bulk_permits: Semaphore::new(MAX_BULK_READERS),
                quota_bytes: AtomicU64::new(0),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on the writer thread.
    async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        let sender = self
            .inner
            .writer
            .lock()
            .expect("writer lock poisoned")
            .clone()
            .ok_or(DbError::Closed)?;
        sender.send(job).map_err(|_| DbError::Closed)?;
        // A dropped reply means the job panicked (the writer thread survives it).
        result
            .await
            .map_err(|_| DbError::Corrupt("write job panicked".to_owned()))?
    }

    /// Runs `f` with a pooled read-only connection on a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self
            .inner
            .read_permits
            .acquire()
            .await
            .map_err(|_| DbError::Closed)?;
        if self
            .inner
            .writer
            .lock()
            .expect("writer lock poisoned")
            .is_none()
        {
            return Err(DbError::Closed);
        }
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().expect("reader pool poisoned").pop();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => open_reader(&inner.path)?,
            };
            let result = f(&mut conn);
            inner
                .readers
                .lock()
                .expect("reader pool poisoned")
                .push(conn);
            result
        })
        .await
        .map_err(backend)?
    }
}

fn writer_loop(mut conn: Connection, jobs: std_mpsc::Receiver<WriteJob>) {
    for job in jobs {
        // A panicking job drops its reply (the caller sees an error) and rolls its
        // transaction back on unwind; the writer goes on with the next job.
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
            tracing::error!("a database write job panicked");
        }
    }
    if let Err((_, err)) = conn.close() {
        tracing::warn!(error = %err, "closing the write connection");
    }
}

impl Database for SqliteDatabase {
    async fn create_user(&self, user: NewUser, token: NewToken) -> Result<(), DbError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inserted = tx.execute(
                "INSERT INTO users (id, email, password_hash, seq, created_at)
                 VALUES (?1, ?2, ?3, 0, ?4) ON CONFLICT (email) DO NOTHING",
                params![
                    user.id.0,
                    user.email,
                    user.password_hash,
                    user.created_at_ms
                ],
            )?;
            if inserted == 0 {
                return Err(DbError::EmailTaken);
            }
            insert_token(&tx, &token)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn credentials(&self, email: &str) -> Result<Option<Credentials>, DbError> {
        let email = email.to_owned();
        self.read(move |conn| {
            Ok(conn
                .prepare_cached("SELECT id, password_hash FROM users WHERE email = ?1")?
                .query_row([email], |row| {
                    Ok(Credentials {
                        user_id: UserId(row.get(0)?),
                        password_hash: row.get(1)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn insert_token(&self, token: NewToken) -> Result<(), DbError> {
        self.write(move |conn| insert_token(conn, &token)).await
    }

    async fn user_for_token(&self, hash: TokenHash) -> Result<Option<TokenRecord>, DbError> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT user_id, id, last_used_at, client_id FROM tokens
                     WHERE hash = ?1 AND revoked_at IS NULL",
                )?
                .query_row([&hash.0[..]], |row| {
                    Ok(TokenRecord {
                        user_id: UserId(row.get(0)?),
                        device_id: row.get(1)?,
                        last_used_ms: row.get(2)?,
                        client_id: row.get(3)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn touch_token(
        &self,
        hash: TokenHash,
        now_ms: i64,
        client_id: Option<String>,
    ) -> Result<(), DbError> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE tokens SET last_used_at = max(last_used_at, ?2),
                                   client_id = coalesce(?3, client_id)
                 WHERE hash = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![&hash.0[..], now_ms, client_id])?;
            Ok(())
        })
        .await
    }

    async fn devices(&self, user: &UserId) -> Result<Vec<Device>, DbError> {
        let user = user.clone();
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT id, device_name, client_id, created_at, last_used_at, hash FROM tokens
                 WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY created_at, id",
            )?;
            let rows = statement.query_map([&user.0], |row| {
                let hash: Vec<u8> = row.get(5)?;
                Ok((
                    Device {
                        id: row.get(0)?,
                        name: row.get(1)?,
                        client_id: row.get(2)?,
                        created_ms: row.get(3)?,
                        last_used_ms: row.get(4)?,
                        token_hash: TokenHash([0; 32]),
                    },
                    hash,
                ))
            })?;
            rows.map(|row| {
                let (mut device, hash) = row?;
                device.token_hash = TokenHash(
                    hash.try_into()
                        .map_err(|_| DbError::Corrupt("tokens.hash is not 32 bytes".into()))?,
                );
                Ok(device)
            })
            .collect()
        })
        .await
    }

    async fn revoke_device(
        &self,
        user: &UserId,
        device_id: &str,
        now_ms: i64,
    ) -> Result<Option<TokenHash>, DbError> {
        let (user, device_id) = (user.clone(), device_id.to_owned());
        self.write(move |conn| {
            let hash: Option<Vec<u8>> = conn
                .prepare_cached(
                    "UPDATE tokens SET revoked_at = ?3
                     WHERE user_id = ?1 AND id = ?2 AND revoked_at IS NULL RETURNING hash",
                )?
                .query_row(params![user.0, device_id, now_ms], |row| row.get(0))
                .optional()?;
            hash.map(|hash| {
                hash.try_into()
                    .map(TokenHash)
                    .map_err(|_| DbError::Corrupt("tokens.hash is not 32 bytes".into()))
            })
            .transpose()
        })
        .await
    }

    async fn password_hash(&self, user: &UserId) -> Result<Option<String>, DbError> {
        let user = user.clone();
        self.read(move |conn| {
            Ok(conn
                .prepare_cached("SELECT password_hash FROM users WHERE id = ?1")?
                .query_row([&user.0], |row| row.get(0))
                .optional()?)
        })
        .await
    }

    async fn change_password(
        &self,
        user: &UserId,
        password_hash: String,
        keep: TokenHash,
        now_ms: i64,
    ) -> Result<Vec<TokenHash>, DbError> {
        let user = user.clone();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let updated = tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![user.0, password_hash],
            )?;
            if updated == 0 {
                return Err(DbError::UnknownUser);
            }
            let revoked = tx
                .prepare_cached(
                    "UPDATE tokens SET revoked_at = ?3
                     WHERE user_id = ?1 AND hash <> ?2 AND revoked_at IS NULL RETURNING hash",
                )?
                .query_map(params![user.0, &keep.0[..], now_ms], |row| {
                    row.get::<_, Vec<u8>>(0)
                })?
                .map(|hash| {
                    hash?
                        .try_into()
                        .map(TokenHash)
                        .map_err(|_| DbError::Corrupt("tokens.hash is not 32 bytes".into()))
                })
                .collect::<Result<Vec<_>, DbError>>()?;
            tx.commit()?;
            Ok(revoked)
        })
        .await
    }

    async fn revoke_token(&self, hash: TokenHash, now_ms: i64) -> Result<bool, DbError> {
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE hash = ?1 AND revoked_at IS NULL",
                params![&hash.0[..], now_ms],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn apply_changes_then(
        &self,
        user: &UserId,
        changes: Vec<Change>,
        now_ms: i64,
        on_commit: OnCommit,
    ) -> Result<Vec<ChangeOutcome>, DbError> {
        let user = user.clone();
        let quota = self.inner.quota_bytes.load(Ordering::Relaxed);
        self.write(move |conn| {
            let mut outcomes = apply_in_transaction(conn, &user, changes, now_ms, quota)?;
            on_commit(&mut outcomes);
            Ok(outcomes)
        })
        .await
    }

    async fn changes_since(
        &self,
        user: &UserId,
        types: &[EntityType],
        since: u64,
        limit: usize,
    ) -> Result<ChangesPage, DbError> {
        let user = user.clone();
        let types = types.to_vec();
        // Pages take bulk slots first: they can never hold every reader, so token checks
        // and other small reads always find one free.
        let _bulk = self
            .inner
            .bulk_permits
            .acquire()
            .await
            .map_err(|_| DbError::Closed)?;
        self.read(move |conn| changes_page(conn, &user, &types, since, limit))
            .await
    }

    fn set_user_quota(&self, bytes: Option<u64>) {
        self.inner
            .quota_bytes
            .store(bytes.unwrap_or(0), Ordering::Relaxed);
    }

    async fn stored_bytes(&self, user: &UserId) -> Result<u64, DbError> {
        let user = user.clone();
        self.read(move |conn| {
            let bytes: Option<i64> = conn
                .prepare_cached("SELECT stored_bytes FROM users WHERE id = ?1")?
                .query_row([&user.0], |row| row.get(0))
                .optional()?;
            Ok(bytes.map_or(0, |b| u64::try_from(b).unwrap_or(0)))
        })
        .await
    }

    async fn prune_step(&self, cutoff_ms: i64, max_rows: usize) -> Result<PruneStep, DbError> {
        self.write(move |conn| prune_in_transaction(conn, cutoff_ms, max_rows))
            .await
    }

    async fn health(&self) -> Result<(), DbError> {
        self.read(|conn| {
            conn.query_row("SELECT count(*) FROM users LIMIT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    async fn close(&self) {
        let sender = self
            .inner
            .writer
            .lock()
            .expect("writer lock poisoned")
            .take();
        drop(sender);
        let thread = self
            .inner
            .writer_thread
            .lock()
            .expect("writer lock poisoned")
            .take();
        if let Some(thread) = thread {
            // The thread drains queued jobs, then closes its connection.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.inner
            .readers
            .lock()
            .expect("reader pool poisoned")
            .clear();
    }
}

fn insert_token(conn: &Connection, token: &NewToken) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO tokens (hash, user_id, device_name, created_at, id, last_used_at)
         VALUES (?1, ?2, ?3, ?4, lower(hex(randomblob(16))), ?4)",
        params![
            &token.hash.0[..],
            token.user_id.0,
            token.device_name,
            token.created_at_ms
        ],
    )?;
    Ok(())
}

pub(super) fn seq_to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn apply_in_transaction(
    conn: &mut Connection,
    user: &UserId,
    changes: Vec<Change>,
    now_ms: i64,
    quota: u64,
) -> Result<Vec<ChangeOutcome>, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (start_seq, start_bytes): (u64, i64) = tx
        .prepare_cached("SELECT seq, stored_bytes FROM users WHERE id = ?1")?
        .query_row([&user.0], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .ok_or(DbError::UnknownUser)?;
    let mut seq = start_seq;
    let mut stored = start_bytes;
    // A write that grows the account past its quota is refused; one that shrinks it (a
    // delete, a shorter text) always goes, so a full account can make room.
    let over_quota = |stored: i64, growth: i64| super::over_quota(quota, stored, growth);
    let quota_refusal = || super::quota_refusal(quota);
    let mut outcomes = Vec::with_capacity(changes.len());
    for change in changes {
        let hash = content_hash(&change);
        if let Some(mut recorded) = recorded_change(&tx, user, &change.change_id)? {
            if recorded.pruned {
                let current = load_entity(&tx, user, change.entity_type, &change.entity_id)?;
                recorded = recorded.standing_on(&change, current.as_ref());
            }
            outcomes.push(recorded.answer_repeat(&change.change_id, &hash));
            continue;
        }
        let current = load_entity(&tx, user, change.entity_type, &change.entity_id)?;
        if let Some((recorded_hash, fields)) = recorded_conflict(&tx, user, &change.change_id)? {
            outcomes.push(repeat_conflict(
                current.as_ref(),
                &change,
                &recorded_hash,
                fields,
            ));
            continue;
        }
        let outcome = match evaluate(current.as_ref(), &change) {
            Evaluation::Reject { code, message } => ChangeOutcome::Rejected { code, message },
            Evaluation::Conflict(conflict) => {
                // Recorded forever, so counted, and refused over the quota like any growth
                // (whatever the operation: a tombstone conflicts with every change to it).
                let fields_json = to_json(&conflict.fields)?;
                let growth = super::RECORD_BYTES + text_len(&fields_json);
                if over_quota(stored, growth) {
                    quota_refusal()
                } else {
                    stored = stored.saturating_add(growth);
                    record_conflict(&tx, user, &change, &fields_json, now_ms)?;
                    ChangeOutcome::Conflict(conflict)
                }
            }
            Evaluation::Unchanged {
                version,
                seq: entity_seq,
                touched,
            } => {
                let record_json = touched_json(&touched)?;
                let growth = super::RECORD_BYTES + text_len(&record_json);
                if change.operation != Operation::Delete && over_quota(stored, growth) {
                    quota_refusal()
                } else {
                    stored = stored.saturating_add(growth);
                    record_change(
                        &tx,
                        user,
                        &change,
                        version,
                        entity_seq,
                        &record_json,
                        "unchanged",
                        &hash,
                        now_ms,
                    )?;
                    ChangeOutcome::Applied {
                        version,
                        seq: entity_seq,
                        touched,
                        update: None,
                        unchanged: true,
                    }
                }
            }
            Evaluation::Write { record, touched } => {
                let record_json = touched_json(&touched)?;
                let old = current
                    .as_ref()
                    .map_or(0, |stored| json_len(&stored.record.state));
                let growth =
                    json_len(&record.state) - old + super::RECORD_BYTES + text_len(&record_json);
                if change.operation != Operation::Delete && over_quota(stored, growth) {
                    quota_refusal()
                } else {
                    stored = stored.saturating_add(growth);
                    seq += 1;
                    store_entity(&tx, user, &change, &record, seq, now_ms)?;
                    record_change(
                        &tx,
                        user,
                        &change,
                        record.version,
                        seq,
                        &record_json,
                        "applied",
                        &hash,
                        now_ms,
                    )?;
                    let update = live_update(user, &change, &record, touched.clone(), seq);
                    ChangeOutcome::Applied {
                        version: record.version,
                        seq,
                        touched,
                        update: Some(update),
                        unchanged: false,
                    }
                }
            }
        };
        outcomes.push(outcome);
    }
    if seq != start_seq || stored != start_bytes {
        tx.prepare_cached("UPDATE users SET seq = ?2, stored_bytes = ?3 WHERE id = ?1")?
            .execute(params![user.0, seq_to_sql(seq), stored.max(0)])?;
    }
    tx.commit()?;
    Ok(outcomes)
}

/// One step of [`Database::prune_step`]: the oldest prunable change records, then the
/// oldest prunable tombstones, then the oldest prunable conflict records, at most
/// `max_rows` of each, and every account's `stored_bytes` down by the bytes its rows
/// dropped (a pruned record keeps `touched` = '' (0 bytes) and its [`super::RECORD_BYTES`],
/// a pruned tombstone `state` = '{}' (2 bytes, as a `{}` state is counted), a pruned
/// conflict record `fields` = '' and its [`super::RECORD_BYTES`]).
fn prune_in_transaction(
    conn: &mut Connection,
    cutoff_ms: i64,
    max_rows: usize,
) -> Result<PruneStep, DbError> {
    let max_rows = max_rows.max(1);
    let limit = i64::try_from(max_rows).unwrap_or(i64::MAX);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut freed: BTreeMap<String, i64> = BTreeMap::new();
    let records: Vec<(String, String, i64)> = tx
        .prepare_cached(
            "SELECT user_id, change_id, length(CAST(touched AS BLOB)) FROM changes
             WHERE pruned = 0 AND recorded_at < ?1 ORDER BY recorded_at LIMIT ?2",
        )?
        .query_map(params![cutoff_ms, limit], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    {
        let mut prune = tx.prepare_cached(
            "UPDATE changes SET touched = '', pruned = 1 WHERE user_id = ?1 AND change_id = ?2",
        )?;
        for (user, change_id, bytes) in &records {
            prune.execute(params![user, change_id])?;
            *freed.entry(user.clone()).or_default() += bytes;
        }
    }
    let tombstones: Vec<(i64, String, i64)> = tx
        .prepare_cached(
            "SELECT rowid, user_id, length(CAST(state AS BLOB)) FROM entities
             WHERE deleted = 1 AND state <> '{}' AND updated_at < ?1
             ORDER BY updated_at LIMIT ?2",
        )?
        .query_map(params![cutoff_ms, limit], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    {
        let mut prune = tx.prepare_cached(
            "UPDATE entities SET state = '{}', field_versions = '{}' WHERE rowid = ?1",
        )?;
        for (rowid, user, bytes) in &tombstones {
            prune.execute([rowid])?;
            *freed.entry(user.clone()).or_default() += bytes - text_len("{}");
        }
    }
    let conflicts: Vec<(String, String, i64)> = tx
        .prepare_cached(
            "SELECT user_id, change_id, length(CAST(fields AS BLOB)) FROM conflicted_changes
             WHERE pruned = 0 AND recorded_at < ?1 ORDER BY recorded_at LIMIT ?2",
        )?
        .query_map(params![cutoff_ms, limit], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    {
        let mut prune = tx.prepare_cached(
            "UPDATE conflicted_changes SET fields = '', pruned = 1
             WHERE user_id = ?1 AND change_id = ?2",
        )?;
        for (user, change_id, bytes) in &conflicts {
            prune.execute(params![user, change_id])?;
            *freed.entry(user.clone()).or_default() += bytes;
        }
    }
    {
        let mut shrink = tx.prepare_cached(
            "UPDATE users SET stored_bytes = max(stored_bytes - ?2, 0) WHERE id = ?1",
        )?;
        for (user, bytes) in &freed {
            shrink.execute(params![user, bytes])?;
        }
    }
    tx.commit()?;
    let freed_bytes = freed.values().map(|b| u64::try_from(*b).unwrap_or(0)).sum();
    Ok(PruneStep {
        records: records.len() as u64,
        tombstones: tombstones.len() as u64,
        conflicts: conflicts.len() as u64,
        freed_bytes,
        done: records.len() < max_rows && tombstones.len() < max_rows && conflicts.len() < max_rows,
    })
}

/// Bytes of `fields` as stored (its JSON text).
pub(super) fn json_len(fields: &Fields) -> i64 {
    i64::try_from(crate::apply::serialized_len(fields)).unwrap_or(i64::MAX)
}

pub(super) fn text_len(text: &str) -> i64 {
    i64::try_from(text.len()).unwrap_or(i64::MAX)
}

/// A change record's `touched` as stored: long strings as `{"$deflate": ...}` (where that is
/// smaller), so the change log does not keep a second full copy of a long text beside the
/// entity's state. Read back through [`legato_protocol::inflate_fields`]; a stored value is
/// never a `$deflate` object otherwise (the apply rule inflates every one it is sent).
pub(super) fn touched_json(touched: &Fields) -> Result<String, DbError> {
    let long = touched.values().any(|value| {
        value
            .as_str()
            .is_some_and(|text| text.len() > legato_protocol::DEFLATE_THRESHOLD_CHARS)
    });
    if !long {
        return to_json(touched);
    }
    let mut compact = touched.clone();
    crate::ws::compress_fields(&mut compact);
    to_json(&compact)
}

/// The data hash and fields of `change_id`'s recorded `conflict` answer, if it got one
/// (`None` for the fields once they were pruned).
fn recorded_conflict(
    conn: &Connection,
    user: &UserId,
    change_id: &str,
) -> Result<Option<RecordedConflict>, DbError> {
    let row: Option<(Vec<u8>, String, bool)> = conn
        .prepare_cached(
            "SELECT data_hash, fields, pruned FROM conflicted_changes
             WHERE user_id = ?1 AND change_id = ?2",
        )?
        .query_row(params![user.0, change_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    row.map(|(hash, fields, pruned)| {
        let hash = <[u8; 32]>::try_from(hash.as_slice())
            .map(ContentHash)
            .map_err(|_| corrupt("conflicted_changes.data_hash", "not 32 bytes"))?;
        let fields = conflict_fields(&fields, pruned)?;
        Ok((hash, fields))
    })
    .transpose()
}

/// A conflict record: the data hash, and the fields (`None` once pruned).
pub(super) type RecordedConflict = (ContentHash, Option<Vec<String>>);

/// A conflict record's `fields` as read back: `None` once pruned.
pub(super) fn conflict_fields(fields: &str, pruned: bool) -> Result<Option<Vec<String>>, DbError> {
    if pruned {
        return Ok(None);
    }
    serde_json::from_str(fields)
        .map(Some)
        .map_err(|e| corrupt("conflicted_changes.fields", e))
}

/// Records `change`'s `conflict` answer; `fields` is the JSON array of its fields.
fn record_conflict(
    conn: &Connection,
    user: &UserId,
    change: &Change,
    fields: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO conflicted_changes (user_id, change_id, data_hash, fields, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (user_id, change_id) DO NOTHING",
    )?
    .execute(params![
        user.0,
        change.change_id,
        &data_hash(change).0[..],
        fields,
        now_ms,
    ])?;
    Ok(())
}

fn recorded_change(
    conn: &Connection,
    user: &UserId,
    change_id: &str,
) -> Result<Option<RecordedChange>, DbError> {
    type Row = (u64, u64, String, String, Option<Vec<u8>>, bool);
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT version, seq, touched, status, content_hash, pruned FROM changes
             WHERE user_id = ?1 AND change_id = ?2",
        )?
        .query_row(params![user.0, change_id], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            ))
        })
        .optional()?;
    row.map(|(version, seq, touched, status, hash, pruned)| {
        let mut touched: Fields = if pruned {
            Fields::new()
        } else {
            serde_json::from_str(&touched).map_err(|e| corrupt("changes.touched", e))?
        };
        if legato_protocol::has_deflated(&touched) {
            touched = legato_protocol::inflate_fields(&touched)
                .map_err(|e| corrupt("changes.touched", e))?;
        }
        let unchanged = match status.as_str() {
            "applied" => false,
            "unchanged" => true,
            other => return Err(corrupt("changes.status", other)),
        };
        let content_hash = hash
            .map(|bytes| {
                <[u8; 32]>::try_from(bytes.as_slice())
                    .map(ContentHash)
                    .map_err(|_| corrupt("changes.content_hash", "not 32 bytes"))
            })
            .transpose()?;
        Ok(RecordedChange {
            version,
            seq,
            touched,
            unchanged,
            content_hash,
            pruned,
        })
    })
    .transpose()
}

fn load_entity(
    conn: &Connection,
    user: &UserId,
    entity_type: EntityType,
    entity_id: &EntityId,
) -> Result<Option<Stored>, DbError> {
    let row: Option<(String, u64, String, bool, u64)> = conn
        .prepare_cached(
            "SELECT state, version, field_versions, deleted, last_seq FROM entities
             WHERE user_id = ?1 AND entity_type = ?2 AND entity_id = ?3",
        )?
        .query_row(
            params![user.0, entity_type.as_str(), entity_id.as_str()],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            },
        )
        .optional()?;
    row.map(|(state, version, field_versions, deleted, last_seq)| {
        let state: Fields =
            serde_json::from_str(&state).map_err(|e| corrupt("entities.state", e))?;
        let field_versions: BTreeMap<String, u64> = serde_json::from_str(&field_versions)
            .map_err(|e| corrupt("entities.field_versions", e))?;
        Ok(Stored {
            record: EntityRecord {
                state,
                version,
                field_versions,
                deleted,
            },
            last_seq,
        })
    })
    .transpose()
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| corrupt("serializing", e))
}

fn store_entity(
    conn: &Connection,
    user: &UserId,
    change: &Change,
    record: &EntityRecord,
    seq: u64,
    now_ms: i64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO entities (user_id, entity_type, entity_id, state, version, field_versions,
                               deleted, last_seq, last_change_id, last_client_id, last_timestamp,
                               updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (user_id, entity_type, entity_id) DO UPDATE SET
             state = excluded.state, version = excluded.version,
             field_versions = excluded.field_versions, deleted = excluded.deleted,
             last_seq = excluded.last_seq, last_change_id = excluded.last_change_id,
             last_client_id = excluded.last_client_id, last_timestamp = excluded.last_timestamp,
             updated_at = excluded.updated_at",
    )?
    .execute(params![
        user.0,
        change.entity_type.as_str(),
        change.entity_id.as_str(),
        to_json(&record.state)?,
        seq_to_sql(record.version),
        to_json(&record.field_versions)?,
        record.deleted,
        seq_to_sql(seq),
        change.change_id,
        change.client_id,
        change.timestamp,
        now_ms,
    ])?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn record_change(
    conn: &Connection,
    user: &UserId,
    change: &Change,
    version: u64,
    seq: u64,
    touched_json: &str,
    status: &str,
    hash: &ContentHash,
    now_ms: i64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO changes (user_id, change_id, entity_type, entity_id, operation, version, seq,
                              touched, client_id, timestamp, status, recorded_at, content_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        user.0,
        change.change_id,
        change.entity_type.as_str(),
        change.entity_id.as_str(),
        change.operation.as_str(),
        seq_to_sql(version),
        seq_to_sql(seq),
        touched_json,
        change.client_id,
        change.timestamp,
        status,
        now_ms,
        &hash.0[..],
    ])?;
    Ok(())
}

/// A stored state as raw JSON, checked to be one JSON object by a syntax scan that builds
/// nothing (unlike parsing into [`Fields`]).
pub(super) fn raw_state(state: String) -> Result<Box<RawValue>, DbError> {
    if !state.starts_with('{') {
        return Err(corrupt("entities.state", "not a JSON object"));
    }
    RawValue::from_string(state).map_err(|e| corrupt("entities.state", e))
}

fn changes_page(
    conn: &mut Connection,
    user: &UserId,
    types: &[EntityType],
    since: u64,
    limit: usize,
) -> Result<ChangesPage, DbError> {
    // One read transaction: the page and the latest seq are one snapshot.
    let tx = conn.transaction()?;
    let latest_seq: u64 = tx
        .prepare_cached("SELECT seq FROM users WHERE id = ?1")?
        .query_row([&user.0], |row| row.get(0))
        .optional()?
        .unwrap_or(0);
    let mut types: Vec<&'static str> = types.iter().map(|t| t.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    let type_filter = if types.is_empty() || types.len() == EntityType::ALL.len() {
        String::new()
    } else {
        // Entity type names are fixed identifiers from the enum, never user input.
        let list: Vec<String> = types.iter().map(|t| format!("'{t}'")).collect();
        format!("AND entity_type IN ({})", list.join(", "))
    };
    let sql = format!(
        "SELECT entity_type, entity_id, state, version, deleted, last_seq, last_timestamp,
                last_client_id, last_change_id
         FROM entities WHERE user_id = ?1 AND last_seq > ?2 {type_filter}
         ORDER BY last_seq"
    );
    // No `LIMIT ?`: SQLite plans `ORDER BY … LIMIT ?` with the bound value and so parses
    // the statement again at every execution. The index streams rows in `last_seq` order;
    // the loop stops after one row past the page.
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![user.0, seq_to_sql(since)])?;
    let mut changes = Vec::with_capacity(limit.min(1024));
    let mut has_more = false;
    let mut page_bytes = 0usize;
    while let Some(row) = rows.next()? {
        if changes.len() == limit {
            has_more = true;
            break;
        }
        // Sized by bytes too: the next state must fit the page, unless it is the first.
        let state_bytes = match row.get_ref(2)? {
            rusqlite::types::ValueRef::Text(text) => text.len(),
            _ => 0,
        };
        if !changes.is_empty() && page_bytes + state_bytes > PAGE_BYTES {
            has_more = true;
            break;
        }
        page_bytes += state_bytes;
        let entity_type: EntityType = row
            .get_ref(0)?
            .as_str()
            .map_err(|e| corrupt("entities.entity_type", e))?
            .parse()
            .map_err(|e| corrupt("entities.entity_type", e))?;
        let entity_id: String = row.get(1)?;
        let deleted: bool = row.get(4)?;
        // A tombstone travels as `deleted: true` with no fields.
        let state = if deleted {
            "{}".to_owned()
        } else {
            row.get(2)?
        };
        changes.push(FullUpdate {
            entity_type,
            entity_id: EntityId::new(entity_id).map_err(|e| corrupt("entities.entity_id", e))?,
            data: raw_state(state)?,
            version: row.get(3)?,
            deleted,
            seq: row.get(5)?,
            timestamp: row.get(6)?,
            user_id: user.0.clone(),
            client_id: row.get(7)?,
            change_id: row.get(8)?,
        });
    }
    drop(rows);
    drop(stmt);
    tx.finish()?;
    Ok(ChangesPage {
        changes,
        has_more,
        latest_seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        MIGRATIONS.validate().unwrap();
    }

    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = 0;
        crate::conformance::run_all(|| {
            n += 1;
            let path = dir.path().join(format!("conformance-{n}.db"));
            async move { SqliteDatabase::open(path).await.unwrap() }
        })
        .await;
    }

    /// The fan-out hook runs once the data is visible to every other connection: a fresh
    /// connection opened from inside it reads the new seq (before the commit it would read
    /// the old one, WAL readers see committed data only).
    #[tokio::test]
    async fn the_commit_hook_runs_after_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hook.db");
        let db = SqliteDatabase::open(&path).await.unwrap();
        let (ann, _) = crate::conformance::new_user(&db, "ann@example.com").await;
        let (seen_tx, seen_rx) = std_mpsc::channel();
        let (probe_path, probe_user) = (path.clone(), ann.0.clone());
        let change = crate::conformance::change(
            "c1",
            "g1",
            legato_protocol::Operation::Create,
            serde_json::json!({"title": "t"}),
            0,
        );
        db.apply_changes_then(
            &ann,
            vec![change],
            40,
            Box::new(move |_| {
                let reader = Connection::open(&probe_path).unwrap();
                let seq: i64 = reader
                    .query_row("SELECT seq FROM users WHERE id = ?1", [&probe_user], |r| {
                        r.get(0)
                    })
                    .unwrap();
                seen_tx.send(seq).unwrap();
            }),
        )
        .await
        .unwrap();
        assert_eq!(
            seen_rx.try_recv().unwrap(),
            1,
            "the hook ran before the commit"
        );
    }

    /// A database file at schema `version` (migrations up to it only), filled by `fill`:
    /// the starting point of each migration test. The directory lives as long as the guard.
    fn old_schema(
        version: usize,
        fill: impl FnOnce(&mut Connection),
    ) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("v{version}.db"));
        let mut conn = Connection::open(&path).unwrap();
        MIGRATIONS.to_version(&mut conn, version).unwrap();
        fill(&mut conn);
        (dir, path)
    }

    /// Migration 2 rebuilds `entities` as a rowid table: rows written by schema 1 survive it,
    /// page in seq order, and take upserts afterwards.
    #[tokio::test]
    async fn migration_2_keeps_schema_1_entities() {
        let (_dir, path) = old_schema(1, |conn| {
            conn.execute_batch(
                r#"INSERT INTO users VALUES ('ann', 'ann@example.com', 'x', 3, 0),
                                            ('bob', 'bob@example.com', 'x', 1, 0);
                   INSERT INTO entities VALUES
                     ('ann', 'logbook', 'l1', '{"duration":5,"notes":"é \"q\""}', 1,
                      '{"duration":1,"notes":1}', 0, 3, 'c3', 'dev', 30, 31),
                     ('ann', 'goals', 'g1', '{"title":"Scales"}', 1, '{"title":1}', 0, 1,
                      'c1', 'dev', 10, 11),
                     ('ann', 'goals', 'g2', '{"title":"Gone"}', 2, '{"title":1}', 1, 2,
                      'c2', 'dev', 20, 21),
                     ('bob', 'goals', 'g1', '{"title":"Bob''s"}', 1, '{"title":1}', 0, 1,
                      'b1', 'bdev', 10, 11);"#,
            )
            .unwrap();
        });
        let db = SqliteDatabase::open(&path).await.unwrap();
        let ann = UserId("ann".into());

        let page = db.changes_since(&ann, &[], 0, 10).await.unwrap();
        let seen: Vec<_> = page
            .changes
            .iter()
            .map(|u| (u.entity_id.as_str(), u.seq, u.deleted, u.data.get()))
            .collect();
        assert_eq!(
            seen,
            [
                ("g1", 1, false, r#"{"title":"Scales"}"#),
                ("g2", 2, true, "{}"),
                ("l1", 3, false, r#"{"duration":5,"notes":"é \"q\""}"#),
            ]
        );
        assert_eq!(page.latest_seq, 3);
        let l1 = page.changes[2].to_update_data().unwrap();
        assert_eq!(
            (
                l1.entity_type,
                l1.version,
                l1.timestamp,
                l1.client_id.as_str()
            ),
            (EntityType::Logbook, 1, 30, "dev")
        );
        assert_eq!(l1.data["notes"], "é \"q\"");

        // The upsert finds the migrated row by its id (conflict target) and updates it.
        let update = crate::conformance::change(
            "c4",
            "g1",
            legato_protocol::Operation::Update,
            serde_json::json!({"title": "Arpeggios"}),
            1,
        );
        let outcomes = db.apply_changes(&ann, vec![update], 40).await.unwrap();
        assert!(
            matches!(
                outcomes[..],
                [ChangeOutcome::Applied {
                    version: 2,
                    seq: 4,
                    ..
                }]
            ),
            "{outcomes:?}"
        );
        let page = db.changes_since(&ann, &[], 3, 10).await.unwrap();
        assert_eq!(page.changes.len(), 1);
        assert_eq!(page.changes[0].data.get(), r#"{"title":"Arpeggios"}"#);
        let bob = db
            .changes_since(&UserId("bob".into()), &[], 0, 10)
            .await
            .unwrap();
        assert_eq!(bob.changes[0].data.get(), r#"{"title":"Bob's"}"#);

        let (table_sql, plan, fk_violations): (String, String, usize) = db
            .read(|conn| {
                let table_sql = conn.query_row(
                    "SELECT sql FROM sqlite_schema WHERE name = 'entities'",
                    [],
                    |r| r.get(0),
                )?;
                let mut stmt = conn.prepare(
                    "EXPLAIN QUERY PLAN SELECT state FROM entities
                     WHERE user_id = 'ann' AND last_seq > 0 ORDER BY last_seq LIMIT 10",
                )?;
                let plan: Vec<String> = stmt
                    .query_map([], |r| r.get(3))?
                    .collect::<Result<_, _>>()?;
                let fk = conn
                    .prepare("PRAGMA foreign_key_check")?
                    .query_map([], |_| Ok(()))?
                    .count();
                Ok((table_sql, plan.join("; "), fk))
            })
            .await
            .unwrap();
        assert!(!table_sql.contains("WITHOUT ROWID"), "{table_sql}");
        assert!(plan.contains("USING INDEX entities_by_seq"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        assert_eq!(fk_violations, 0);
    }

    /// Migration 5 makes tokens devices: tokens issued before it keep working, each gets its
    /// own public id, and counts as last used when it was created.
    #[tokio::test]
    async fn migration_5_gives_existing_tokens_ids_and_a_last_use() {
        let (one, two) = (TokenHash::of("one"), TokenHash::of("two"));
        let (_dir, path) = old_schema(4, |conn| {
            conn.execute_batch("INSERT INTO users VALUES ('ann', 'ann@example.com', 'x', 0, 0)")
                .unwrap();
            for (hash, at) in [(one, 100), (two, 200)] {
                conn.execute(
                    "INSERT INTO tokens (hash, user_id, device_name, created_at)
                     VALUES (?1, 'ann', 'old', ?2)",
                    params![&hash.0[..], at],
                )
                .unwrap();
            }
        });
        let db = SqliteDatabase::open(&path).await.unwrap();
        let record = db.user_for_token(one).await.unwrap().unwrap();
        assert_eq!(
            (record.user_id.0.as_str(), record.last_used_ms),
            ("ann", 100)
        );
        let devices = db.devices(&UserId("ann".into())).await.unwrap();
        assert_eq!(devices.len(), 2);
        assert_ne!(devices[0].id, devices[1].id);
        assert_eq!(devices[0].id, record.device_id);
        assert_eq!(devices[1].last_used_ms, 200);
    }

    /// Migration 6 counts what existing accounts store: their states and change records.
    #[tokio::test]
    async fn migration_6_counts_the_bytes_accounts_already_store() {
        let state = r#"{"title":"Scales"}"#;
        let touched = r#"{"title":"Scales"}"#;
        let (_dir, path) = old_schema(5, |conn| {
            conn.execute_batch(&format!(
                r#"INSERT INTO users VALUES ('ann', 'ann@example.com', 'x', 1, 0);
                   INSERT INTO users VALUES ('bob', 'bob@example.com', 'x', 0, 0);
                   INSERT INTO entities (user_id, entity_type, entity_id, state, version,
                       field_versions, deleted, last_seq, last_change_id, last_client_id,
                       last_timestamp, updated_at)
                   VALUES ('ann', 'goals', 'g1', '{state}', 1, '{{"title":1}}', 0, 1,
                           'c1', 'dev', 10, 11);
                   INSERT INTO changes (user_id, change_id, entity_type, entity_id, operation,
                       version, seq, touched, client_id, timestamp, status, recorded_at)
                   VALUES ('ann', 'c1', 'goals', 'g1', 'create', 1, 1, '{touched}', 'dev', 10,
                           'applied', 11);"#
            ))
            .unwrap();
        });
        let db = SqliteDatabase::open(&path).await.unwrap();
        let ann = db.stored_bytes(&UserId("ann".into())).await.unwrap();
        // Migration 8 adds what the record itself is counted for.
        assert_eq!(ann, (state.len() + touched.len()) as u64 + 256);
        assert_eq!(db.stored_bytes(&UserId("bob".into())).await.unwrap(), 0);
    }

    /// Migration 7: records from before it are unpruned (and pruned like any other), and
    /// pruning finds its rows through the partial indexes, not by scanning the tables.
    #[tokio::test]
    async fn migration_7_prunes_older_records_through_its_indexes() {
        let (_dir, path) = old_schema(6, |conn| {
            conn.execute_batch(
                r#"INSERT INTO users VALUES ('ann', 'ann@example.com', 'x', 2, 0, 0);
                   INSERT INTO entities (user_id, entity_type, entity_id, state, version,
                       field_versions, deleted, last_seq, last_change_id, last_client_id,
                       last_timestamp, updated_at)
                   VALUES ('ann', 'goals', 'g1', '{"title":"A"}', 2, '{"title":1}', 1, 2,
                           'c2', 'dev', 10, 11);
                   INSERT INTO changes (user_id, change_id, entity_type, entity_id, operation,
                       version, seq, touched, client_id, timestamp, status, recorded_at)
                   VALUES ('ann', 'c1', 'goals', 'g1', 'create', 1, 1, '{"title":"A"}', 'dev',
                           10, 'applied', 11),
                          ('ann', 'c2', 'goals', 'g1', 'delete', 2, 2, '{}', 'dev', 10,
                           'applied', 11);
                   UPDATE users SET stored_bytes = 13 + 13 + 2;"#,
            )
            .unwrap();
        });
        let db = SqliteDatabase::open(&path).await.unwrap();
        let ann = UserId("ann".into());
        let step = db.prune_step(12, 10).await.unwrap();
        assert_eq!(
            step,
            PruneStep {
                records: 2,
                tombstones: 1,
                conflicts: 0,
                freed_bytes: 13 + 2 + 11,
                done: true
            }
        );
        // The tombstone's `{}` and, since migration 8, the two records.
        assert_eq!(db.stored_bytes(&ann).await.unwrap(), 2 + 2 * 256);
        let plans: Vec<String> = db
            .read(|conn| {
                let mut plans = Vec::new();
                for sql in [
                    "SELECT user_id FROM changes WHERE pruned = 0 AND recorded_at < 5
                     ORDER BY recorded_at LIMIT 10",
                    "SELECT rowid FROM entities WHERE deleted = 1 AND state <> '{}'
                     AND updated_at < 5 ORDER BY updated_at LIMIT 10",
                ] {
                    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    let plan: Vec<String> = stmt
                        .query_map([], |r| r.get(3))?
                        .collect::<Result<_, _>>()?;
                    plans.push(plan.join("; "));
                }
                Ok(plans)
            })
            .await
            .unwrap();
        assert!(plans[0].contains("INDEX changes_to_prune"), "{}", plans[0]);
        assert!(
            plans[1].contains("INDEX tombstones_to_prune"),
            "{}",
            plans[1]
        );
    }

    /// Migration 8: an account's stored bytes count its records (256 bytes each, pruned or
    /// not) and its conflict records' fields; conflict records from before it are unpruned,
    /// pruned like any other, found through their partial index.
    #[tokio::test]
    async fn migration_8_counts_kept_records_and_prunes_conflict_records() {
        let (_dir, path) = old_schema(7, |conn| {
            conn.execute_batch(
                r#"INSERT INTO users VALUES ('ann', 'ann@example.com', 'x', 1, 0, 0);
                   INSERT INTO entities (user_id, entity_type, entity_id, state, version,
                       field_versions, deleted, last_seq, last_change_id, last_client_id,
                       last_timestamp, updated_at)
                   VALUES ('ann', 'goals', 'g1', '{"title":"A"}', 1, '{"title":1}', 0, 1,
                           'c1', 'dev', 10, 11);
                   INSERT INTO changes (user_id, change_id, entity_type, entity_id, operation,
                       version, seq, touched, client_id, timestamp, status, recorded_at,
                       pruned)
                   VALUES ('ann', 'c1', 'goals', 'g1', 'create', 1, 1, '', 'dev', 10,
                           'applied', 11, 1);
                   INSERT INTO conflicted_changes VALUES
                       ('ann', 'c2', zeroblob(32), '["title"]', 11);
                   UPDATE users SET stored_bytes = 13;"#,
            )
            .unwrap();
        });
        let db = SqliteDatabase::open(&path).await.unwrap();
        let ann = UserId("ann".into());
        let fields = r#"["title"]"#.len() as u64;
        assert_eq!(
            db.stored_bytes(&ann).await.unwrap(),
            13 + 256 + fields + 256
        );
        let step = db.prune_step(12, 10).await.unwrap();
        assert_eq!(
            step,
            PruneStep {
                records: 0,
                tombstones: 0,
                conflicts: 1,
                freed_bytes: fields,
                done: true
            }
        );
        assert_eq!(db.stored_bytes(&ann).await.unwrap(), 13 + 2 * 256);
        let plan: String = db
            .read(|conn| {
                let mut stmt = conn.prepare(
                    "EXPLAIN QUERY PLAN SELECT user_id FROM conflicted_changes
                     WHERE pruned = 0 AND recorded_at < 5 ORDER BY recorded_at LIMIT 10",
                )?;
                let plan: Vec<String> = stmt
                    .query_map([], |r| r.get(3))?
                    .collect::<Result<_, _>>()?;
                Ok(plan.join("; "))
            })
            .await
            .unwrap();
        assert!(plan.contains("INDEX conflicts_to_prune"), "{plan}");
    }

    /// Migration 3 adds `changes.content_hash`. Records from schema 2 have none: a repeat of
    /// their id is a duplicate whatever its content (as before), their status still decides
    /// `unchanged`, and records written afterwards carry a 32-byte hash that decides.
    #[tokio::test]
    async fn migration_3_keeps_change_records_without_a_hash() {
        let (_dir, path) = old_schema(2, |conn| {
            conn.execute_batch(
                r#"INSERT INTO users VALUES ('ann', 'ann@example.com', 'x', 1, 0);
                   INSERT INTO entities (user_id, entity_type, entity_id, state, version,
                       field_versions, deleted, last_seq, last_change_id, last_client_id,
                       last_timestamp, updated_at)
                   VALUES ('ann', 'goals', 'g1', '{"title":"A"}', 1, '{"title":1}', 0, 1,
                           'c1', 'dev', 10, 11);
                   INSERT INTO changes VALUES
                     ('ann', 'c1', 'goals', 'g1', 'create', 1, 1, '{"title":"A"}', 'dev', 10,
                      'applied', 11),
                     ('ann', 'c2', 'goals', 'g1', 'update', 1, 1, '{"title":"A"}', 'dev', 12,
                      'unchanged', 13);"#,
            )
            .unwrap();
        });
        let db = SqliteDatabase::open(&path).await.unwrap();
        let ann = UserId("ann".into());
        let other = |id: &str| {
            crate::conformance::change(
                id,
                "g1",
                legato_protocol::Operation::Update,
                serde_json::json!({"title": "something else"}),
                1,
            )
        };
        let outcomes = db
            .apply_changes(
                &ann,
                vec![other("c1"), other("c2"), other("c3"), other("c3")],
                40,
            )
            .await
            .unwrap();
        assert!(
            matches!(
                outcomes[..],
                [
                    ChangeOutcome::Duplicate {
                        version: 1,
                        seq: 1,
                        unchanged: false,
                        ..
                    },
                    ChangeOutcome::Duplicate {
                        version: 1,
                        seq: 1,
                        unchanged: true,
                        ..
                    },
                    ChangeOutcome::Applied {
                        version: 2,
                        seq: 2,
                        unchanged: false,
                        ..
                    },
                    ChangeOutcome::Duplicate { seq: 2, .. },
                ]
            ),
            "{outcomes:?}"
        );
        let mut reused = other("c3");
        reused
            .data
            .insert("title".into(), serde_json::json!("yet another"));
        let outcomes = db.apply_changes(&ann, vec![reused], 50).await.unwrap();
        assert!(
            matches!(
                outcomes[..],
                [ChangeOutcome::Rejected {
                    code: legato_protocol::ErrorCode::ChangeIdReused,
                    ..
                }]
            ),
            "{outcomes:?}"
        );
        let hashes: Vec<(String, Option<i64>)> = db
            .read(|conn| {
                let mut stmt = conn.prepare(
                    "SELECT change_id, length(content_hash) FROM changes ORDER BY change_id",
                )?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await
            .unwrap();
        assert_eq!(
            hashes,
            [
                ("c1".to_owned(), None),
                ("c2".to_owned(), None),
                ("c3".to_owned(), Some(32))
            ]
        );
    }

    #[tokio::test]
    async fn pragmas_are_set() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(dir.path().join("nested/dir/p.db"))
            .await
            .unwrap();
        let (mode, sync, fk): (String, i64, i64) = db
            .write(|conn| {
                Ok((
                    conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
                    conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?,
                    conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
                ))
            })
            .await
            .unwrap();
        assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1));
        let read_only = db
            .read(|conn| Ok(conn.execute("DELETE FROM users", []).is_err()))
            .await
            .unwrap();
        assert!(read_only, "reader connections are query-only");
        db.close().await;
        assert!(matches!(db.health().await, Err(DbError::Closed)));
    }
}
