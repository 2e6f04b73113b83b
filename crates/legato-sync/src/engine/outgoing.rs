//! Sending pending changes and settling the server's answers.
//!
//! Plan, then act: the store lists what is due (oldest change per entity, not waiting for a
//! retry time), [`crate::plan::plan`] decides what goes now and how (WebSocket or batch),
//! and this module executes it: mark in flight, then send. Answers settle changes in the
//! store: `ack` ([`legato_store::Store::apply_ack`]), `conflict` (resolved by the entity
//! type's strategy, or stored for the user), `error` ([`legato_store::Store::record_rejection`]:
//! backoff, then the dead letters). A lost connection is no answer: in-flight changes go back
//! to pending without counting an attempt.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use legato_protocol::{
    BatchItemStatus, BatchResponse, Change, ClientMessage, ConflictData, ErrorBody, ErrorCode,
    Fields, MAX_MESSAGE_BYTES,
};
use legato_store::{AckOutcome, ConflictOutcome, OutboxItem, RejectionOutcome, RetryPolicy};
use tokio::time::Instant;

use super::{Engine, Flight, Reason};
use crate::compress::wire_change;
use crate::error::TransportError;
use crate::plan::{self, Dispatch, Pending, PlanState, Route};
use crate::problem::{ProblemKind, SyncProblem};
use crate::status::SyncEvent;
use crate::transport::BatchFailure;

/// A batch request body stays under this size (the server refuses bodies over 1 MiB).
const BATCH_BODY_BUDGET: usize = MAX_MESSAGE_BYTES - 64 * 1024;
/// Room for the envelope around one change (`{"type":"sync","data":...}` or a batch's).
const ENVELOPE_BYTES: usize = 1024;

/// A positive answer to one change.
#[derive(Debug)]
pub(super) struct Ack {
    pub change_id: String,
    pub version: u64,
    pub seq: u64,
    pub data: Fields,
    /// The change wrote nothing (rule 6): `seq` and `version` may be another device's.
    pub unchanged: bool,
}

/// The server's answers to some changes, from one frame or one batch reply.
#[derive(Debug, Default)]
pub(super) struct Answers {
    pub acks: Vec<Ack>,
    pub conflicts: Vec<ConflictData>,
    pub rejections: Vec<(String, ErrorCode, String)>,
}

/// A finished batch request.
#[derive(Debug)]
pub(super) struct BatchDone {
    started: Instant,
    result: Result<BatchResponse, BatchFailure>,
}

impl Engine {
    /// Whether throttles and the coalescing window are ignored ("sync now", shutdown).
    fn flushing(&self) -> bool {
        !self.waiters.is_empty()
    }

