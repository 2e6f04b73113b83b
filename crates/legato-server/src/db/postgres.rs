//! PostgreSQL implementation of [`Database`] (`--database postgres://...`).
//!
//! Async all the way: `tokio-postgres` over a `deadpool-postgres` pool, no blocking threads.
//! Semantics are the SQLite backend's, checked by the same [`crate::conformance`] suite; what
//! differs is how they hold (docs/server-choices.md, "Storage (PostgreSQL)"):
//! - One user's writes are serialized by the database, not by this process: every apply
//!   transaction starts with `SELECT ... FROM users WHERE id = $1 FOR UPDATE`, so two
//!   transactions of one user (from this process or another one on the same database) run
//!   one after the other, and the second reads what the first committed (READ COMMITTED
//!   takes a fresh snapshot per statement). Seq, exactly-once and `stored_bytes` follow.
//! - An apply or prune step runs on its own task, so the commit and the commit hook happen
//!   even when the caller stops waiting (a sender whose connection dropped); `close` waits
//!   for those tasks.
//! - A change page and its latest seq are read in one REPEATABLE READ, read-only
//!   transaction; the page's byte bound is worked out in SQL, so a page never fetches more
//!   than it returns.
//! - Pruning takes its rows with `FOR UPDATE SKIP LOCKED`, so steps running at once (from
//!   several processes) take different rows and never count a row twice.
//! - A commit that writes notifies its `(user, seq)` on [`crate::cluster::POKE_CHANNEL`], and
//!   a revoke the token on [`crate::cluster::REVOKE_CHANNEL`], in the same transaction (sent
//!   if and only if it commits), for the other nodes ([`crate::cluster`]).

use std::collections::BTreeMap;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use legato_core::EntityRecord;
use legato_protocol::{Change, EntityId, EntityType, Fields, Operation};
use tokio::sync::Semaphore;
use tokio_postgres::{IsolationLevel, NoTls};
use tokio_util::task::TaskTracker;

use super::sqlite::{
    RecordedConflict, conflict_fields, corrupt, json_len, raw_state, seq_to_sql, text_len, to_json,
    touched_json,
};
use super::{
    ChangeOutcome, ChangesPage, Credentials, Database, DbError, Device, FullUpdate, NewToken,
    NewUser, OnCommit, PAGE_BYTES, PruneStep, RecordedChange, TokenRecord, UserId,
};
use crate::apply::{
    ContentHash, Evaluation, Stored, content_hash, data_hash, evaluate, live_update,
    repeat_conflict,
};
use crate::auth::TokenHash;
use crate::cluster::{BusConfig, POKE_CHANNEL, REVOKE_CHANNEL, poke_payload};

/// The schema migrations, in order, each applied once in the transaction that records it in
/// `legato_schema`. Never edit a shipped one: append.
const MIGRATIONS: &[&str] = &[
    include_str!("postgres_migrations/0001_initial.sql"),
    include_str!("postgres_migrations/0002_kept_records.sql"),
];

/// Key of the advisory lock the migrations run under, so server processes starting at once
/// on one database migrate one after the other ("legato" in ASCII).
const MIGRATION_LOCK: i64 = 0x6c65_6761_746f;

/// Pooled connections.
const MAX_CONNECTIONS: usize = 16;
/// Connections change pages may hold at once; the rest stay for token checks and writes.
const MAX_BULK_READERS: usize = 6;

/// A PostgreSQL database. Cheap to clone; all clones share the pool.
#[derive(Debug, Clone)]
pub struct PostgresDatabase {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    /// The connection settings, for the bus's listening connection.
    config: tokio_postgres::Config,
    bulk_permits: Semaphore,
    /// Bytes one account may store; 0: no limit.
    quota_bytes: AtomicU64,
    closed: AtomicBool,
    /// Applies and prune steps in flight (each on its own task), waited for by `close`.
    writes: TaskTracker,
}

