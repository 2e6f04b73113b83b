//! Frames from the server: updates (catch-up pages and live ones), `sync_complete`, and the
//! answers to this device's changes (handled in `outgoing`).
//!
//! The cursor only moves in the store transaction that applied the data up to it. During a
//! catch-up, full updates are applied in pages (one transaction each); partial updates that
//! arrive then belong to the connection's previous subscription and are covered by the
//! catch-up, so they are skipped. A live partial update that does not follow the stored
//! version asks for a catch-up from the cursor instead of being applied out of order.

use legato_protocol::{ServerMessage, UpdateData};
use legato_store::{BatchOutcome, StoreError};
use tokio_tungstenite::tungstenite::{self, Message};

use super::{Engine, Link, Phase, Reason, wall_ms};
use crate::error::TransportError;
use crate::status::SyncEvent;

impl Engine {
    pub(super) async fn on_frame(&mut self, frame: Option<Result<Message, tungstenite::Error>>) {
        let Link::Up(conn) = &mut self.link else {
            return;
        };
        // Any frame at all proves the connection alive.
        conn.heartbeat.seen();
        let failure = match frame {
            None => TransportError::Network("the server closed the connection".into()),
            Some(Err(err)) => TransportError::Network(err.to_string()),
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                });
                TransportError::Closed { code, reason }
            }
            Some(Ok(Message::Text(text))) => {
                match ServerMessage::parse(text.as_str()) {
                    Ok(message) => self.on_message(message).await,
                    // A newer server's message type: not ours to break on.
                    Err(err) => {
                        tracing::warn!(error = %err, "unreadable message from the server; ignored")
                    }
                }
                return;
            }
            Some(Ok(_)) => return,
        };
        tracing::info!(reason = %failure, "connection lost");
        self.link_failed(Reason::Transport(failure), true).await;
    }

    async fn on_message(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Update { data } => self.on_update(data).await,
            ServerMessage::SyncComplete { seq, .. } => self.on_sync_complete(seq).await,
            ServerMessage::Ack {
                change_id,
                version,
                seq,
                data,
                ..
            } => {
                let ack = super::outgoing::Ack {
                    change_id,
                    version,
                    seq,
                    data,
                };
                self.on_answers(super::outgoing::Answers {
                    acks: vec![ack],
                    ..Default::default()
                })
                .await;
            }
            ServerMessage::Conflict { data } => {
                self.on_answers(super::outgoing::Answers {
                    conflicts: vec![data],
                    ..Default::default()
                })
                .await;
            }
            ServerMessage::Error {
                code,
                message,
                change_id: Some(change_id),
            } => {
                self.on_answers(super::outgoing::Answers {
                    rejections: vec![(change_id, code, message)],
                    ..Default::default()
                })
                .await;
            }
            ServerMessage::Error {
                code,
                message,
                change_id: None,
            } => {
                tracing::warn!(%code, message, "error from the server");
                self.note_error(format!("server: {code}: {message}"));
            }
            ServerMessage::Pong => {}
        }
    }

    async fn on_update(&mut self, update: UpdateData) {
        let page_size = self.config.catch_up_page.max(1);
        let Link::Up(conn) = &mut self.link else {
            return;
        };
        let (page, cursor) = match &mut conn.phase {
            Phase::CatchingUp(catch_up) => {
                if !update.full {
                    tracing::trace!(
                        seq = update.seq,
                        "partial update during a catch-up: covered by it"
                    );
                    return;
                }
                catch_up.received += 1;
                catch_up.last_seq = catch_up.last_seq.max(update.seq);
                catch_up.buffer.push(update);
                if catch_up.buffer.len() < page_size {
                    return;
                }
                let seq = catch_up.last_seq;
                (std::mem::take(&mut catch_up.buffer), seq)
            }
            Phase::Live => {
                let seq = update.seq;
                (vec![update], seq)
            }
            Phase::Pushing => {
                tracing::debug!(seq = update.seq, "update before subscribing; ignored");
                return;
            }
        };
        let catching_up = !self.is_live();
        match self.apply_page(page, Some(cursor)).await {
            Ok(outcome) if outcome.needs_catch_up > 0 => self.request_catch_up().await,
            Ok(_) if catching_up => {
                if let Some(progress) = self.catch_up_progress() {
                    self.emit(SyncEvent::CatchUpProgress(progress));
                }
            }
            Ok(_) => self.step_over_own_seqs().await,
            Err(err) => {
                self.link_failed(Reason::Store(err.to_string()), true).await;
            }
        }
    }

    async fn on_sync_complete(&mut self, seq: u64) {
        let Link::Up(conn) = &mut self.link else {
            return;
        };
        let Phase::CatchingUp(catch_up) = &mut conn.phase else {
            tracing::debug!(seq, "sync_complete outside a catch-up; ignored");
            return;
        };
        let page = std::mem::take(&mut catch_up.buffer);
        let started = catch_up.started;
        let outcome = match self.apply_page(page, Some(seq)).await {
            Ok(outcome) => outcome,
            Err(err) => {
                self.link_failed(Reason::Store(err.to_string()), true).await;
                return;
            }
        };
        if let Link::Up(conn) = &mut self.link {
            conn.phase = Phase::Live;
        }
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        self.metrics.success(elapsed_ms, wall_ms());
        self.server_seq = Some(seq);
        self.backoff.reset();
        let cursor = self.cursor;
        self.own_seqs.retain(|s| *s > cursor);
        tracing::info!(seq, cursor, elapsed_ms, "catch-up complete");
        self.emit(SyncEvent::SyncComplete { seq });
        self.plan_needed = true;
        self.counts_dirty = true;
        if outcome.needs_catch_up > 0 || std::mem::take(&mut self.catch_up_again) {
            self.request_catch_up().await;
        } else {
            self.step_over_own_seqs().await;
        }
    }

    /// Applies updates and moves the cursor in one store transaction; reports what changed.
    pub(super) async fn apply_page(
        &mut self,
        updates: Vec<UpdateData>,
        new_cursor: Option<u64>,
    ) -> Result<BatchOutcome, StoreError> {
        let changed: Vec<_> = updates
            .iter()
            .map(|u| (u.entity_type, u.entity_id.clone()))
            .collect();
        let count = updates.len() as u64;
        let outcome = self
            .store
            .call(move |store| store.apply_remote_batch(&updates, new_cursor))
            .await?;
        self.cursor = outcome.cursor;
        self.counters.pulled += outcome.applied as u64;
        self.counts_dirty = true;
        if let Link::Up(conn) = &mut self.link
            && let Phase::CatchingUp(catch_up) = &mut conn.phase
        {
            catch_up.applied += count;
        }
        if outcome.applied > 0 {
            self.emit_changed(changed);
        }
        Ok(outcome)
    }

    /// Moves the cursor over this device's own acknowledged changes that directly follow it
    /// (the server never sends them back), so the next catch-up does not fetch them again.
    pub(super) async fn step_over_own_seqs(&mut self) {
        if !self.is_live() {
            return;
        }
        let mut target = self.cursor;
        while self.own_seqs.remove(&(target + 1)) {
            target += 1;
        }
        self.own_seqs.retain(|s| *s > target);
        if target == self.cursor {
            return;
        }
        match self
            .store
            .call(move |store| store.apply_remote_batch(&[], Some(target)))
            .await
        {
            Ok(outcome) => self.cursor = outcome.cursor,
            Err(err) => tracing::warn!(error = %err, "could not move the cursor"),
        }
    }

    pub(super) fn catch_up_progress(&self) -> Option<crate::status::CatchUpProgress> {
        match &self.link {
            Link::Up(conn) => match &conn.phase {
                Phase::CatchingUp(catch_up) => Some(catch_up.progress()),
                Phase::Live | Phase::Pushing => None,
            },
            _ => None,
        }
    }
}
