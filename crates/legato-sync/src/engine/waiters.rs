//! Callers waiting for the engine to be "done" ("sync now", a flushing shutdown) and the
//! status published for everyone else.

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Counters, Engine, Link, Reason, StoreCounts};
use crate::error::{SyncError, TransportError};
use crate::status::{ConnectionState, SyncReport, SyncStatus};

pub(super) struct Waiter {
    pub deadline: Instant,
    kind: WaiterKind,
    start: Counters,
}

enum WaiterKind {
    SyncNow(oneshot::Sender<Result<SyncReport, SyncError>>),
    /// A flushing shutdown: when done (or not possible), the engine stops.
    Shutdown,
}

impl Engine {
    pub(super) fn add_sync_now(&mut self, reply: oneshot::Sender<Result<SyncReport, SyncError>>) {
        let refused = if self.token.is_none() {
            Some(SyncError::SignedOut)
        } else if self.auth_refused {
            Some(SyncError::Unauthorized)
        } else if self.paused {
            Some(SyncError::Paused)
        } else {
            None
        };
        if let Some(err) = refused {
            let _ = reply.send(Err(err));
            return;
        }
        self.connect_now();
        self.plan_needed = true;
        self.waiters.push(Waiter {
            deadline: Instant::now() + self.config.sync_now_timeout,
            kind: WaiterKind::SyncNow(reply),
            start: self.counters,
        });
    }

    pub(super) fn add_shutdown_flush(&mut self) {
        self.connect_now();
        self.plan_needed = true;
        self.waiters.push(Waiter {
            deadline: Instant::now() + self.config.shutdown_flush_timeout,
            kind: WaiterKind::Shutdown,
            start: self.counters,
        });
    }

    /// Answers the waiters once nothing is left to do: connected and caught up, nothing in
    /// flight, nothing sendable (what remains waits for a retry time after a refusal).
    pub(super) async fn check_waiters(&mut self) {
        if !self.is_live()
            || !self.flights.is_empty()
            || !self.batches.is_empty()
            || self.catch_up_again
        {
            return;
        }
        let now = self.wall_ms();
        match self
            .store
            .call(move |store| store.next_pending(1, now))
            .await
        {
            Ok(due) if due.is_empty() => {}
            Ok(_) => {
                self.plan_needed = true;
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the outbox");
                return;
            }
        }
        self.refresh_counts().await;
        // Whoever was waiting reads a status that already shows the result.
        self.publish();
        for waiter in std::mem::take(&mut self.waiters) {
            match waiter.kind {
                WaiterKind::SyncNow(reply) => {
                    let _ = reply.send(Ok(self.report(waiter.start)));
                }
                WaiterKind::Shutdown => self.stopping = true,
            }
        }
    }

    pub(super) fn expire_waiters(&mut self, now: Instant) {
        let (expired, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.deadline <= now);
        self.waiters = waiting;
        for waiter in expired {
            match waiter.kind {
                WaiterKind::SyncNow(reply) => {
                    let _ = reply.send(Err(SyncError::Timeout));
                }
                WaiterKind::Shutdown => {
                    tracing::info!(
                        "flush on shutdown timed out; unsent changes stay in the outbox"
                    );
                    self.stopping = true;
                }
            }
        }
    }

    /// The connection ended: waiters learn why (a new token keeps them waiting for the
    /// next connection).
    pub(super) fn fail_waiters(&mut self, reason: &Reason) {
        let error = match reason {
            Reason::TokenChanged => return,
            Reason::Transport(TransportError::Unauthorized) => SyncError::Unauthorized,
            Reason::Transport(err) => SyncError::Offline(err.clone()),
            Reason::Store { message, retryable } => SyncError::Store {
                message: message.clone(),
                retryable: *retryable,
            },
            Reason::Paused => SyncError::Paused,
            Reason::Stopping => SyncError::Stopped,
        };
        for waiter in std::mem::take(&mut self.waiters) {
            match waiter.kind {
                WaiterKind::SyncNow(reply) => {
                    let _ = reply.send(Err(error.clone()));
                }
                WaiterKind::Shutdown => self.stopping = true,
            }
        }
    }

    fn report(&self, start: Counters) -> SyncReport {
        SyncReport {
            pushed: self.counters.pushed - start.pushed,
            pulled: self.counters.pulled - start.pulled,
            conflicts: self.counters.conflicts - start.conflicts,
            pending: self.counts.pending,
            dead_letters: self.counts.dead_letters,
            conflicts_waiting: self.counts.conflicts,
            cursor: self.cursor,
        }
    }

    /// Re-reads the counts shown in the status.
    pub(super) async fn refresh_counts(&mut self) {
        // Ahead of the log sync: counts that include an edit still being flushed are right
        // for the status, and the engine does not wait out a local save's fsync here.
        let counts = self
            .store
            .call_ahead(|store| {
                Ok(StoreCounts {
                    pending: store.pending_count()?,
                    dead_letters: store.dead_letter_count()?,
                    conflicts: store.conflicts()?.len() as u64,
                    cursor: store.cursor()?,
                    oldest_pending_ms: store.oldest_pending_ms()?,
                    pending_refusal: store.pending_refusal()?,
                })
            })
            .await;
        match counts {
            Ok(counts) => {
                self.cursor = self.cursor.max(counts.cursor);
                self.counts = counts;
            }
            Err(err) => tracing::warn!(error = %err, "cannot read the sync counts"),
        }
        self.counts_dirty = false;
        self.last_counts_at = Some(Instant::now());
    }

    /// Publishes the status (watchers wake only when it changed).
    pub(super) fn publish(&mut self) {
        let now = Instant::now();
        let wall = self.wall_ms();
        let connection = if self.token.is_none() || self.auth_refused {
            ConnectionState::SignedOut
        } else if self.paused {
            ConnectionState::Paused
        } else {
            match &self.link {
                Link::Up(_) => ConnectionState::Connected,
                Link::Connecting(_) => ConnectionState::Connecting,
                Link::Down { .. } => ConnectionState::Offline,
            }
        };
        let next_retry_at = match &self.link {
            Link::Down { retry_at: Some(at) } if connection == ConnectionState::Offline => {
                let ahead = at.saturating_duration_since(now).as_millis();
                Some(wall.saturating_add(i64::try_from(ahead).unwrap_or(i64::MAX)))
            }
            _ => None,
        };
        let counts = &self.counts;
        let status = SyncStatus {
            connection,
            pending: counts.pending,
            dead_letters: counts.dead_letters,
            conflicts: counts.conflicts,
            cursor: self.cursor,
            server_seq: self.server_seq,
            catching_up: self.catch_up_progress(),
            next_retry_at,
            metrics: self.metrics.snapshot(
                counts.pending,
                counts.dead_letters,
                counts
                    .oldest_pending_ms
                    .map(|t| wall.saturating_sub(t).max(0)),
            ),
            last_error: self.last_error.clone(),
            pending_refusal: counts.pending_refusal.clone(),
            insecure_server: self.config.server.is_insecure(),
        };
        self.status_tx.send_if_modified(|current| {
            if *current == status {
                false
            } else {
                *current = status;
                true
            }
        });
    }
}