fn backend(err: impl std::error::Error + Send + Sync + 'static) -> DbError {
    DbError::Backend(Box::new(err))
}

impl From<tokio_postgres::Error> for DbError {
    fn from(err: tokio_postgres::Error) -> Self {
        backend(err)
    }
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        match err {
            deadpool_postgres::PoolError::Closed => DbError::Closed,
            other => backend(other),
        }
    }
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn token_hash(bytes: Vec<u8>) -> Result<TokenHash, DbError> {
    bytes
        .try_into()
        .map(TokenHash)
        .map_err(|_| DbError::Corrupt("tokens.hash is not 32 bytes".into()))
}

fn content(bytes: Vec<u8>, what: &str) -> Result<ContentHash, DbError> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(ContentHash)
        .map_err(|_| corrupt(what, "not 32 bytes"))
}

impl PostgresDatabase {
    /// Connects to `url` (`postgres://user@host:port/db`, any form `tokio-postgres` parses)
    /// and migrates the database. Fails when it cannot connect, when the database's
    /// encoding is not UTF8 (byte counts would differ), or when its schema is newer than
    /// this server's.
    pub async fn open(url: &str) -> Result<Self, DbError> {
        let config = tokio_postgres::Config::from_str(url).map_err(backend)?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(MAX_CONNECTIONS)
            .build()
            .map_err(backend)?;
        {
            let mut client = pool.get().await?;
            let encoding: String = client.query_one("SHOW server_encoding", &[]).await?.get(0);
            if encoding != "UTF8" {
                return Err(DbError::Corrupt(format!(
                    "the database's encoding is {encoding}; create it with ENCODING 'UTF8'"
                )));
            }
            migrate(&mut client).await?;
        }
        Ok(PostgresDatabase {
            inner: Arc::new(Inner {
                pool,
                config,
                bulk_permits: Semaphore::new(MAX_BULK_READERS),
                quota_bytes: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                writes: TaskTracker::new(),
            }),
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, DbError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(DbError::Closed);
        }
        Ok(self.inner.pool.get().await?)
    }

    /// Runs `work` on its own task (tracked for `close`), so it finishes, commit hook
    /// included, even when the caller stops waiting: the task exists once the returned
    /// future has been polled once.
    async fn detached<T, F>(&self, work: F) -> Result<T, DbError>
    where
        F: Future<Output = Result<T, DbError>> + Send + 'static,
        T: Send + 'static,
    {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(DbError::Closed);
        }
        self.inner
            .writes
            .spawn(work)
            .await
            .map_err(|_| DbError::Corrupt("a database write task panicked".to_owned()))?
    }

    /// The schema version the database is at (the number of migrations applied).
    pub async fn schema_version(&self) -> Result<usize, DbError> {
        let client = self.client().await?;
        let version: i32 = client
            .query_one("SELECT max(version) FROM legato_schema", &[])
            .await?
            .get(0);
        Ok(usize::try_from(version).unwrap_or(0))
    }
}