    /// Plans and sends what is due; returns how many changes were sent.
    pub(super) async fn send_pending(&mut self) -> usize {
        self.plan_needed = false;
        let room = self
            .config
            .plan
            .max_in_flight
            .saturating_sub(self.flights.len());
        if room == 0 {
            return 0;
        }
        let now_wall = self.wall_ms();
        let now = Instant::now();
        let mut pending: Vec<Pending> = self
            .flights
            .values()
            .map(|f| Pending {
                change_id: f.change.change_id.clone(),
                entity_type: f.change.entity_type,
                in_flight: true,
            })
            .collect();
        let state = PlanState {
            now_ms: self.mono_ms(now),
            last_sent_ms: self.last_sent_ms.clone(),
            last_send_ms: self.last_send_ms,
            flush: self.flushing() || self.is_pushing(),
        };
        let config = self.config.plan.clone();
        let (compress, http) = (self.config.compress, self.http.is_some());
        // One trip to the store thread: read what is due, plan, and mark what goes now in
        // flight (before the bytes leave: from then on the change's content is frozen).
        // Ahead of the log sync: a new edit goes out while the disk flushes it.
        let decided = self
            .store
            .call_ahead(move |store| {
                let items = store.next_pending(room, now_wall)?;
                if items.is_empty() {
                    return Ok(None);
                }
                pending.extend(items.iter().map(|item| Pending {
                    change_id: item.change.change_id.clone(),
                    entity_type: item.change.entity_type,
                    in_flight: false,
                }));
                let plan = plan::plan(&pending, &state, &config);
                let sends = assign(items, plan.sends, http, compress);
                let ids: Vec<&str> = sends
                    .singles
                    .iter()
                    .chain(sends.batches.iter().flatten())
                    .map(|c| c.change_id.as_str())
                    .collect();
                if !ids.is_empty() {
                    store.mark_in_flight(&ids)?;
                }
                Ok(Some((plan.wake_at_ms, sends)))
            })
            .await;
        let (wake_at_ms, sends) = match decided {
            Ok(Some(decided)) => decided,
            Ok(None) => {
                self.plan_wake = None;
                return 0;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the outbox or mark changes in flight");
                self.note_error(SyncProblem::store(&err));
                return 0;
            }
        };
        self.plan_wake = wake_at_ms.map(|ms| self.epoch + Duration::from_millis(ms));
        let Sends {
            singles,
            batches,
            too_large,
        } = sends;
        self.dead_letter_too_large(too_large).await;
        let sent = singles.len() + batches.iter().map(Vec::len).sum::<usize>();
        if sent == 0 {
            return 0;
        }
        let now_ms = self.mono_ms(now);
        for (change, route) in singles
            .iter()
            .map(|c| (c, Route::WebSocket))
            .chain(batches.iter().flatten().map(|c| (c, Route::Batch)))
        {
            self.last_sent_ms.insert(change.entity_type, now_ms);
            self.flights.insert(
                change.change_id.clone(),
                Flight {
                    change: change.clone(),
                    sent_at: now,
                    route,
                    retry_at: None,
                },
            );
        }
        self.last_send_ms = Some(now_ms);
        self.send_over_websocket(&singles).await;
        for batch in batches.into_iter().filter(|b| !b.is_empty()) {
            for chunk in split_by_size(batch, compress) {
                self.spawn_batch(chunk);
            }
        }
        sent
    }

    async fn send_over_websocket(&mut self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let compress = self.config.compress;
        let messages: Vec<ClientMessage> = changes
            .iter()
            .map(|change| {
                tracing::debug!(change_id = %change.change_id, entity_type = %change.entity_type, "sending");
                ClientMessage::Sync {
                    data: wire_change(change, compress),
                }
            })
            .collect();
        if let Err(err) = self.send_messages(&messages).await {
            self.link_failed(Reason::Transport(err), true).await;
        }
    }

    fn spawn_batch(&mut self, changes: Vec<Change>) {
        let (Some(http), Some(token)) = (self.http.clone(), self.token.clone()) else {
            return;
        };
        let compress = self.config.compress;
        let ids: Vec<String> = changes.iter().map(|c| c.change_id.clone()).collect();
        let wire: Vec<Change> = changes.iter().map(|c| wire_change(c, compress)).collect();
        tracing::debug!(items = ids.len(), "sending a batch");
        let task = self.batches.spawn(async move {
            let started = Instant::now();
            let result = http.post_batch(&token, wire).await;
            BatchDone { started, result }
        });
        self.batch_ids.insert(task.id(), ids);
    }

    /// A change larger than any frame or body the server accepts can never be sent: it goes
    /// to the dead letters at once (visible, retryable after an edit, discardable).
    async fn dead_letter_too_large(&mut self, changes: Vec<Change>) {
        for change in changes {
            let policy = RetryPolicy {
                max_attempts: 1,
                ..self.config.retry
            };
            let change_id = change.change_id.clone();
            let message = format!("the change is larger than {MAX_MESSAGE_BYTES} bytes");
            let text = message.clone();
            let now = self.wall_ms();
            let outcome = self
                .store
                .call(move |store| {
                    store.record_rejection(&change_id, ErrorCode::TooLarge, &text, now, &policy)
                })
                .await;
            if let Ok(RejectionOutcome::DeadLettered) = outcome {
                self.emit(SyncEvent::DeadLettered {
                    change_id: change.change_id,
                    entity_type: change.entity_type,
                    entity_id: change.entity_id,
                    code: ErrorCode::TooLarge,
                    message,
                });
            }
        }
    }

