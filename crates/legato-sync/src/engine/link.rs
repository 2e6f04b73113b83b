//! The connection's life: connect (in a task, so the loop stays responsive), `hello` and
//! `subscribe`, the heartbeat, and every way it ends, followed by a reconnect with backoff.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use futures_util::SinkExt;
use legato_protocol::{ClientMessage, EntityType, PROTOCOL_VERSION};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{CatchUp, Conn, Engine, Link, Phase, Reason};
use crate::error::TransportError;
use crate::heartbeat::{Beat, Heartbeat};
use crate::problem::{ProblemKind, SyncProblem};
use crate::status::SyncEvent;
use crate::transport::{self, Socket};

/// How long a clean close may take before the socket is just dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

impl Engine {
    /// Starts a connection attempt when one is due and allowed.
    pub(super) fn maybe_connect(&mut self) {
        let Link::Down { retry_at: Some(at) } = self.link else {
            return;
        };
        if at > Instant::now() || !self.may_connect() {
            return;
        }
        let Some(token) = self.token.clone() else {
            return;
        };
        let url = self.config.server.websocket();
        let timeout = self.config.connect_timeout;
        tracing::debug!(%url, attempt = self.backoff.attempts(), "connecting");
        self.link = Link::Connecting(tokio::spawn(async move {
            transport::connect(&url, &token, timeout).await
        }));
        self.publish();
    }

    /// Connects now instead of waiting for the backoff (sync now, resume).
    pub(super) fn connect_now(&mut self) {
        if let Link::Down { retry_at } = &mut self.link {
            *retry_at = Some(Instant::now());
        }
    }

    pub(super) async fn on_connected(&mut self, result: Result<Socket, TransportError>) {
        let socket = match result {
            Ok(socket) => socket,
            Err(err) => {
                tracing::info!(error = %err, "connection attempt failed");
                self.link_failed(Reason::Transport(err), false).await;
                return;
            }
        };
        // Whatever was in flight on an earlier connection is pending again (not an attempt).
        let reset = self
            .store
            .call(|store| Ok((store.reset_in_flight()?, store.cursor()?)))
            .await;
        let (_, cursor) = match reset {
            Ok(values) => values,
            Err(err) => {
                drop(socket);
                self.link_failed(Reason::store(&err), false).await;
                return;
            }
        };
        self.cursor = cursor;
        self.link = Link::Up(Box::new(self.new_conn(socket)));
        let hello = ClientMessage::Hello {
            client_id: self.client_id.clone(),
            protocol: PROTOCOL_VERSION,
            compress: self.config.compress,
        };
        if let Err(err) = self.send_messages(&[hello]).await {
            self.link_failed(Reason::Transport(err), true).await;
            return;
        }
        self.plan_needed = true;
        tracing::info!(
            cursor,
            "connected; pushing pending changes, then catching up"
        );
        self.last_error = None;
        self.emit(SyncEvent::Connected);
        self.publish();
    }

    fn new_conn(&self, socket: Socket) -> Conn {
        Conn {
            socket,
            heartbeat: Heartbeat::new(
                self.config.heartbeat,
                self.config.pong_timeout,
                Instant::now(),
            ),
            phase: Phase::Pushing,
        }
    }

    /// While pushing after a (re)connect: sends what is due (throttles ignored) and, once
    /// nothing is in flight or due, subscribes from the cursor.
    pub(super) async fn push_then_subscribe(&mut self) {
        if !self.flights.is_empty() || !self.batches.is_empty() {
            return;
        }
        if self.send_pending().await > 0 {
            return;
        }
        let Link::Up(conn) = &mut self.link else {
            return;
        };
        let since = self.cursor;
        conn.phase = Phase::CatchingUp(CatchUp::new(since));
        self.page_refused = Arc::new(AtomicBool::new(false));
        let subscribe = ClientMessage::Subscribe {
            entities: EntityType::ALL.to_vec(),
            since,
        };
        tracing::debug!(since, "pending changes pushed; catching up");
        if let Err(err) = self.send_messages(&[subscribe]).await {
            self.link_failed(Reason::Transport(err), true).await;
        }
    }

    /// Sends messages in order and flushes, within the pong deadline (a write that cannot
    /// make progress is another sign of a dead connection).
    pub(super) async fn send_messages(
        &mut self,
        messages: &[ClientMessage],
    ) -> Result<(), TransportError> {
        let Link::Up(conn) = &mut self.link else {
            return Err(TransportError::Network("not connected".into()));
        };
        let socket = &mut conn.socket;
        let write = async {
            for message in messages {
                socket.feed(Message::text(message.to_json())).await?;
            }
            socket.flush().await
        };
        match tokio::time::timeout(self.config.pong_timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(TransportError::Network(err.to_string())),
            Err(_) => Err(TransportError::Timeout("writing to the server")),
        }
    }