/// Applies the migrations this database lacks, all in one transaction under an advisory
/// lock: a process starting beside another one waits for its migration, then finds nothing
/// left to do.
async fn migrate(client: &mut deadpool_postgres::Object) -> Result<(), DbError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS legato_schema (
             version    integer NOT NULL PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM legato_schema", &[])
        .await?
        .get(0);
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(DbError::Corrupt(format!(
            "the database's schema is version {current}, newer than this server's ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.batch_execute(sql).await?;
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO legato_schema (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        tracing::info!(version, "migrated the PostgreSQL schema");
    }
    tx.commit().await?;
    Ok(())
}

impl Database for PostgresDatabase {
    async fn create_user(&self, user: NewUser, token: NewToken) -> Result<(), DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let inserted = tx
            .execute(
                "INSERT INTO users (id, email, password_hash, seq, created_at)
                 VALUES ($1, $2, $3, 0, $4) ON CONFLICT (email) DO NOTHING",
                &[
                    &user.id.0,
                    &user.email,
                    &user.password_hash,
                    &user.created_at_ms,
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(DbError::EmailTaken);
        }
        insert_token(&tx, &token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn credentials(&self, email: &str) -> Result<Option<Credentials>, DbError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT id, password_hash FROM users WHERE email = $1")
            .await?;
        Ok(client
            .query_opt(&stmt, &[&email])
            .await?
            .map(|row| Credentials {
                user_id: UserId(row.get(0)),
                password_hash: row.get(1),
            }))
    }

    async fn insert_token(&self, token: NewToken) -> Result<(), DbError> {
        let client = self.client().await?;
        insert_token(&client, &token).await
    }

    async fn user_for_token(&self, hash: TokenHash) -> Result<Option<TokenRecord>, DbError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT user_id, id, last_used_at, client_id FROM tokens
                 WHERE hash = $1 AND revoked_at IS NULL",
            )
            .await?;
        Ok(client
            .query_opt(&stmt, &[&&hash.0[..]])
            .await?
            .map(|row| TokenRecord {
                user_id: UserId(row.get(0)),
                device_id: row.get(1),
                last_used_ms: row.get(2),
                client_id: row.get(3),
            }))
    }

    async fn touch_token(
        &self,
        hash: TokenHash,
        now_ms: i64,
        client_id: Option<String>,
    ) -> Result<(), DbError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE tokens SET last_used_at = greatest(last_used_at, $2),
                                   client_id = coalesce($3, client_id)
                 WHERE hash = $1 AND revoked_at IS NULL",
            )
            .await?;
        client
            .execute(&stmt, &[&&hash.0[..], &now_ms, &client_id])
            .await?;
        Ok(())
    }

    async fn devices(&self, user: &UserId) -> Result<Vec<Device>, DbError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, device_name, client_id, created_at, last_used_at, hash FROM tokens
                 WHERE user_id = $1 AND revoked_at IS NULL
                 ORDER BY created_at, id COLLATE \"C\"",
            )
            .await?;
        client
            .query(&stmt, &[&user.0])
            .await?
            .into_iter()
            .map(|row| {
                Ok(Device {
                    id: row.get(0),
                    name: row.get(1),
                    client_id: row.get(2),
                    created_ms: row.get(3),
                    last_used_ms: row.get(4),
                    token_hash: token_hash(row.get(5))?,
                })
            })
            .collect()
    }

    async fn revoke_device(
        &self,
        user: &UserId,
        device_id: &str,
        now_ms: i64,
    ) -> Result<Option<TokenHash>, DbError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "WITH revoked AS (
                     UPDATE tokens SET revoked_at = $3
                     WHERE user_id = $1 AND id = $2 AND revoked_at IS NULL RETURNING hash
                 )
                 SELECT hash, pg_notify($4, encode(hash, 'hex')) FROM revoked",
            )
            .await?;
        client
            .query_opt(&stmt, &[&user.0, &device_id, &now_ms, &REVOKE_CHANNEL])
            .await?
            .map(|row| token_hash(row.get(0)))
            .transpose()
    }

    async fn password_hash(&self, user: &UserId) -> Result<Option<String>, DbError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT password_hash FROM users WHERE id = $1")
            .await?;
        Ok(client
            .query_opt(&stmt, &[&user.0])
            .await?
            .map(|row| row.get(0)))
    }

    async fn change_password(
        &self,
        user: &UserId,
        password_hash: String,
        keep: TokenHash,
        now_ms: i64,
    ) -> Result<Vec<TokenHash>, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let updated = tx
            .execute(
                "UPDATE users SET password_hash = $2 WHERE id = $1",
                &[&user.0, &password_hash],
            )
            .await?;
        if updated == 0 {
            return Err(DbError::UnknownUser);
        }
        let revoked = tx
            .query(
                "WITH revoked AS (
                     UPDATE tokens SET revoked_at = $3
                     WHERE user_id = $1 AND hash <> $2 AND revoked_at IS NULL RETURNING hash
                 )
                 SELECT hash, pg_notify($4, encode(hash, 'hex')) FROM revoked",
                &[&user.0, &&keep.0[..], &now_ms, &REVOKE_CHANNEL],
            )
            .await?
            .into_iter()
            .map(|row| token_hash(row.get(0)))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn revoke_token(&self, hash: TokenHash, now_ms: i64) -> Result<bool, DbError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "WITH revoked AS (
                     UPDATE tokens SET revoked_at = $2 WHERE hash = $1 AND revoked_at IS NULL
                     RETURNING hash
                 )
                 SELECT pg_notify($3, encode(hash, 'hex')) FROM revoked",
                &[&&hash.0[..], &now_ms, &REVOKE_CHANNEL],
            )
            .await?;
        Ok(n == 1)
    }

    async fn apply_changes_then(
        &self,
        user: &UserId,
        changes: Vec<Change>,
        now_ms: i64,
        on_commit: OnCommit,
    ) -> Result<Vec<ChangeOutcome>, DbError> {
        let (db, user) = (self.clone(), user.clone());
        let quota = self.inner.quota_bytes.load(Ordering::Relaxed);
        self.detached(async move {
            let mut client = db.client().await?;
            let mut outcomes =
                apply_in_transaction(&mut client, &user, changes, now_ms, quota).await?;
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
        // Pages take bulk slots first: they can never hold every connection.
        let _bulk = self
            .inner
            .bulk_permits
            .acquire()
            .await
            .map_err(|_| DbError::Closed)?;
        let mut client = self.client().await?;
        changes_page(&mut client, user, types, since, limit).await
    }

    fn set_user_quota(&self, bytes: Option<u64>) {
        self.inner
            .quota_bytes
            .store(bytes.unwrap_or(0), Ordering::Relaxed);
    }

    async fn stored_bytes(&self, user: &UserId) -> Result<u64, DbError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT stored_bytes FROM users WHERE id = $1")
            .await?;
        Ok(client
            .query_opt(&stmt, &[&user.0])
            .await?
            .map_or(0, |row| to_u64(row.get(0))))
    }

    async fn prune_step(&self, cutoff_ms: i64, max_rows: usize) -> Result<PruneStep, DbError> {
        let db = self.clone();
        self.detached(async move {
            let mut client = db.client().await?;
            prune_in_transaction(&mut client, cutoff_ms, max_rows).await
        })
        .await
    }

    async fn health(&self) -> Result<(), DbError> {
        let client = self.client().await?;
        client.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    fn bus(&self) -> Option<BusConfig> {
        Some(BusConfig::new(self.inner.config.clone()))
    }

    async fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.writes.close();
        self.inner.writes.wait().await;
        self.inner.pool.close();
    }
}