    pub(super) async fn on_batch_done(
        &mut self,
        result: Result<(tokio::task::Id, BatchDone), tokio::task::JoinError>,
    ) {
        let (task, done) = match result {
            Ok(done) => done,
            Err(err) => {
                let ids = self.batch_ids.remove(&err.id()).unwrap_or_default();
                if !err.is_cancelled() {
                    tracing::error!(error = %err, "batch task failed");
                    let at = Instant::now() + self.batch_backoff.next_delay();
                    self.defer(&ids, at);
                }
                return;
            }
        };
        let ids = self.batch_ids.remove(&task).unwrap_or_default();
        let latency_ms = done.started.elapsed().as_secs_f64() * 1000.0;
        match done.result {
            Ok(response) => {
                self.batch_backoff.reset();
                self.metrics.success(latency_ms, self.wall_ms());
                let answers = batch_answers(response);
                let answered: HashSet<&str> = answers
                    .acks
                    .iter()
                    .map(|a| a.change_id.as_str())
                    .chain(answers.conflicts.iter().map(|c| c.change_id.as_str()))
                    .chain(answers.rejections.iter().map(|r| r.0.as_str()))
                    .collect();
                let unanswered: Vec<String> = ids
                    .iter()
                    .filter(|id| !answered.contains(id.as_str()))
                    .cloned()
                    .collect();
                if !unanswered.is_empty() {
                    tracing::warn!(
                        count = unanswered.len(),
                        "batch reply without some items; resending them"
                    );
                    self.defer(&unanswered, Instant::now());
                }
                self.on_answers(answers).await;
            }
            Err(BatchFailure::RateLimited(wait)) => {
                tracing::info!(?wait, "batch rate limited; resending after Retry-After");
                self.metrics.failure(SyncProblem::new(
                    ProblemKind::RateLimited,
                    true,
                    "rate limited",
                ));
                self.defer(&ids, Instant::now() + wait);
            }
            Err(BatchFailure::Transport(TransportError::Unauthorized)) => {
                self.link_failed(Reason::Transport(TransportError::Unauthorized), true)
                    .await;
            }
            Err(BatchFailure::Transport(err)) => {
                let delay = self.batch_backoff.next_delay();
                tracing::info!(error = %err, ?delay, "batch failed; resending later");
                self.metrics.failure(SyncProblem::transport(&err));
                self.note_error(SyncProblem::transport(&err));
                self.defer(&ids, Instant::now() + delay);
            }
            Err(BatchFailure::Refused(err)) => {
                tracing::warn!(error = %err, "batch refused as a whole; sending its changes one by one");
                self.metrics.failure(SyncProblem::transport(&err));
                let now = Instant::now();
                for id in &ids {
                    if let Some(flight) = self.flights.get_mut(id) {
                        flight.route = Route::WebSocket;
                        flight.retry_at = Some(now);
                    }
                }
            }
        }
    }

    /// Marks flights to be sent again at `at` (not a rejection: no attempt is counted).
    fn defer(&mut self, ids: &[String], at: Instant) {
        for id in ids {
            if let Some(flight) = self.flights.get_mut(id) {
                flight.retry_at = Some(at);
            }
        }
    }

    /// Sends again the flights whose retry time has come.
    pub(super) async fn resend_due_flights(&mut self, now: Instant) {
        if !self.may_send() {
            return;
        }
        let mut singles = Vec::new();
        let mut batched = Vec::new();
        for flight in self.flights.values_mut() {
            if flight.retry_at.is_some_and(|at| at <= now) {
                flight.retry_at = None;
                flight.sent_at = now;
                match flight.route {
                    Route::WebSocket => singles.push(flight.change.clone()),
                    Route::Batch => batched.push(flight.change.clone()),
                }
            }
        }
        if self.http.is_none() {
            singles.append(&mut batched);
        }
        self.send_over_websocket(&singles).await;
        let compress = self.config.compress;
        let size = self.config.plan.batch_size.max(1);
        while !batched.is_empty() {
            let rest = batched.split_off(size.min(batched.len()));
            for chunk in split_by_size(std::mem::replace(&mut batched, rest), compress) {
                self.spawn_batch(chunk);
            }
        }
    }

