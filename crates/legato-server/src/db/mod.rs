//! Server storage behind one trait, one implementation per backend.
//!
//! [`Database`] is what the server needs from a store; [`sqlite::SqliteDatabase`] is the
//! default implementation and [`postgres::PostgresDatabase`] the one for several server
//! processes on one database, each with its own migrations, both passing the same
//! [`crate::conformance`] suite. Everything is keyed by user id: two
//! users never share a row, whatever entity or change ids they send.
//!
//! The apply rule itself is not here: a backend opens one transaction per call of
//! [`Database::apply_changes`], reads, asks the pure [`crate::apply::evaluate`] what to do, and
//! writes what it says, so every backend applies changes identically.

pub mod postgres;
pub mod sqlite;

use std::fmt;
use std::future::Future;

use legato_protocol::{Change, ConflictData, EntityId, EntityType, ErrorCode, Fields, UpdateData};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::apply::{ContentHash, Stored};
use crate::auth::TokenHash;

/// A user's id (UUID v7, assigned at registration).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub String);

impl UserId {
    pub fn generate() -> Self {
        UserId(uuid::Uuid::now_v7().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    /// Already normalised (trimmed, lowercase).
    pub email: String,
    /// PHC string (argon2id).
    pub password_hash: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub hash: TokenHash,
    pub user_id: UserId,
    pub device_name: Option<String>,
    pub created_at_ms: i64,
}

/// A live (not revoked) token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub user_id: UserId,
    /// The token's public id: the device id of `GET /api/devices`.
    pub device_id: String,
    /// When the token was last used (its creation until then), for the idle expiry.
    pub last_used_ms: i64,
    /// The `clientId` of the last WebSocket `hello` made with the token.
    pub client_id: Option<String>,
}

/// A signed-in device: one live token of the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub name: Option<String>,
    /// The `clientId` of the last WebSocket `hello` made with the token.
    pub client_id: Option<String>,
    pub created_ms: i64,
    pub last_used_ms: i64,
    pub token_hash: TokenHash,
}

/// What login needs to check a password.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user_id: UserId,
    pub password_hash: String,
}

/// The result of one change, in the order the changes were given.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeOutcome {
    /// Durable. `update` is the partial update to fan out (None for a no-op update, rule 6).
    Applied {
        version: u64,
        seq: u64,
        touched: Fields,
        update: Option<UpdateData>,
        /// Rule 6: the change wrote nothing, and `seq` is the entity's last change (maybe
        /// another device's), not a seq of this change. On the wire as the ack's `unchanged`.
        unchanged: bool,
    },
    /// The change id was applied before: its recorded result.
    Duplicate {
        version: u64,
        seq: u64,
        touched: Fields,
        /// The recorded change wrote nothing (it was answered `unchanged`).
        unchanged: bool,
    },
    Conflict(ConflictData),
    /// An `error` answer (`not_found`, `invalid`, `too_large`, `change_id_reused`); nothing
    /// written.
    Rejected {
        code: ErrorCode,
        message: String,
    },
}

/// A change id's record (rule 1) as a backend stored it: the result the change got, and what
/// the change was.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedChange {
    pub version: u64,
    pub seq: u64,
    pub touched: Fields,
    /// The change wrote nothing (rule 6; status `unchanged`).
    pub unchanged: bool,
    /// [`crate::apply::content_hash`] of the change. `None` for a record written before
    /// hashes were kept: it matches any content, as every repeat did then.
    pub content_hash: Option<ContentHash>,
    /// The record's payload (`touched`) was pruned ([`Database::prune_step`]): `touched` is
    /// empty, and a repeat is answered by [`RecordedChange::standing_on`] the entity as it
    /// is now.
    pub pruned: bool,
}