async fn insert_token(client: &impl GenericClient, token: &NewToken) -> Result<(), DbError> {
    let device_id = hex::encode(rand::random::<[u8; 16]>());
    let stmt = client
        .prepare_cached(
            "INSERT INTO tokens (hash, user_id, device_name, created_at, id, last_used_at)
             VALUES ($1, $2, $3, $4, $5, $4)",
        )
        .await?;
    client
        .execute(
            &stmt,
            &[
                &&token.hash.0[..],
                &token.user_id.0,
                &token.device_name,
                &token.created_at_ms,
                &device_id,
            ],
        )
        .await?;
    Ok(())
}

async fn apply_in_transaction(
    client: &mut deadpool_postgres::Object,
    user: &UserId,
    changes: Vec<Change>,
    now_ms: i64,
    quota: u64,
) -> Result<Vec<ChangeOutcome>, DbError> {
    let tx = client.transaction().await?;
    // The user's row lock: one user's writes, from any process, one transaction at a time.
    let lock = tx
        .prepare_cached("SELECT seq, stored_bytes FROM users WHERE id = $1 FOR UPDATE")
        .await?;
    let row = tx
        .query_opt(&lock, &[&user.0])
        .await?
        .ok_or(DbError::UnknownUser)?;
    let start_seq = to_u64(row.get(0));
    let start_bytes: i64 = row.get(1);
    let mut seq = start_seq;
    let mut stored = start_bytes;
    let mut outcomes = Vec::with_capacity(changes.len());
    for change in changes {
        let hash = content_hash(&change);
        if let Some(mut recorded) = recorded_change(&tx, user, &change.change_id).await? {
            if recorded.pruned {
                let current = load_entity(&tx, user, change.entity_type, &change.entity_id).await?;
                recorded = recorded.standing_on(&change, current.as_ref());
            }
            outcomes.push(recorded.answer_repeat(&change.change_id, &hash));
            continue;
        }
        let current = load_entity(&tx, user, change.entity_type, &change.entity_id).await?;
        if let Some((recorded_hash, fields)) =
            recorded_conflict(&tx, user, &change.change_id).await?
        {
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
                if super::over_quota(quota, stored, growth) {
                    super::quota_refusal(quota)
                } else {
                    stored = stored.saturating_add(growth);
                    record_conflict(&tx, user, &change, &fields_json, now_ms).await?;
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
                if change.operation != Operation::Delete && super::over_quota(quota, stored, growth)
                {
                    super::quota_refusal(quota)
                } else {
                    stored = stored.saturating_add(growth);
                    let record = Record {
                        version,
                        seq: entity_seq,
                        touched: &record_json,
                        status: "unchanged",
                        hash: &hash,
                    };
                    record_change(&tx, user, &change, &record, now_ms).await?;
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
                if change.operation != Operation::Delete && super::over_quota(quota, stored, growth)
                {
                    super::quota_refusal(quota)
                } else {
                    stored = stored.saturating_add(growth);
                    seq += 1;
                    store_entity(&tx, user, &change, &record, seq, now_ms).await?;
                    let recorded = Record {
                        version: record.version,
                        seq,
                        touched: &record_json,
                        status: "applied",
                        hash: &hash,
                    };
                    record_change(&tx, user, &change, &recorded, now_ms).await?;
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
        // With the other nodes' poke when something was written: sent at the commit.
        let save = tx
            .prepare_cached(
                "WITH saved AS (
                     UPDATE users SET seq = $2, stored_bytes = $3 WHERE id = $1 RETURNING id
                 )
                 SELECT pg_notify($4, $5::text) FROM saved WHERE $5::text IS NOT NULL",
            )
            .await?;
        let poke = (seq != start_seq).then(|| poke_payload(user, seq));
        tx.execute(
            &save,
            &[
                &user.0,
                &seq_to_sql(seq),
                &stored.max(0),
                &POKE_CHANNEL,
                &poke,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// One step of [`Database::prune_step`] (see `prune_in_transaction` of the SQLite backend
/// for the rule; here the rows are taken with `FOR UPDATE SKIP LOCKED`, so steps running at
/// once take different rows, and the accounts' rows are updated in id order, so two steps
/// never wait for each other in a cycle).
async fn prune_in_transaction(
    client: &mut deadpool_postgres::Object,
    cutoff_ms: i64,
    max_rows: usize,
) -> Result<PruneStep, DbError> {
    let max_rows = max_rows.max(1);
    let limit = i64::try_from(max_rows).unwrap_or(i64::MAX);
    let tx = client.transaction().await?;
    let mut freed: BTreeMap<String, i64> = BTreeMap::new();
    let records = tx
        .query(
            "WITH picked AS (
                 SELECT user_id, change_id, octet_length(touched)::bigint AS bytes FROM changes
                 WHERE NOT pruned AND recorded_at < $1 ORDER BY recorded_at LIMIT $2
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE changes c SET touched = '', pruned = true FROM picked p
             WHERE c.user_id = p.user_id AND c.change_id = p.change_id AND NOT c.pruned
             RETURNING c.user_id, p.bytes",
            &[&cutoff_ms, &limit],
        )
        .await?;
    for row in &records {
        *freed.entry(row.get(0)).or_default() += row.get::<_, i64>(1);
    }
    let tombstones = tx
        .query(
            "WITH picked AS (
                 SELECT user_id, entity_type, entity_id, octet_length(state)::bigint AS bytes
                 FROM entities
                 WHERE deleted AND state <> '{}' AND updated_at < $1
                 ORDER BY updated_at LIMIT $2
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE entities e SET state = '{}', field_versions = '{}' FROM picked p
             WHERE e.user_id = p.user_id AND e.entity_type = p.entity_type
               AND e.entity_id = p.entity_id AND e.state <> '{}'
             RETURNING e.user_id, p.bytes",
            &[&cutoff_ms, &limit],
        )
        .await?;
    for row in &tombstones {
        *freed.entry(row.get(0)).or_default() += row.get::<_, i64>(1) - text_len("{}");
    }
    let conflicts = tx
        .query(
            "WITH picked AS (
                 SELECT user_id, change_id, octet_length(fields)::bigint AS bytes
                 FROM conflicted_changes
                 WHERE NOT pruned AND recorded_at < $1 ORDER BY recorded_at LIMIT $2
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE conflicted_changes c SET fields = '', pruned = true FROM picked p
             WHERE c.user_id = p.user_id AND c.change_id = p.change_id AND NOT c.pruned
             RETURNING c.user_id, p.bytes",
            &[&cutoff_ms, &limit],
        )
        .await?;
    for row in &conflicts {
        *freed.entry(row.get(0)).or_default() += row.get::<_, i64>(1);
    }
    let shrink = tx
        .prepare_cached(
            "UPDATE users SET stored_bytes = greatest(stored_bytes - $2, 0) WHERE id = $1",
        )
        .await?;
    for (user, bytes) in &freed {
        tx.execute(&shrink, &[user, bytes]).await?;
    }
    tx.commit().await?;
    let freed_bytes = freed.values().map(|b| to_u64(*b)).sum();
    Ok(PruneStep {
        records: records.len() as u64,
        tombstones: tombstones.len() as u64,
        conflicts: conflicts.len() as u64,
        freed_bytes,
        done: records.len() < max_rows && tombstones.len() < max_rows && conflicts.len() < max_rows,
    })
}

/// The data hash and fields of `change_id`'s recorded `conflict` answer, if it got one
/// (`None` for the fields once they were pruned).
async fn recorded_conflict(
    tx: &impl GenericClient,
    user: &UserId,
    change_id: &str,
) -> Result<Option<RecordedConflict>, DbError> {
    let stmt = tx
        .prepare_cached(
            "SELECT data_hash, fields, pruned FROM conflicted_changes
             WHERE user_id = $1 AND change_id = $2",
        )
        .await?;
    tx.query_opt(&stmt, &[&user.0, &change_id])
        .await?
        .map(|row| {
            let hash = content(row.get(0), "conflicted_changes.data_hash")?;
            let fields: String = row.get(1);
            Ok((hash, conflict_fields(&fields, row.get(2))?))
        })
        .transpose()
}

/// Records `change`'s `conflict` answer; `fields` is the JSON array of its fields.
async fn record_conflict(
    tx: &impl GenericClient,
    user: &UserId,
    change: &Change,
    fields: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO conflicted_changes (user_id, change_id, data_hash, fields, recorded_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id, change_id) DO NOTHING",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &user.0,
            &change.change_id,
            &&data_hash(change).0[..],
            &fields,
            &now_ms,
        ],
    )
    .await?;
    Ok(())
}

async fn recorded_change(
    tx: &impl GenericClient,
    user: &UserId,
    change_id: &str,
) -> Result<Option<RecordedChange>, DbError> {
    let stmt = tx
        .prepare_cached(
            "SELECT version, seq, touched, status, content_hash, pruned FROM changes
             WHERE user_id = $1 AND change_id = $2",
        )
        .await?;
    let Some(row) = tx.query_opt(&stmt, &[&user.0, &change_id]).await? else {
        return Ok(None);
    };
    let pruned: bool = row.get(5);
    let mut touched: Fields = if pruned {
        Fields::new()
    } else {
        serde_json::from_str(row.get(2)).map_err(|e| corrupt("changes.touched", e))?
    };
    if legato_protocol::has_deflated(&touched) {
        touched =
            legato_protocol::inflate_fields(&touched).map_err(|e| corrupt("changes.touched", e))?;
    }
    let unchanged = match row.get::<_, &str>(3) {
        "applied" => false,
        "unchanged" => true,
        other => return Err(corrupt("changes.status", other)),
    };
    Ok(Some(RecordedChange {
        version: to_u64(row.get(0)),
        seq: to_u64(row.get(1)),
        touched,
        unchanged,
        content_hash: Some(content(row.get(4), "changes.content_hash")?),
        pruned,
    }))
}

async fn load_entity(
    tx: &impl GenericClient,
    user: &UserId,
    entity_type: EntityType,
    entity_id: &EntityId,
) -> Result<Option<Stored>, DbError> {
    let stmt = tx
        .prepare_cached(
            "SELECT state, version, field_versions, deleted, last_seq FROM entities
             WHERE user_id = $1 AND entity_type = $2 AND entity_id = $3",
        )
        .await?;
    let Some(row) = tx
        .query_opt(
            &stmt,
            &[&user.0, &entity_type.as_str(), &entity_id.as_str()],
        )
        .await?
    else {
        return Ok(None);
    };
    let state: Fields =
        serde_json::from_str(row.get(0)).map_err(|e| corrupt("entities.state", e))?;
    let field_versions: BTreeMap<String, u64> =
        serde_json::from_str(row.get(2)).map_err(|e| corrupt("entities.field_versions", e))?;
    Ok(Some(Stored {
        record: EntityRecord {
            state,
            version: to_u64(row.get(1)),
            field_versions,
            deleted: row.get(3),
        },
        last_seq: to_u64(row.get(4)),
    }))
}

async fn store_entity(
    tx: &impl GenericClient,
    user: &UserId,
    change: &Change,
    record: &EntityRecord,
    seq: u64,
    now_ms: i64,
) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO entities (user_id, entity_type, entity_id, state, version,
                                   field_versions, deleted, last_seq, last_change_id,
                                   last_client_id, last_timestamp, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (user_id, entity_type, entity_id) DO UPDATE SET
                 state = excluded.state, version = excluded.version,
                 field_versions = excluded.field_versions, deleted = excluded.deleted,
                 last_seq = excluded.last_seq, last_change_id = excluded.last_change_id,
                 last_client_id = excluded.last_client_id,
                 last_timestamp = excluded.last_timestamp, updated_at = excluded.updated_at",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &user.0,
            &change.entity_type.as_str(),
            &change.entity_id.as_str(),
            &to_json(&record.state)?,
            &seq_to_sql(record.version),
            &to_json(&record.field_versions)?,
            &record.deleted,
            &seq_to_sql(seq),
            &change.change_id,
            &change.client_id,
            &change.timestamp,
            &now_ms,
        ],
    )
    .await?;
    Ok(())
}

/// What a change id's record says, as written.
struct Record<'a> {
    version: u64,
    seq: u64,
    touched: &'a str,
    status: &'a str,
    hash: &'a ContentHash,
}

async fn record_change(
    tx: &impl GenericClient,
    user: &UserId,
    change: &Change,
    record: &Record<'_>,
    now_ms: i64,
) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO changes (user_id, change_id, entity_type, entity_id, operation,
                                  version, seq, touched, client_id, timestamp, status,
                                  recorded_at, content_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &user.0,
            &change.change_id,
            &change.entity_type.as_str(),
            &change.entity_id.as_str(),
            &change.operation.as_str(),
            &seq_to_sql(record.version),
            &seq_to_sql(record.seq),
            &record.touched,
            &change.client_id,
            &change.timestamp,
            &record.status,
            &now_ms,
            &&record.hash.0[..],
        ],
    )
    .await?;
    Ok(())
}

