//! Frames from the server: updates (catch-up pages and live ones), `sync_complete`, and the
//! answers to this device's changes (handled in `outgoing`).
//!
//! The cursor only moves in the store transaction that applied the data up to it. During a
//! catch-up, full updates are applied in pages (one transaction each, data and cursor
//! together); a full page is queued on the store thread without waiting (at most
//! `PAGES_IN_STORE` at once), so the next one is read and parsed meanwhile, and the results
//! are taken in page order; `sync_complete` and a closing link wait for them. Partial
//! updates that arrive then belong to the connection's previous subscription and are covered
//! by the catch-up, so they are skipped. A live partial update that does not follow the stored
//! version asks for a catch-up from the cursor instead of being applied out of order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use legato_protocol::{ServerMessage, UpdateData};
use legato_store::{BatchOutcome, Store, StoreError, TimeZone};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{Engine, Link, PAGES_IN_STORE, PageJob, Phase, Reason, changed_events};
use crate::error::TransportError;
use crate::problem::SyncProblem;
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
            Some(Err(err)) => crate::transport::socket_error(err),
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
                unchanged,
                ..
            } => {
                let ack = super::outgoing::Ack {
                    change_id,
                    version,
                    seq,
                    data,
                    unchanged,
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
                self.note_error(SyncProblem::server_error(code, &message));
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
                    // Only buffered: the status moves on per page, not per frame (a watcher
                    // woken for each of 100 000 frames costs the catch-up dearly).
                    self.status_unchanged = true;
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
        if !self.is_live() {
            // Handed to the store without waiting: the next page is read and parsed while
            // the store thread writes this one.
            self.queue_page(page, cursor).await;
            return;
        }
        // A live update moves the cursor only when it directly follows it: a seq in between
        // (another device's change this device was not sent, an own change not yet
        // acknowledged) must not be stepped over. It waits above the cursor until the gap
        // closes, or a catch-up fills it.
        let follows = cursor <= self.cursor + 1;
        let new_cursor = follows.then_some(cursor);
        match self.apply_page(page, new_cursor).await {
            Ok(outcome) if outcome.needs_catch_up > 0 => self.request_catch_up().await,
            Ok(_) => {
                if !follows {
                    self.seen_seqs.insert(cursor);
                }
                self.step_over_own_seqs().await
            }
            Err(err) => {
                self.link_failed(Reason::store(&err), true).await;
            }
        }
    }

    /// Queues a catch-up page on the store (pages are applied in order, each with its cursor
    /// in its own transaction). At most [`PAGES_IN_STORE`] wait there: beyond that, the
    /// oldest is waited for first, so a slow disk slows the reading down.
    async fn queue_page(&mut self, updates: Vec<UpdateData>, cursor: u64) {
        while self.pages.len() >= PAGES_IN_STORE {
            if !self.settle_first_page().await {
                return;
            }
        }
        let count = updates.len() as u64;
        let done = Box::pin(self.store.call_ahead(apply_job(
            self.events.clone(),
            updates,
            Some(cursor),
            self.page_refused.clone(),
        )));
        self.pages.push_back(PageJob { done, count });
    }

    /// Waits for the oldest queued page and settles it. `false` when the link was dropped.
    async fn settle_first_page(&mut self) -> bool {
        let Some(job) = self.pages.front_mut() else {
            return true;
        };
        let result = job.done.as_mut().await;
        self.on_page_done(result).await;
        matches!(self.link, Link::Up(_))
    }

    /// The oldest queued page is done (called once its future resolved).
    pub(super) async fn on_page_done(&mut self, result: Result<BatchOutcome, StoreError>) {
        let Some(job) = self.pages.pop_front() else {
            return;
        };
        match self.settle_page(job.count, result) {
            Ok(outcome) if outcome.needs_catch_up > 0 => self.request_catch_up().await,
            Ok(_) => {
                if let Some(progress) = self.catch_up_progress() {
                    self.emit(SyncEvent::CatchUpProgress(progress));
                }
            }
            Err(err) => {
                self.link_failed(Reason::store(&err), true).await;
            }
        }
    }

    /// Settles every queued page, in order. `false` when the link was dropped.
    async fn drain_pages(&mut self) -> bool {
        while !self.pages.is_empty() {
            if !self.settle_first_page().await {
                return false;
            }
        }
        true
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
        if !self.drain_pages().await {
            return;
        }
        let outcome = match self.apply_page(page, Some(seq)).await {
            Ok(outcome) => outcome,
            Err(err) => {
                self.link_failed(Reason::store(&err), true).await;
                return;
            }
        };
        if let Link::Up(conn) = &mut self.link {
            conn.phase = Phase::Live;
        }
        // From now on a goal reached by a synced change is reported (see the store's goals).
        let now_ms = self.wall_ms();
        let caught_up = self
            .store
            .call_ahead(move |store| store.record_caught_up(now_ms, &TimeZone::system()))
            .await;
        if let Err(err) = caught_up {
            tracing::warn!(error = %err, "could not record the catch-up");
        }
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        self.metrics.success(elapsed_ms, self.wall_ms());
        self.server_seq = Some(seq);
        self.backoff.reset();
        let cursor = self.cursor;
        self.seen_seqs.retain(|s| *s > cursor);
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
        let count = updates.len() as u64;
        let result = self
            .store
            .call_ahead(apply_job(
                self.events.clone(),
                updates,
                new_cursor,
                self.page_refused.clone(),
            ))
            .await;
        self.settle_page(count, result)
    }

    /// Takes in the result of a page the store applied: cursor, counters (its
    /// `EntitiesChanged` went out from the store thread, see [`apply_job`]).
    pub(super) fn settle_page(
        &mut self,
        count: u64,
        result: Result<BatchOutcome, StoreError>,
    ) -> Result<BatchOutcome, StoreError> {
        let outcome = result?;
        self.cursor = outcome.cursor;
        self.counters.pulled += outcome.applied as u64;
        self.counts_dirty = true;
        if let Link::Up(conn) = &mut self.link
            && let Phase::CatchingUp(catch_up) = &mut conn.phase
        {
            catch_up.applied += count;
        }
        Ok(outcome)
    }

    /// Moves the cursor over the seqs above it that this device has applied (its own
    /// acknowledged changes, which the server never sends back, and live updates that came
    /// after a gap) as far as they directly follow it. A gap left while nothing of this
    /// device is in flight can only be a change it was never sent: a catch-up fetches it.
    pub(super) async fn step_over_own_seqs(&mut self) {
        if !self.is_live() {
            return;
        }
        let mut target = self.cursor;
        while self.seen_seqs.remove(&(target + 1)) {
            target += 1;
        }
        self.seen_seqs.retain(|s| *s > target);
        if target != self.cursor {
            match self
                .store
                .call_ahead(move |store| store.apply_remote_batch(&[], Some(target)))
                .await
            {
                Ok(outcome) => self.cursor = outcome.cursor,
                Err(err) => tracing::warn!(error = %err, "could not move the cursor"),
            }
        }
        if !self.seen_seqs.is_empty() && self.flights.is_empty() && self.batches.is_empty() {
            tracing::info!(cursor = self.cursor, ahead = ?self.seen_seqs.first(),
                "a seq was skipped: catching up from the cursor");
            self.request_catch_up().await;
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

/// The store job of a page: applies the updates with their cursor and, once that committed,
/// sends `EntitiesChanged` from the store thread itself. Subscribers (the UI) hear of a live
/// update one thread hand-off sooner than through the engine's loop; on a loaded machine
/// each hand-off costs tens of microseconds, and a live edit is a chain of them. Pages run
/// in order on that one thread, so the events keep page order, and they precede the
/// engine's `SyncComplete`, which waits for the pages.
///
/// `refused` is the catch-up's: once a page fails (a hostile or broken server's update
/// that does not decode, say a `$deflate` value over the per-change inflate budget), it
/// is set, and every page after it (already queued, or the partial page a closing link
/// applies) commits nothing and leaves the cursor where it is. Its cursor would otherwise
/// step over the refused updates, and the next catch-up would never fetch them again.
fn apply_job(
    events: broadcast::Sender<SyncEvent>,
    updates: Vec<UpdateData>,
    cursor: Option<u64>,
    refused: Arc<AtomicBool>,
) -> impl FnOnce(&mut Store) -> Result<BatchOutcome, StoreError> + Send + 'static {
    move |store| {
        if refused.load(Ordering::SeqCst) {
            tracing::debug!(
                updates = updates.len(),
                "an earlier page was refused: this one waits for the next catch-up"
            );
            return store.apply_remote_batch(&[], None);
        }
        let outcome = match store.apply_remote_batch(&updates, cursor) {
            Ok(outcome) => outcome,
            Err(err) => {
                refused.store(true, Ordering::SeqCst);
                return Err(err);
            }
        };
        if outcome.applied > 0 {
            let changed = updates.iter().map(|u| (u.entity_type, u.entity_id.clone()));
            for event in changed_events(changed) {
                // No subscriber is fine.
                let _ = events.send(event);
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use legato_protocol::{EntityId, EntityType, Fields, MAX_MESSAGE_BYTES, deflate_string};
    use serde_json::json;

    use super::*;

    fn update(seq: u64, id: &str, data: serde_json::Value) -> UpdateData {
        let serde_json::Value::Object(data) = data else {
            panic!("not an object")
        };
        UpdateData {
            entity_type: EntityType::Logbook,
            entity_id: EntityId::new(id).unwrap(),
            data: data as Fields,
            version: 1,
            deleted: false,
            seq,
            timestamp: 0,
            user_id: "u".into(),
            client_id: "other".into(),
            change_id: format!("c{seq}"),
            full: true,
        }
    }

    fn entry(notes: serde_json::Value) -> serde_json::Value {
        json!({"timestamp": "2026-01-15T18:00:00.000Z", "duration": 30, "type": "practice",
            "notes": notes, "tags": []})
    }

    /// A page after a refused one commits nothing: its cursor would step over the refused
    /// updates, which the next catch-up would then never fetch again.
    #[test]
    fn pages_after_a_refused_page_commit_nothing() {
        let mut store = Store::open_in_memory().unwrap();
        let (events, _) = broadcast::channel(16);
        let refused = Arc::new(AtomicBool::new(false));
        let bomb = json!({ "$deflate": deflate_string(&"a".repeat(MAX_MESSAGE_BYTES)) });
        let mut bombed = entry(json!("bombed"));
        for i in 0..4 {
            bombed[format!("x{i}")] = bomb.clone();
        }
        let first = apply_job(
            events.clone(),
            vec![
                update(1, "sane-1", entry(json!("ok"))),
                update(2, "bomb", bombed),
            ],
            Some(2),
            refused.clone(),
        );
        assert!(matches!(first(&mut store), Err(StoreError::Validation(_))));
        assert!(refused.load(Ordering::SeqCst));
        let second = apply_job(
            events,
            vec![update(3, "sane-3", entry(json!("ok")))],
            Some(3),
            refused,
        );
        let outcome = second(&mut store).unwrap();
        assert_eq!((outcome.applied, outcome.cursor), (0, 0));
        assert_eq!(store.cursor().unwrap(), 0);
        for id in ["sane-1", "bomb", "sane-3"] {
            let id = EntityId::new(id).unwrap();
            assert!(
                store.get(EntityType::Logbook, &id).unwrap().is_none(),
                "{id}"
            );
        }
    }
}