impl RecordedChange {
    /// The answer to a repeat of a record whose payload was pruned, made from the entity as
    /// it is now (`current`; the repeat's `change` names the fields it touched, since only
    /// the same content is answered `duplicate`): its current `version`, the seq of its last
    /// change, the current stored values of the change's fields (`null` for one the state
    /// lacks; none for a delete or a tombstone), and `unchanged`, because that `seq` and
    /// `version` may be other devices' changes the client has not seen: it settles the
    /// change without claiming the version and catches up from its cursor
    /// (docs/PROTOCOL-NOTES.md, "Duplicates of pruned changes"). A record that was not
    /// pruned is returned as it is.
    pub fn standing_on(self, change: &Change, current: Option<&Stored>) -> RecordedChange {
        if !self.pruned {
            return self;
        }
        let Some(current) = current else {
            // Entities are never removed; keep what the record says.
            return RecordedChange {
                unchanged: true,
                ..self
            };
        };
        let touched =
            if current.record.deleted || change.operation == legato_protocol::Operation::Delete {
                Fields::new()
            } else {
                change
                    .data
                    .keys()
                    .map(|name| {
                        let value = current.record.state.get(name).cloned();
                        (name.clone(), value.unwrap_or(serde_json::Value::Null))
                    })
                    .collect()
            };
        RecordedChange {
            version: current.record.version,
            seq: current.last_seq,
            touched,
            unchanged: true,
            ..self
        }
    }

    /// The answer to `change_id` pushed again with content `hash`: the recorded result, as
    /// `duplicate`, when it is the same change; `change_id_reused` when it is another one
    /// under a used id. A backend writes nothing for the repeat either way (and records no
    /// refusal, so a resend is evaluated afresh like any `error`).
    pub fn answer_repeat(self, change_id: &str, hash: &ContentHash) -> ChangeOutcome {
        if self.content_hash.is_some_and(|recorded| recorded != *hash) {
            return ChangeOutcome::Rejected {
                code: ErrorCode::ChangeIdReused,
                message: format!(
                    "changeId `{change_id}` was already used for a different change; \
                     nothing was applied: send this change under a new changeId"
                ),
            };
        }
        ChangeOutcome::Duplicate {
            version: self.version,
            seq: self.seq,
            touched: self.touched,
            unchanged: self.unchanged,
        }
    }
}

/// What one [`Database::prune_step`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStep {
    /// Change records whose payload was dropped.
    pub records: u64,
    /// Tombstones whose last state was dropped.
    pub tombstones: u64,
    /// Records of `conflict` answers whose field names were dropped.
    pub conflicts: u64,
    /// Bytes the accounts' stored bytes went down by, in total.
    pub freed_bytes: u64,
    /// Nothing older than the cutoff is left to prune.
    pub done: bool,
}

/// What the quota counts for each change record and each record of a `conflict` answer
/// beside its payload, from the moment it is recorded and forever (pruning drops the
/// payload, never the record): an estimate of what its ids, hash, numbers and index entries
/// take (docs/server-choices.md, "Storage quota"). So the records an account keeps after
/// pruning are counted too, and many small changes fill a quota as surely as large ones.
pub const RECORD_BYTES: i64 = 256;

/// The quota rule of [`Database::set_user_quota`], shared by the backends: a write that
/// grows (`growth > 0`) an account storing `stored` bytes past `quota` (0: none) is refused;
/// one that shrinks it always goes, so a full account can make room.
pub(crate) fn over_quota(quota: u64, stored: i64, growth: i64) -> bool {
    quota > 0
        && growth > 0
        && stored.saturating_add(growth) > i64::try_from(quota).unwrap_or(i64::MAX)
}

/// The answer to a change [`over_quota`] refuses.
pub(crate) fn quota_refusal(quota: u64) -> ChangeOutcome {
    ChangeOutcome::Rejected {
        code: ErrorCode::QuotaExceeded,
        message: format!(
            "this account's storage quota ({} MB) is used up; the change waits until \
             something is deleted or the quota is raised",
            quota / 1_000_000
        ),
    }
}

/// Run by a backend right after the commit of [`Database::apply_changes_then`] and before
/// that call returns, on whichever thread committed, in commit order. It must be quick and
/// must not block: the server fans live updates out from here, so another device hears of a
/// change without waiting for the committing thread to hand the result back first, and
/// whether or not the caller still waits for it (a committed change is always fanned out).
pub type OnCommit = Box<dyn FnOnce(&mut [ChangeOutcome]) + Send>;

/// Most bytes of stored state one page of the change stream holds (catch-up pages and
/// `GET /api/sync/changes`): pages are sized by bytes as well as by count, so a page of
/// large entities is not hundreds of MiB in memory.
pub const PAGE_BYTES: usize = legato_protocol::MAX_MESSAGE_BYTES;

/// A page of the change stream: one `full: true` update per entity, in `seq` order.
#[derive(Debug, Clone)]
pub struct ChangesPage {
    pub changes: Vec<FullUpdate>,
    /// More entities changed after the last one in `changes`.
    pub has_more: bool,
    /// The user's latest seq, read in the same transaction as `changes`.
    pub latest_seq: u64,
}

