//! [`SyncHandle`]: how the app and the CLI drive a running engine.

use std::sync::Arc;

use legato_protocol::Fields;
use legato_store::{ConflictOutcome, StoreHandle};
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};

use crate::config::WallClock;
use crate::error::SyncError;
use crate::status::{SyncEvent, SyncReport, SyncStatus};

/// What the handle asks of the engine's loop.
#[derive(Debug)]
pub(crate) enum Command {
    SyncNow(oneshot::Sender<Result<SyncReport, SyncError>>),
    Pause(oneshot::Sender<()>),
    Resume(oneshot::Sender<()>),
    SetToken(Option<String>, oneshot::Sender<()>),
    Shutdown {
        flush: bool,
        done: oneshot::Sender<()>,
    },
}

/// A cheap, cloneable handle on a running [`crate::SyncEngine`].
///
/// The engine stops when [`SyncHandle::shutdown`] is called or when the last handle is
/// dropped (without a flush; nothing is lost either way: unsent changes stay in the store's
/// outbox).
#[derive(Debug, Clone)]
pub struct SyncHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) local_change: Arc<Notify>,
    pub(crate) status: watch::Receiver<SyncStatus>,
    pub(crate) events: broadcast::Sender<SyncEvent>,
    pub(crate) store: StoreHandle,
    pub(crate) clock: WallClock,
}

impl SyncHandle {
    /// Tells the engine that the store has new local edits (call it after every edit). Never
    /// blocks; many calls in a row cost one wake-up.
    pub fn notify_local_change(&self) {
        self.local_change.notify_one();
    }

    /// Sends everything now, throttled entity types included, and waits until the outbox is
    /// empty (or holds only changes waiting for a retry time after a refusal) and the
    /// catch-up is complete. Connects at once if offline (skipping the backoff wait).
    ///
    /// Errors: `Offline` when the server cannot be reached (edits are safe and sync later),
    /// `Timeout` after [`crate::SyncConfig::sync_now_timeout`], `Paused`, `SignedOut`,
    /// `Unauthorized`.
    pub async fn sync_now(&self) -> Result<SyncReport, SyncError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::SyncNow(reply)).await?;
        answer.await.map_err(|_| SyncError::Stopped)?
    }

    /// Disconnects and stays offline until [`SyncHandle::resume`]. Local edits keep working.
    pub async fn pause(&self) -> Result<(), SyncError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Pause(reply)).await?;
        answer.await.map_err(|_| SyncError::Stopped)
    }

    /// Reconnects at once after [`SyncHandle::pause`].
    pub async fn resume(&self) -> Result<(), SyncError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Resume(reply)).await?;
        answer.await.map_err(|_| SyncError::Stopped)
    }

    /// Replaces the bearer token (after login) or clears it (logout: the engine goes
    /// `SignedOut`). An open connection is closed and, with a token, re-opened at once.
    pub async fn set_token(&self, token: Option<String>) -> Result<(), SyncError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::SetToken(token, reply)).await?;
        answer.await.map_err(|_| SyncError::Stopped)
    }

    /// The current status and every change to it.
    pub fn status(&self) -> watch::Receiver<SyncStatus> {
        self.status.clone()
    }

    /// A copy of the current status.
    pub fn current_status(&self) -> SyncStatus {
        self.status.borrow().clone()
    }

    /// Events from now on. A receiver that falls more than 1024 events behind gets
    /// `RecvError::Lagged`: it should then re-read everything it shows.
    pub fn subscribe_events(&self) -> broadcast::Receiver<SyncEvent> {
        self.events.subscribe()
    }

    /// Stops the engine. With `flush`, first tries to send what is pending and finish the
    /// catch-up, for at most [`crate::SyncConfig::shutdown_flush_timeout`]; then the
    /// connection is closed cleanly. Returns when the engine has stopped. Unsent changes
    /// stay in the outbox for the next start.
    pub async fn shutdown(&self, flush: bool) {
        let (done, finished) = oneshot::channel();
        if self.send(Command::Shutdown { flush, done }).await.is_ok() {
            let _ = finished.await;
        }
    }

    /// The store this engine syncs.
    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    /// Puts a dead letter back in the outbox (attempts reset) and syncs it.
    pub async fn retry_dead_letter(&self, change_id: &str) -> Result<(), SyncError> {
        let change_id = change_id.to_owned();
        self.store
            .call(move |store| store.retry_dead_letter(&change_id))
            .await?;
        self.notify_local_change();
        Ok(())
    }

    /// Drops a dead letter for good (the local state is recomputed without it).
    pub async fn discard_dead_letter(&self, change_id: &str) -> Result<(), SyncError> {
        let change_id = change_id.to_owned();
        self.store
            .call(move |store| store.discard_dead_letter(&change_id))
            .await?;
        self.notify_local_change();
        Ok(())
    }

    /// The user's decision on a stored conflict: `state` becomes the entity's state and is
    /// pushed as a new change on the server's version.
    pub async fn apply_user_decision(
        &self,
        conflict_id: i64,
        state: Fields,
    ) -> Result<ConflictOutcome, SyncError> {
        let now = self.clock.now_ms();
        let outcome = self
            .store
            .call(move |store| store.apply_user_decision(conflict_id, state, now))
            .await?;
        self.notify_local_change();
        Ok(outcome)
    }

    /// The user takes the server's version of a stored conflict.
    pub async fn discard_conflict(&self, conflict_id: i64) -> Result<(), SyncError> {
        let now = self.clock.now_ms();
        self.store
            .call(move |store| store.discard_conflict(conflict_id, now))
            .await?;
        self.notify_local_change();
        Ok(())
    }

    async fn send(&self, command: Command) -> Result<(), SyncError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| SyncError::Stopped)
    }
}
