//! What the engine tells the outside: the current [`SyncStatus`] (a `watch` value), the
//! [`SyncEvent`]s (a `broadcast` stream) and the [`SyncReport`] of a "sync now".
//!
//! All serialise to camelCase JSON for the UI and `status --json`.

use legato_protocol::{EntityId, EntityType, ErrorCode};
use serde::Serialize;

use crate::health::{MetricsRecorder, SyncMetrics};

/// Where the connection to the server stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ConnectionState {
    /// Not connected; a reconnect is scheduled (see [`SyncStatus::next_retry_at`]).
    Offline,
    /// A connection attempt is under way.
    Connecting,
    /// Connected (catching up while [`SyncStatus::catching_up`] is set).
    Connected,
    /// The user paused sync.
    Paused,
    /// No token, or the server refused it.
    SignedOut,
}

/// Progress of the catch-up after (re)connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatchUpProgress {
    /// The cursor the catch-up started from.
    pub since: u64,
    /// Updates received so far.
    pub received: u64,
    /// Updates durably applied so far.
    pub applied: u64,
    /// The `seq` of the last update received.
    pub seq: u64,
}

/// A snapshot of the engine, published on every change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    pub connection: ConnectionState,
    /// Changes in the outbox (waiting or in flight).
    pub pending: u64,
    /// Changes the server refused for good; they wait for the user (retry or discard).
    pub dead_letters: u64,
    /// Conflicts waiting for the user's decision.
    pub conflicts: u64,
    /// The highest server `seq` durably applied here.
    pub cursor: u64,
    /// The server's latest `seq` as of the last `sync_complete`.
    pub server_seq: Option<u64>,
    pub catching_up: Option<CatchUpProgress>,
    /// When the next reconnect attempt is due (ms since the epoch), while offline.
    pub next_retry_at: Option<i64>,
    pub metrics: SyncMetrics,
    /// The engine's latest problem, typed where it happened; `None` once connected again.
    pub last_error: Option<crate::SyncProblem>,
    /// The server's latest refusal of a change that still waits to be sent again (such as
    /// `quota_exceeded` or `rate_limited`: its code and words); `None` when none was.
    pub pending_refusal: Option<legato_store::Refusal>,
    /// The server is plain `http://` and not on this machine
    /// ([`crate::ServerUrl::is_insecure`]): the UI warns about it.
    pub insecure_server: bool,
}

impl SyncStatus {
    pub(crate) fn initial(connection: ConnectionState, insecure_server: bool) -> Self {
        SyncStatus {
            insecure_server,
            connection,
            pending: 0,
            dead_letters: 0,
            conflicts: 0,
            cursor: 0,
            server_seq: None,
            catching_up: None,
            next_retry_at: None,
            metrics: MetricsRecorder::default().snapshot(0, 0, None),
            last_error: None,
            pending_refusal: None,
        }
    }

    /// Everything the server has is here and everything here is on the server (dead
    /// letters and conflicts aside, which wait for the user).
    pub fn is_synced(&self) -> bool {
        self.connection == ConnectionState::Connected
            && self.pending == 0
            && self.catching_up.is_none()
    }
}

/// Something happened that a UI may want to react to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum SyncEvent {
    /// These entities changed in the local store (remote updates, acks, conflict
    /// resolutions): re-read them.
    EntitiesChanged {
        entity_type: EntityType,
        ids: Vec<EntityId>,
    },
    /// A conflict waits for the user (strategy `manual`, or a resolution that could not be
    /// applied automatically).
    ConflictNeedsUser {
        conflict_id: i64,
        entity_type: EntityType,
        entity_id: EntityId,
    },
    /// The server refused a change for good; it is now a dead letter.
    DeadLettered {
        change_id: String,
        entity_type: EntityType,
        entity_id: EntityId,
        code: ErrorCode,
        message: String,
    },
    /// A delete made on this device lost to an edit another device made meanwhile
    /// (strategies `merge` and `remote`, `docs/core-choices.md`): the entity is still there.
    /// Tell the user, who can delete it again.
    DeleteOverruled {
        entity_type: EntityType,
        entity_id: EntityId,
    },
    Connected,
    Disconnected {
        reason: String,
    },
    CatchUpProgress(CatchUpProgress),
    /// The catch-up is done; live updates follow.
    SyncComplete {
        seq: u64,
    },
}

/// What a "sync now" achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// Changes the server acknowledged while waiting.
    pub pushed: u64,
    /// Remote updates applied while waiting.
    pub pulled: u64,
    /// Conflicts settled (automatically or stored for the user) while waiting.
    pub conflicts: u64,
    /// Changes still in the outbox: waiting for a retry time after a refusal.
    pub pending: u64,
    pub dead_letters: u64,
    /// Conflicts waiting for the user.
    pub conflicts_waiting: u64,
    pub cursor: u64,
}