/// A `full: true` update as stored: `data` is the stored state's JSON text, unparsed.
///
/// Catch-up sends these by the thousand; parsing each state into [`Fields`] only to serialize
/// it again was a large share of the server's time. Serializes exactly as the [`UpdateData`]
/// of [`FullUpdate::to_update_data`] does (same fields, same order).
#[derive(Debug, Clone)]
pub struct FullUpdate {
    pub entity_type: EntityType,
    pub entity_id: EntityId,
    /// A JSON object: the whole state, `{}` for a tombstone.
    pub data: Box<RawValue>,
    pub version: u64,
    pub deleted: bool,
    pub seq: u64,
    pub timestamp: i64,
    pub user_id: String,
    pub client_id: String,
    pub change_id: String,
}

impl FullUpdate {
    /// The parsed form (for rewriting `data`, e.g. compressing long strings).
    pub fn to_update_data(&self) -> Result<UpdateData, DbError> {
        let data: Fields = serde_json::from_str(self.data.get())
            .map_err(|e| DbError::Corrupt(format!("entities.state: {e}")))?;
        Ok(UpdateData {
            entity_type: self.entity_type,
            entity_id: self.entity_id.clone(),
            data,
            version: self.version,
            deleted: self.deleted,
            seq: self.seq,
            timestamp: self.timestamp,
            user_id: self.user_id.clone(),
            client_id: self.client_id.clone(),
            change_id: self.change_id.clone(),
            full: true,
        })
    }
}

impl Serialize for FullUpdate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// Mirrors [`UpdateData`] field for field.
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            entity_type: EntityType,
            entity_id: &'a str,
            data: &'a RawValue,
            version: u64,
            deleted: bool,
            seq: u64,
            timestamp: i64,
            user_id: &'a str,
            client_id: &'a str,
            change_id: &'a str,
            full: bool,
        }
        Wire {
            entity_type: self.entity_type,
            // As a plain string: `EntityId` serializes through a clone.
            entity_id: self.entity_id.as_str(),
            data: &self.data,
            version: self.version,
            deleted: self.deleted,
            seq: self.seq,
            timestamp: self.timestamp,
            user_id: &self.user_id,
            client_id: &self.client_id,
            change_id: &self.change_id,
            full: true,
        }
        .serialize(serializer)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("email already registered")]
    EmailTaken,
    #[error("unknown user")]
    UnknownUser,
    #[error("database is closed")]
    Closed,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl DbError {
    /// Whether the same call may succeed later (busy database, I/O hiccup).
    pub fn is_retryable(&self) -> bool {
        matches!(self, DbError::Backend(_))
    }
}