    /// Settles answers in the store, then tells the UI what changed.
    pub(super) async fn on_answers(&mut self, answers: Answers) {
        self.plan_needed = true;
        self.counts_dirty = true;
        let mut gap = false;
        if !answers.acks.is_empty() {
            gap |= self.settle_acks(answers.acks).await;
        }
        for conflict in answers.conflicts {
            if !self.settle_conflict(conflict).await {
                return;
            }
        }
        for (change_id, code, message) in answers.rejections {
            if !self.settle_rejection(change_id, code, message).await {
                return;
            }
        }
        if gap {
            self.request_catch_up().await;
        } else {
            self.step_over_own_seqs().await;
        }
    }

    /// Returns whether an ack showed a version gap (changes by others not yet received).
    async fn settle_acks(&mut self, acks: Vec<Ack>) -> bool {
        let now = Instant::now();
        let mut entities = Vec::with_capacity(acks.len());
        for ack in &acks {
            let flight = self.flights.remove(&ack.change_id);
            if let Some(flight) = &flight
                && flight.route == Route::WebSocket
            {
                let latency = now.saturating_duration_since(flight.sent_at);
                self.metrics
                    .success(latency.as_secs_f64() * 1000.0, self.wall_ms());
            }
            tracing::debug!(change_id = %ack.change_id, version = ack.version, seq = ack.seq, "acknowledged");
            entities.push(flight.map(|f| (f.change.entity_type, f.change.entity_id)));
        }
        let outcomes = self
            .store
            .call(move |store| {
                Ok(acks
                    .iter()
                    .map(|ack| {
                        let outcome = if ack.unchanged {
                            store.apply_unchanged_ack(&ack.change_id, ack.version, &ack.data)
                        } else {
                            store.apply_ack(&ack.change_id, ack.version, &ack.data)
                        };
                        // The seq of an unchanged ack is not this device's own: never
                        // stepped over.
                        outcome.map(|outcome| (outcome, (!ack.unchanged).then_some(ack.seq)))
                    })
                    .collect::<Vec<_>>())
            })
            .await;
        let outcomes = match outcomes {
            Ok(outcomes) => outcomes,
            Err(err) => {
                self.link_failed(Reason::store(&err), true).await;
                return false;
            }
        };
        let mut gap = false;
        let mut changed = Vec::new();
        let mut failed = None;
        for (outcome, entity) in outcomes.into_iter().zip(entities) {
            match outcome {
                Ok((AckOutcome::Acked, seq)) => {
                    self.counters.pushed += 1;
                    if let Some(seq) = seq.filter(|seq| *seq > self.cursor) {
                        self.seen_seqs.insert(seq);
                    }
                    changed.extend(entity);
                }
                Ok((AckOutcome::AckedWithGap, _)) => {
                    // The base skipped versions made elsewhere: a catch-up brings the full
                    // state. The cursor must not step over this seq before that.
                    self.counters.pushed += 1;
                    gap = true;
                    changed.extend(entity);
                }
                Ok((AckOutcome::Unknown, _)) => {}
                Err(err) => failed = Some(err),
            }
        }
        self.emit_changed(changed);
        if let Some(err) = failed {
            // The change is still in the outbox (its transaction rolled back); a reconnect
            // resends it and its `duplicate` ack settles it.
            self.link_failed(Reason::store(&err), true).await;
            return false;
        }
        gap
    }