/// A page of [`Database::changes_since`]: the entities are chosen by their seq and the
/// byte size of their states (`octet_length`, which reads no TOASTed value) first, and only
/// those the page holds are fetched whole: at most `limit`, and no more than
/// [`PAGE_BYTES`] of state unless the first alone is larger.
async fn changes_page(
    client: &mut deadpool_postgres::Object,
    user: &UserId,
    types: &[EntityType],
    since: u64,
    limit: usize,
) -> Result<ChangesPage, DbError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let latest = tx
        .prepare_cached("SELECT seq FROM users WHERE id = $1")
        .await?;
    let latest_seq = tx
        .query_opt(&latest, &[&user.0])
        .await?
        .map_or(0, |row| to_u64(row.get(0)));
    let mut types: Vec<&'static str> = types.iter().map(|t| t.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    let all_types = types.is_empty() || types.len() == EntityType::ALL.len();
    let type_filter = if all_types {
        ""
    } else {
        "AND entity_type = ANY($6)"
    };
    let sql = format!(
        "WITH candidates AS (
             SELECT entity_type, entity_id, last_seq, octet_length(state)::bigint AS bytes
             FROM entities WHERE user_id = $1 AND last_seq > $2 {type_filter}
             ORDER BY last_seq LIMIT $3
         ), sized AS (
             SELECT entity_type, entity_id, last_seq,
                    row_number() OVER (ORDER BY last_seq) AS n,
                    (sum(bytes) OVER (ORDER BY last_seq))::bigint AS running,
                    count(*) OVER () AS candidates
             FROM candidates
         )
         SELECT e.entity_type, e.entity_id, e.state, e.version, e.deleted, e.last_seq,
                e.last_timestamp, e.last_client_id, e.last_change_id, s.candidates
         FROM sized s JOIN entities e ON e.user_id = $1 AND e.entity_type = s.entity_type
                                     AND e.entity_id = s.entity_id
         WHERE s.n <= $4 AND (s.n = 1 OR s.running <= $5)
         ORDER BY s.last_seq"
    );
    let stmt = tx.prepare_cached(&sql).await?;
    let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
    let fetch = limit_sql.saturating_add(1);
    let page_bytes = i64::try_from(PAGE_BYTES).unwrap_or(i64::MAX);
    let since_sql = seq_to_sql(since);
    let rows = if all_types {
        tx.query(
            &stmt,
            &[&user.0, &since_sql, &fetch, &limit_sql, &page_bytes],
        )
        .await?
    } else {
        tx.query(
            &stmt,
            &[&user.0, &since_sql, &fetch, &limit_sql, &page_bytes, &types],
        )
        .await?
    };
    let mut candidates = 0i64;
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        candidates = row.get(9);
        let entity_type: EntityType = row
            .get::<_, &str>(0)
            .parse()
            .map_err(|e| corrupt("entities.entity_type", e))?;
        let entity_id: String = row.get(1);
        let deleted: bool = row.get(4);
        // A tombstone travels as `deleted: true` with no fields.
        let state = if deleted { "{}".to_owned() } else { row.get(2) };
        changes.push(FullUpdate {
            entity_type,
            entity_id: EntityId::new(entity_id).map_err(|e| corrupt("entities.entity_id", e))?,
            data: raw_state(state)?,
            version: to_u64(row.get(3)),
            deleted,
            seq: to_u64(row.get(5)),
            timestamp: row.get(6),
            user_id: user.0.clone(),
            client_id: row.get(7),
            change_id: row.get(8),
        });
    }
    tx.commit().await?;
    let has_more = usize::try_from(candidates).unwrap_or(0) > changes.len();
    Ok(ChangesPage {
        changes,
        has_more,
        latest_seq,
    })
}