/// What the server needs from its store. Every method is one atomic operation.
pub trait Database: Clone + Send + Sync + 'static {
    /// Creates the user and its first token in one transaction.
    /// [`DbError::EmailTaken`] when the email has an account.
    fn create_user(
        &self,
        user: NewUser,
        token: NewToken,
    ) -> impl Future<Output = Result<(), DbError>> + Send;

    fn credentials(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Option<Credentials>, DbError>> + Send;

    fn insert_token(&self, token: NewToken) -> impl Future<Output = Result<(), DbError>> + Send;

    /// A token that exists and is not revoked.
    fn user_for_token(
        &self,
        hash: TokenHash,
    ) -> impl Future<Output = Result<Option<TokenRecord>, DbError>> + Send;

    /// Records a use of a live token at `now_ms` and, when given, the `clientId` of the
    /// device using it. Does nothing for a revoked or unknown token.
    fn touch_token(
        &self,
        hash: TokenHash,
        now_ms: i64,
        client_id: Option<String>,
    ) -> impl Future<Output = Result<(), DbError>> + Send;

    /// The user's live tokens, oldest first.
    fn devices(&self, user: &UserId) -> impl Future<Output = Result<Vec<Device>, DbError>> + Send;

    /// Revokes the user's live token whose public id is `device_id`; its hash, or `None`
    /// when the user has no such live token (another user's id included).
    fn revoke_device(
        &self,
        user: &UserId,
        device_id: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<Option<TokenHash>, DbError>> + Send;

    /// The user's password hash (PHC string).
    fn password_hash(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<Option<String>, DbError>> + Send;

    /// Sets the user's password hash and revokes every other live token of the user, in one
    /// transaction; returns the revoked tokens' hashes.
    fn change_password(
        &self,
        user: &UserId,
        password_hash: String,
        keep: TokenHash,
        now_ms: i64,
    ) -> impl Future<Output = Result<Vec<TokenHash>, DbError>> + Send;

    /// Marks the token revoked; false when it did not exist or was already revoked.
    fn revoke_token(
        &self,
        hash: TokenHash,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;

    /// Applies `changes` in order, each by PROTOCOL.md section 3, in one transaction: the
    /// entity, its versions, the user's seq and the record of the change id (with its
    /// [`crate::apply::content_hash`]) are written together, and nothing is acknowledged
    /// before the commit. A seen change id is answered by [`RecordedChange::answer_repeat`]. Timestamps must already be
    /// clamped. [`DbError::UnknownUser`] if the user does not exist.
    fn apply_changes(
        &self,
        user: &UserId,
        changes: Vec<Change>,
        now_ms: i64,
    ) -> impl Future<Output = Result<Vec<ChangeOutcome>, DbError>> + Send {
        self.apply_changes_then(user, changes, now_ms, Box::new(|_| {}))
    }

    /// [`Database::apply_changes`], running `on_commit` on the outcomes once the transaction
    /// committed (not when it fails).
    fn apply_changes_then(
        &self,
        user: &UserId,
        changes: Vec<Change>,
        now_ms: i64,
        on_commit: OnCommit,
    ) -> impl Future<Output = Result<Vec<ChangeOutcome>, DbError>> + Send;

    /// Entities of `types` (all types when empty) whose last change has `seq > since`, in
    /// seq order, at most `limit`, and no more than [`PAGE_BYTES`] of stored state (a page
    /// always holds at least one entity, so one of up to 1 MiB still goes through).
    fn changes_since(
        &self,
        user: &UserId,
        types: &[EntityType],
        since: u64,
        limit: usize,
    ) -> impl Future<Output = Result<ChangesPage, DbError>> + Send;

    /// Sets the bytes one account may store (`None`: no limit). A write that would grow an
    /// account past it is answered `quota_exceeded` and stores nothing; deletes and writes
    /// that shrink the account always go.
    fn set_user_quota(&self, bytes: Option<u64>);

    /// The bytes `user` stores: the JSON text of its entities' states, of its change
    /// records' `touched` and of its conflict records' field names, plus [`RECORD_BYTES`]
    /// for every change record and every conflict record, pruned or not.
    fn stored_bytes(&self, user: &UserId) -> impl Future<Output = Result<u64, DbError>> + Send;

    /// One bounded step of pruning (the rule: docs/server-choices.md, "Pruning"), in one
    /// transaction: at most `max_rows` change records recorded before `cutoff_ms` drop their
    /// payload (`touched`; the record of the id, its content hash, version, seq and status
    /// stay forever, so a repeat is still a `duplicate`, answered by
    /// [`RecordedChange::standing_on`]), and at most `max_rows` tombstones last written
    /// before `cutoff_ms` drop their last state (the row stays, deleted, with its version,
    /// seq and last change, so catch-up still sends it; rule 5 conflicts then carry
    /// `remote: {}`), and at most `max_rows` records of `conflict` answers recorded before
    /// `cutoff_ms` drop their field names (the id and data hash stay forever, so the
    /// answer stays `conflict`: [`crate::apply::repeat_conflict`]). Each account's
    /// [`Database::stored_bytes`] goes down by exactly what was dropped. Any account's
    /// rows, oldest first; call again until [`PruneStep::done`] (other writes run between
    /// the steps).
    fn prune_step(
        &self,
        cutoff_ms: i64,
        max_rows: usize,
    ) -> impl Future<Output = Result<PruneStep, DbError>> + Send;

    /// Answers when the store can run a query.
    fn health(&self) -> impl Future<Output = Result<(), DbError>> + Send;

    /// The bus of a backend several server processes share (PostgreSQL: its commits and
    /// revokes are notified, and [`crate::cluster`] listens); `None` (the default) for one
    /// only one process uses.
    fn bus(&self) -> Option<crate::cluster::BusConfig> {
        None
    }

    /// Finishes pending writes and releases the store; later calls fail with `Closed`.
    fn close(&self) -> impl Future<Output = ()> + Send;
}