    /// Settles one conflict by the entity type's strategy. Returns `false` when the link was
    /// dropped (store failure).
    #[tracing::instrument(skip_all, fields(change_id = %conflict.change_id))]
    async fn settle_conflict(&mut self, conflict: ConflictData) -> bool {
        let flight = self.flights.remove(&conflict.change_id);
        if let Some(flight) = &flight
            && flight.route == Route::WebSocket
        {
            let latency = Instant::now().saturating_duration_since(flight.sent_at);
            self.metrics
                .success(latency.as_secs_f64() * 1000.0, self.wall_ms());
        }
        self.metrics.conflict();
        self.counters.conflicts += 1;
        let strategy = self.config.strategy(conflict.entity_type);
        let (entity_type, entity_id) = (conflict.entity_type, conflict.entity_id.clone());
        tracing::info!(%entity_type, fields = ?conflict.fields,
            remote_deleted = conflict.remote_deleted, ?strategy, "conflict");
        let now = self.wall_ms();
        let outcome = self
            .store
            // `manual` too goes through the strategy: a conflict only on bookkeeping fields
            // (`updatedAt`, from edits of different fields) is merged, not put to the user.
            .call(move |store| store.settle_conflict(&conflict, strategy, now))
            .await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(err) => {
                self.link_failed(Reason::store(&err), true).await;
                return false;
            }
        };
        match outcome {
            ConflictOutcome::Unknown => {}
            ConflictOutcome::AcceptedRemote | ConflictOutcome::Pushed { .. } => {
                self.emit_changed([(entity_type, entity_id)]);
            }
            ConflictOutcome::Recreated {
                entity_id: new_id, ..
            } => {
                tracing::info!(%entity_type, old = %entity_id, new = %new_id, "deleted elsewhere; the edit lives on under a new id");
                self.emit_changed([(entity_type, entity_id), (entity_type, new_id)]);
            }
            ConflictOutcome::DeleteOverruled { .. } => {
                tracing::info!(%entity_type, %entity_id, "a delete lost to an edit made elsewhere");
                self.emit_changed([(entity_type, entity_id.clone())]);
                self.emit(SyncEvent::DeleteOverruled {
                    entity_type,
                    entity_id,
                });
            }
            ConflictOutcome::Stored { conflict_id } => {
                self.emit_changed([(entity_type, entity_id.clone())]);
                self.emit(SyncEvent::ConflictNeedsUser {
                    conflict_id,
                    entity_type,
                    entity_id,
                });
            }
        }
        true
    }

    /// Records a refusal: backoff, or the dead letters after the last attempt. Transient
    /// codes are retried without limit. Returns `false` when the link was dropped.
    #[tracing::instrument(skip_all, fields(change_id = %change_id))]
    async fn settle_rejection(
        &mut self,
        change_id: String,
        code: ErrorCode,
        message: String,
    ) -> bool {
        let flight = self.flights.remove(&change_id);
        if code == ErrorCode::ChangeIdReused {
            return self.settle_reused(change_id, flight).await;
        }
        tracing::info!(%code, message, "change refused");
        self.metrics.failure(SyncProblem::refusal(code, &message));
        self.note_error(SyncProblem::refusal(code, &message));
        let policy = self.config.retry;
        let now = self.wall_ms();
        let (id, text) = (change_id.clone(), message.clone());
        let outcome = self
            .store
            .call(move |store| store.record_rejection(&id, code, &text, now, &policy))
            .await;
        match outcome {
            Ok(RejectionOutcome::RetryAt(at)) => {
                let at = self.instant_of_wall(at);
                self.retry_wake = Some(self.retry_wake.map_or(at, |w| w.min(at)));
            }
            Ok(RejectionOutcome::DeadLettered) => {
                if let Some(flight) = flight {
                    self.emit_changed([(
                        flight.change.entity_type,
                        flight.change.entity_id.clone(),
                    )]);
                    self.emit(SyncEvent::DeadLettered {
                        change_id,
                        entity_type: flight.change.entity_type,
                        entity_id: flight.change.entity_id,
                        code,
                        message,
                    });
                }
            }
            Ok(RejectionOutcome::Unknown) => {}
            Err(err) => {
                self.link_failed(Reason::store(&err), true).await;
                return false;
            }
        }
        true
    }
}