    /// Asks the server for a catch-up from the cursor (a version gap was found).
    pub(super) async fn request_catch_up(&mut self) {
        let Link::Up(conn) = &mut self.link else {
            return;
        };
        match conn.phase {
            // The coming catch-up covers it.
            Phase::Pushing => return,
            Phase::CatchingUp(_) => {
                // The running catch-up may have been read before the gap: run another.
                self.catch_up_again = true;
                return;
            }
            Phase::Live => {}
        }
        let since = self.cursor;
        conn.phase = Phase::CatchingUp(CatchUp::new(since));
        self.page_refused = Arc::new(AtomicBool::new(false));
        tracing::debug!(since, "version gap: catching up from the cursor");
        let subscribe = ClientMessage::Subscribe {
            entities: EntityType::ALL.to_vec(),
            since,
        };
        if let Err(err) = self.send_messages(&[subscribe]).await {
            self.link_failed(Reason::Transport(err), true).await;
        }
    }

    pub(super) async fn on_heartbeat_timer(&mut self, now: Instant) {
        let Link::Up(conn) = &mut self.link else {
            return;
        };
        match conn.heartbeat.on_timer(now) {
            Beat::Wait => {}
            Beat::SendPing => {
                if let Err(err) = self.send_messages(&[ClientMessage::Ping]).await {
                    self.link_failed(Reason::Transport(err), true).await;
                }
            }
            Beat::HalfOpen => {
                tracing::info!("no frame since the ping: dropping a half-open connection");
                self.link_failed(Reason::Transport(TransportError::HalfOpen), true)
                    .await;
            }
        }
    }

    /// The connection (or the attempt) failed: clean up, tell the waiters, and schedule the
    /// next attempt with backoff (or none, if the server refused the token).
    pub(super) async fn link_failed(&mut self, reason: Reason, was_up: bool) {
        self.close_link(None).await;
        let refused = matches!(reason, Reason::Transport(TransportError::Unauthorized));
        if refused {
            self.auth_refused = true;
        }
        self.note_error(reason.problem());
        self.fail_waiters(&reason);
        let retry_at = self.may_connect().then(|| {
            let delay = self.backoff.next_delay();
            tracing::debug!(?delay, "reconnecting after backoff");
            Instant::now() + delay
        });
        self.link = Link::Down { retry_at };
        if was_up {
            self.emit(SyncEvent::Disconnected {
                reason: reason.to_string(),
            });
        }
        self.publish();
    }

    /// Ends the connection on purpose (pause, new token, shutdown): a clean close, no
    /// backoff, no error.
    pub(super) async fn drop_link(&mut self, reason: Reason) {
        let was_up = matches!(self.link, Link::Up(_));
        self.close_link(Some(CloseCode::Normal)).await;
        self.fail_waiters(&reason);
        self.link = Link::Down { retry_at: None };
        if was_up {
            self.emit(SyncEvent::Disconnected {
                reason: reason.to_string(),
            });
        }
    }

    /// Closes the socket (with a close frame when `code` is given) or stops the attempt,
    /// applies what a catch-up had buffered, and puts everything in flight back to pending.
    async fn close_link(&mut self, code: Option<CloseCode>) {
        let link = std::mem::replace(&mut self.link, Link::Down { retry_at: None });
        match link {
            Link::Down { .. } => {}
            Link::Connecting(task) => task.abort(),
            Link::Up(mut conn) => {
                // Pages already queued on the store commit whatever happens; take in their
                // results (the cursor moved with them).
                while let Some(job) = self.pages.pop_front() {
                    let result = job.done.await;
                    if let Err(err) = self.settle_page(job.count, result) {
                        tracing::warn!(error = %err, "could not apply a catch-up page");
                    }
                }
                if let Phase::CatchingUp(catch_up) = &mut conn.phase {
                    let page = std::mem::take(&mut catch_up.buffer);
                    if let Some(last) = page.last().map(|u| u.seq) {
                        // A page boundary like any other: the data and its cursor together.
                        if let Err(err) = self.apply_page(page, Some(last)).await {
                            tracing::warn!(error = %err, "could not apply the last catch-up page");
                        }
                    }
                }
                if let Some(code) = code {
                    let frame = CloseFrame {
                        code,
                        reason: "".into(),
                    };
                    let _ = tokio::time::timeout(
                        CLOSE_GRACE,
                        conn.socket.send(Message::Close(Some(frame))),
                    )
                    .await;
                }
            }
        }
        self.abandon_flights().await;
    }

    /// The connection is gone: every change in flight goes back to pending without counting
    /// an attempt (the server may have applied it; resending gets `duplicate`).
    async fn abandon_flights(&mut self) {
        self.batches.abort_all();
        self.batch_ids.clear();
        if !self.flights.is_empty() {
            self.metrics.failure(SyncProblem::new(
                ProblemKind::Unreachable,
                true,
                format!(
                    "{} change(s) unanswered when the connection ended",
                    self.flights.len()
                ),
            ));
            self.flights.clear();
        }
        if let Err(err) = self.store.call(|store| store.reset_in_flight()).await {
            tracing::warn!(error = %err, "could not put in-flight changes back to pending");
        }
        self.counts_dirty = true;
    }
}