impl Engine {
    /// `change_id_reused`: the server holds another version of this change id, sent by a
    /// copy of this data dir (see `Store::settle_reused`); a catch-up brings it.
    async fn settle_reused(&mut self, change_id: String, flight: Option<Flight>) -> bool {
        let now = self.wall_ms();
        match self
            .store
            .call(move |store| store.settle_reused(&change_id, now))
            .await
        {
            Ok(_) => {
                if let Some(flight) = flight {
                    self.emit_changed([(flight.change.entity_type, flight.change.entity_id)]);
                }
                self.request_catch_up().await;
                true
            }
            Err(err) => {
                self.link_failed(Reason::store(&err), true).await;
                false
            }
        }
    }
}

/// The changes of a plan, by way of sending.
#[derive(Debug, Default)]
struct Sends {
    singles: Vec<Change>,
    batches: Vec<Vec<Change>>,
    /// Larger than any frame or body the server accepts: not sent, dead-lettered.
    too_large: Vec<Change>,
}

/// Sorts the planned changes (`items` holds them) into WebSocket sends and batches; without
/// an HTTP client everything goes over the WebSocket.
fn assign(items: Vec<OutboxItem>, plan: Vec<Dispatch>, http: bool, compress: bool) -> Sends {
    let mut stored: HashMap<String, Change> = items
        .into_iter()
        .map(|item| (item.change.change_id.clone(), item.change))
        .collect();
    let mut sends = Sends::default();
    for send in plan {
        let changes = send.change_ids.iter().filter_map(|id| stored.remove(id));
        match send.route {
            Route::WebSocket => sends.singles.extend(changes),
            Route::Batch => sends.batches.push(changes.collect()),
        }
    }
    if !http {
        sends.singles.extend(sends.batches.drain(..).flatten());
    }
    let fits = |change: &Change| {
        serde_json::to_string(&wire_change(change, compress)).map_or(0, |text| text.len())
            + ENVELOPE_BYTES
            <= MAX_MESSAGE_BYTES
    };
    let too_large = &mut sends.too_large;
    sends
        .singles
        .retain(|change| fits(change) || keep_aside(too_large, change));
    for batch in &mut sends.batches {
        batch.retain(|change| fits(change) || keep_aside(too_large, change));
    }
    sends.batches.retain(|batch| !batch.is_empty());
    sends
}

fn keep_aside(aside: &mut Vec<Change>, change: &Change) -> bool {
    aside.push(change.clone());
    false
}

/// Splits a batch so that no request body exceeds the server's limit.
fn split_by_size(changes: Vec<Change>, compress: bool) -> Vec<Vec<Change>> {
    let mut chunks = Vec::new();
    let mut chunk = Vec::new();
    let mut bytes = 0;
    for change in changes {
        let size = serde_json::to_string(&wire_change(&change, compress)).map_or(0, |t| t.len());
        if !chunk.is_empty() && bytes + size > BATCH_BODY_BUDGET {
            chunks.push(std::mem::take(&mut chunk));
            bytes = 0;
        }
        bytes += size;
        chunk.push(change);
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    chunks
}

/// Maps a batch reply to the same answers the WebSocket gives, item by item.
fn batch_answers(response: BatchResponse) -> Answers {
    let mut answers = Answers::default();
    for result in response.results {
        let change_id = result.change_id;
        match (result.status, result.version, result.conflict) {
            (BatchItemStatus::Applied | BatchItemStatus::Duplicate, Some(version), _) => {
                answers.acks.push(Ack {
                    change_id,
                    version,
                    seq: result.seq.unwrap_or(0),
                    data: result.data.unwrap_or_default(),
                    unchanged: result.unchanged,
                });
            }
            (BatchItemStatus::Conflict, _, Some(conflict)) => answers.conflicts.push(conflict),
            (BatchItemStatus::Error, _, _) => {
                let error = result.error.unwrap_or(ErrorBody {
                    code: ErrorCode::Unknown,
                    message: "error without details".into(),
                });
                answers
                    .rejections
                    .push((change_id, error.code, error.message));
            }
            (status, _, _) => {
                // A malformed item answer: transient, so the change is retried, never lost.
                answers.rejections.push((
                    change_id,
                    ErrorCode::Unknown,
                    format!("incomplete batch answer ({status:?})"),
                ));
            }
        }
    }
    answers
}

#[cfg(test)]
mod tests {
    use legato_protocol::{BatchResult, EntityId, EntityType, Operation};
    use serde_json::json;

    use super::*;

    fn noise(len: usize) -> String {
        // A linear congruential generator: text that DEFLATE cannot shrink much.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                char::from(b'!' + ((x >> 33) % 90) as u8)
            })
            .collect()
    }

    fn change(id: &str, notes_len: usize) -> Change {
        Change {
            change_id: id.into(),
            entity_type: EntityType::Logbook,
            entity_id: EntityId::new(id).unwrap(),
            operation: Operation::Update,
            // Incompressible-ish text so compression does not shrink it away.
            data: json!({"notes": noise(notes_len)})
                .as_object()
                .unwrap()
                .clone(),
            base_version: 1,
            client_id: "d".into(),
            timestamp: 1,
        }
    }

    #[test]
    fn planned_changes_are_sorted_by_way_of_sending() {
        let item = |id: &str, notes_len: usize| OutboxItem {
            seq: 0,
            change: change(id, notes_len),
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            in_flight: false,
        };
        let items = || {
            vec![
                item("a", 10),
                item("b", 10),
                item("c", 2 * MAX_MESSAGE_BYTES),
            ]
        };
        let plan = || {
            vec![
                Dispatch::websocket("a"),
                Dispatch::batch(vec!["b".into(), "c".into()]),
            ]
        };
        let ids = |changes: &[Change]| -> Vec<String> {
            changes.iter().map(|c| c.change_id.clone()).collect()
        };
        let sends = assign(items(), plan(), true, true);
        assert_eq!(ids(&sends.singles), ["a"]);
        assert_eq!(sends.batches.len(), 1);
        assert_eq!(ids(&sends.batches[0]), ["b"]);
        assert_eq!(ids(&sends.too_large), ["c"]);
        // Without an HTTP client everything goes over the WebSocket.
        let sends = assign(items(), plan(), false, true);
        assert_eq!(ids(&sends.singles), ["a", "b"]);
        assert!(sends.batches.is_empty());
        assert_eq!(ids(&sends.too_large), ["c"]);
    }

    #[test]
    fn batches_are_split_to_fit_the_body_limit() {
        let changes: Vec<Change> = (0..5).map(|i| change(&format!("c{i}"), 300_000)).collect();
        let chunks = split_by_size(changes, true);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [3, 2]);
        let small: Vec<Change> = (0..50).map(|i| change(&format!("s{i}"), 10)).collect();
        assert_eq!(split_by_size(small, true).len(), 1);
    }

    #[test]
    fn batch_results_map_to_answers() {
        let result = |id: &str, status| BatchResult {
            change_id: id.into(),
            status,
            version: None,
            seq: None,
            data: None,
            unchanged: false,
            conflict: None,
            error: None,
        };
        let response = BatchResponse {
            results: vec![
                BatchResult {
                    version: Some(2),
                    seq: Some(9),
                    ..result("a", BatchItemStatus::Applied)
                },
                BatchResult {
                    version: Some(1),
                    seq: Some(3),
                    ..result("b", BatchItemStatus::Duplicate)
                },
                BatchResult {
                    error: Some(ErrorBody {
                        code: ErrorCode::Invalid,
                        message: "tags: too many".into(),
                    }),
                    ..result("c", BatchItemStatus::Error)
                },
                result("d", BatchItemStatus::Applied),
            ],
        };
        let answers = batch_answers(response);
        assert_eq!(
            answers
                .acks
                .iter()
                .map(|a| (a.change_id.as_str(), a.version, a.seq))
                .collect::<Vec<_>>(),
            [("a", 2, 9), ("b", 1, 3)]
        );
        assert_eq!(answers.rejections[0].1, ErrorCode::Invalid);
        assert_eq!(answers.rejections[1].0, "d");
        assert!(answers.rejections[1].1.is_transient());
    }
}
