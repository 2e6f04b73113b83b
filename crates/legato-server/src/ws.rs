//! One WebSocket `/sync` connection (PROTOCOL.md 5.1).
//!
//! A single task runs one `select!` over: the shutdown token, inbound frames, the bounded
//! queue of live updates from the [`Hub`](crate::hub::Hub), and the idle timer. Replies to the
//! client's own messages are written inline (so a client that does not read stops being
//! read, too); live updates wait in the bounded queue, and a connection whose queue overflows
//! is closed with 1013 (the client reconnects and catches up from its cursor). Every write
//! has a timeout. The code is generic over the socket, so it runs on any `Sink + Stream` of
//! messages.
//!
//! Catch-up is race-free: the connection registers for live updates before it reads the
//! first page, pages by `last_seq > cursor`, reads the user's latest seq `S` in the same
//! snapshot as the last page, sends `sync_complete(S)`, and from then on forwards only live
//! updates with `seq > S` (and above the last one sent).

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use legato_protocol::{
    AckStatus, Change, ClientMessage, DEFLATE_THRESHOLD_CHARS, EntityType, ErrorCode, Fields,
    MessageError, PROTOCOL_VERSION, ServerMessage, UpdateData, deflate_string,
};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::apply::check_id;
use crate::db::{ChangeOutcome, ChangesPage, Database, DbError, FullUpdate, UserId};
use crate::extract::{TokenUse, check_token_use};
use crate::hub::Subscription;
use crate::ratelimit::retry_after_secs;
use crate::sessions::{Session, token_recheck_interval};
use crate::sync::{SyncService, now_ms};

pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// The connection's token was revoked (logout, the device revoked, a password change) or
/// expired: reconnecting gets 401 at the handshake.
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
pub const CLOSE_TOO_BIG: u16 = 1009;
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

/// Per-connection knobs (from [`crate::Settings`]).
#[derive(Debug, Clone)]
pub struct WsConfig {
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub page_size: usize,
    pub outbound_queue: usize,
}

#[derive(Debug)]
struct Hello {
    client_id: String,
    compress: bool,
}

/// What the loop does after handling one event.
#[derive(Debug)]
enum Flow {
    Continue,
    /// End without a close frame (the peer is gone or closed first).
    Stop,
    Close(u16, &'static str),
    /// Close, then keep the socket (unread) for a moment: the rest of an oversize frame is
    /// still unread, and dropping the socket at once would reset the TCP connection before
    /// the peer has read our error and close frames.
    CloseAndLinger(u16, &'static str),
}

/// How long a connection closed for an oversize frame stays open, unread.
const LINGER: Duration = Duration::from_secs(1);

/// The socket cannot be written to any more.
#[derive(Debug)]
struct Gone;

/// Resolves when the connection's token is revoked on this node; never without a session.
async fn token_ended(session: Option<&TokenSession>) {
    match session {
        Some(token) => token.session.ended().await,
        None => pending().await,
    }
}

enum Live {
    Update(Arc<UpdateData>),
    Kicked,
}

/// A connection of `user`, after a successful handshake.
#[derive(Debug)]
pub struct Connection<S, D> {
    socket: S,
    sync: Arc<SyncService<D>>,
    user: UserId,
    config: WsConfig,
    shutdown: CancellationToken,
    hello: Option<Hello>,
    subscription: Option<Subscription>,
    /// Highest seq sent as an update or covered by `sync_complete`.
    last_sent_seq: u64,
    /// The token the connection was opened with, when it is registered (see
    /// [`Connection::with_session`]).
    session: Option<TokenSession>,
}

/// A connection's token: its registration, the idle expiry, the client id on record.
#[derive(Debug)]
struct TokenSession {
    session: Session,
    idle: Option<Duration>,
    recorded_client_id: Option<String>,
}

const TOKEN_ENDED: &str = "signed out: this sign-in was revoked or expired";

impl<S, D> Connection<S, D>
where
    S: Stream<Item = Result<Message, axum::Error>>
        + Sink<Message, Error = axum::Error>
        + Unpin
        + Send,
    D: Database,
{
    pub fn new(
        socket: S,
        sync: Arc<SyncService<D>>,
        user: UserId,
        config: WsConfig,
        shutdown: CancellationToken,
    ) -> Self {
        Connection {
            socket,
            sync,
            user,
            config,
            shutdown,
            hello: None,
            subscription: None,
            last_sent_seq: 0,
            session: None,
        }
    }

    /// Ties the connection to its token: it closes with [`CLOSE_POLICY_VIOLATION`] as soon
    /// as the token is revoked on this node, and re-checks the token (revoked on another
    /// node, idle-expired) every [`token_recheck_interval`], recording the use.
    /// `recorded_client_id` is the client id the token has on record (a `hello` with another
    /// one is recorded).
    pub fn with_session(
        mut self,
        session: Session,
        idle: Option<Duration>,
        recorded_client_id: Option<String>,
    ) -> Self {
        self.session = Some(TokenSession {
            session,
            idle,
            recorded_client_id,
        });
        self
    }

    /// Serves the connection until either side ends it.
    pub async fn run(self) {
        let span = tracing::info_span!("ws", user_id = %self.user);
        self.run_inner().instrument(span).await;
    }

    async fn run_inner(mut self) {
        let gauge = self.sync.metrics.ws_connections.clone();
        gauge.inc();
        tracing::debug!("connection opened");
        let idle = tokio::time::sleep(self.config.idle_timeout);
        tokio::pin!(idle);
        let every = token_recheck_interval(self.session.as_ref().and_then(|s| s.idle));
        let mut recheck = tokio::time::interval_at(Instant::now() + every, every);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let flow = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => Ok(Flow::Close(CLOSE_GOING_AWAY, "server shutting down")),
                () = token_ended(self.session.as_ref()) => {
                    Ok(Flow::Close(CLOSE_POLICY_VIOLATION, TOKEN_ENDED))
                }
                _ = recheck.tick(), if self.session.is_some() => self.recheck_token().await,
                frame = self.socket.next() => {
                    // Boxed: an idle connection should not carry the apply future's size.
                    let flow = Box::pin(self.on_frame(frame)).await;
                    // Counted from the end of the work (a long catch-up is not idleness).
                    idle.as_mut().reset(Instant::now() + self.config.idle_timeout);
                    flow
                }
                live = next_live(&mut self.subscription) => match live {
                    Live::Update(update) => Box::pin(self.forward(&update)).await,
                    Live::Kicked => Ok(Flow::Close(
                        CLOSE_TRY_AGAIN_LATER,
                        "too slow: outbound queue full; reconnect and catch up from your cursor",
                    )),
                },
                () = &mut idle => Ok(Flow::Close(CLOSE_NORMAL, "idle timeout")),
            };
            match flow {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) | Err(Gone) => break,
                Ok(Flow::Close(code, reason)) => {
                    self.close(code, reason).await;
                    break;
                }
                Ok(Flow::CloseAndLinger(code, reason)) => {
                    if self.close(code, reason).await {
                        tokio::select! {
                            () = tokio::time::sleep(LINGER) => {}
                            () = self.shutdown.cancelled() => {}
                        }
                    }
                    break;
                }
            }
        }
        // Best effort: flush a pending close reply; never wait long for a dead peer.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.socket.close()).await;
        drop(self);
        gauge.dec();
        tracing::debug!("connection closed");
    }

    /// Re-reads the connection's token: closes when it is revoked or idle-expired, else
    /// records the use (an open connection is a device in use) when it is due.
    async fn recheck_token(&mut self) -> Result<Flow, Gone> {
        let Some(token) = &self.session else {
            return Ok(Flow::Continue);
        };
        let hash = token.session.token();
        let db = &self.sync.db;
        let record = match db.user_for_token(hash).await {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(Flow::Close(CLOSE_POLICY_VIOLATION, TOKEN_ENDED)),
            Err(err) => {
                // A store hiccup is not a revoke; the next check decides.
                tracing::warn!(error = %err, "re-checking the connection's token");
                return Ok(Flow::Continue);
            }
        };
        let now = now_ms();
        match check_token_use(&record, now, token.idle) {
            TokenUse::Fresh => {}
            TokenUse::Touch => {
                if let Err(err) = db.touch_token(hash, now, None).await {
                    tracing::warn!(error = %err, "recording the token's use");
                }
            }
            TokenUse::Expired => {
                if let Err(err) = db.revoke_token(hash, now).await {
                    tracing::warn!(error = %err, "revoking an expired token");
                }
                return Ok(Flow::Close(CLOSE_POLICY_VIOLATION, TOKEN_ENDED));
            }
        }
        Ok(Flow::Continue)
    }

    /// Sends a close frame; false when the socket is gone.
    async fn close(&mut self, code: u16, reason: &'static str) -> bool {
        tracing::debug!(code, reason, "closing");
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        self.send_raw(frame).await.is_ok()
    }

    async fn on_frame(
        &mut self,
        frame: Option<Result<Message, axum::Error>>,
    ) -> Result<Flow, Gone> {
        match frame {
            None | Some(Ok(Message::Close(_))) => Ok(Flow::Stop),
            Some(Err(err)) => {
                if is_too_large(err) {
                    self.send_error(ErrorCode::TooLarge, "frame larger than 1 MiB", None)
                        .await?;
                    Ok(Flow::CloseAndLinger(
                        CLOSE_TOO_BIG,
                        "frame larger than 1 MiB",
                    ))
                } else {
                    // Protocol violations and resets end the connection quietly.
                    Ok(Flow::Stop)
                }
            }
            Some(Ok(Message::Text(text))) => self.on_text(text.as_str()).await,
            Some(Ok(Message::Binary(_))) => {
                self.send_error(
                    ErrorCode::Invalid,
                    "binary frames are not supported: send JSON text",
                    None,
                )
                .await?;
                Ok(Flow::Continue)
            }
            // Pings are answered by the WebSocket layer; both count as activity.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(Flow::Continue),
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<Flow, Gone> {
        let message = match ClientMessage::parse(text) {
            Ok(message) => message,
            Err(err) => {
                let (message, change_id) = describe_parse_error(text, &err);
                self.send_error(ErrorCode::Invalid, message, change_id)
                    .await?;
                return Ok(Flow::Continue);
            }
        };
        match message {
            ClientMessage::Hello {
                client_id,
                protocol,
                compress,
            } => self.on_hello(client_id, protocol, compress).await,
            ClientMessage::Subscribe { entities, since } => {
                self.on_subscribe(&entities, since).await
            }
            ClientMessage::Sync { data } => self.on_sync(data).await,
            ClientMessage::Ping => {
                self.send(&ServerMessage::Pong).await?;
                Ok(Flow::Continue)
            }
        }
    }

    async fn on_hello(
        &mut self,
        client_id: String,
        protocol: u32,
        compress: bool,
    ) -> Result<Flow, Gone> {
        if protocol != PROTOCOL_VERSION {
            let message = format!(
                "unsupported protocol version {protocol}; this server speaks {PROTOCOL_VERSION}"
            );
            self.send_error(ErrorCode::Invalid, message, None).await?;
            return Ok(Flow::Close(
                CLOSE_PROTOCOL_ERROR,
                "unsupported protocol version",
            ));
        }
        if self.hello.is_some() {
            self.send_error(
                ErrorCode::Invalid,
                "hello was already received on this connection",
                None,
            )
            .await?;
            return Ok(Flow::Continue);
        }
        if let Err(message) = check_id("clientId", &client_id) {
            self.send_error(ErrorCode::Invalid, message, None).await?;
            return Ok(Flow::Continue);
        }
        tracing::debug!(client_id, compress, "hello");
        if let Some(token) = &mut self.session
            && token.recorded_client_id.as_deref() != Some(client_id.as_str())
        {
            let hash = token.session.token();
            match self
                .sync
                .db
                .touch_token(hash, now_ms(), Some(client_id.clone()))
                .await
            {
                Ok(()) => token.recorded_client_id = Some(client_id.clone()),
                Err(err) => tracing::warn!(error = %err, "recording the client id"),
            }
        }
        self.hello = Some(Hello {
            client_id,
            compress,
        });
        Ok(Flow::Continue)
    }

    async fn on_subscribe(&mut self, types: &[EntityType], since: u64) -> Result<Flow, Gone> {
        let Some(hello) = &self.hello else {
            self.send_error(ErrorCode::Invalid, "send hello before subscribe", None)
                .await?;
            return Ok(Flow::Continue);
        };
        // Every subscribe starts a catch-up: the account's read budget. Over it the
        // connection closes with 1013, which clients answer by reconnecting with backoff.
        if self.sync.check_read_rate(&self.user).is_err() {
            return Ok(Flow::Close(
                CLOSE_TRY_AGAIN_LATER,
                "too many catch-ups for this account; reconnect later",
            ));
        }
        let compress = hello.compress;
        // Register before reading, so a change committed during the catch-up is either in a
        // page or in the queue (or both: then the seq filter drops the second copy).
        self.subscription = None;
        let subscription = self.sync.hub.subscribe(
            &self.user,
            &hello.client_id,
            types,
            self.config.outbound_queue,
        );
        self.subscription = Some(subscription);

        // The next page is read while this one is written to the socket.
        let mut next = PageRead::start(
            &self.sync.db,
            &self.user,
            types,
            since,
            self.config.page_size,
        );
        let latest = loop {
            if self.shutdown.is_cancelled() {
                return Ok(Flow::Close(CLOSE_GOING_AWAY, "server shutting down"));
            }
            let page = match next.finish().await {
                Ok(page) => page,
                Err(err) => return self.catch_up_failed("read", &err).await,
            };
            // (An empty page never has more: the loop could not move on.)
            let more = page.has_more && !page.changes.is_empty();
            if more && let Some(last) = page.changes.last() {
                next = PageRead::start(
                    &self.sync.db,
                    &self.user,
                    types,
                    last.seq,
                    self.config.page_size,
                );
            }
            // A page goes out as one write: the frames are queued, then flushed together.
            for update in &page.changes {
                let text = match catch_up_frame(update, compress) {
                    Ok(text) => text,
                    Err(err) => return self.catch_up_failed("frame", &err).await,
                };
                self.last_sent_seq = self.last_sent_seq.max(update.seq);
                self.write(Some(Message::Text(text.into())), false).await?;
            }
            self.flush().await?;
            if !more {
                break page.latest_seq;
            }
        };
        self.last_sent_seq = latest;
        if let Some(subscription) = &self.subscription {
            subscription.caught_up(latest);
        }
        tracing::debug!(since, seq = latest, "catch-up complete");
        self.send(&ServerMessage::SyncComplete {
            seq: latest,
            timestamp: now_ms(),
        })
        .await?;
        Ok(Flow::Continue)
    }

    async fn on_sync(&mut self, change: Change) -> Result<Flow, Gone> {
        let change_id = change.change_id.clone();
        let span = tracing::info_span!("sync", change_id = %change_id);
        self.sync_inner(change, change_id).instrument(span).await
    }

    async fn sync_inner(&mut self, change: Change, change_id: String) -> Result<Flow, Gone> {
        if self.hello.is_none() {
            self.send_error(
                ErrorCode::Invalid,
                "send hello before sync",
                Some(change_id),
            )
            .await?;
            return Ok(Flow::Continue);
        }
        if let Err(wait) = self.sync.check_rate(&self.user, 1) {
            let message = format!("too many changes; retry in {} s", retry_after_secs(wait));
            self.send_error(ErrorCode::RateLimited, message, Some(change_id))
                .await?;
            return Ok(Flow::Continue);
        }
        let outcome = match self.sync.apply(&self.user, vec![change]).await {
            Ok(mut outcomes) if outcomes.len() == 1 => outcomes.remove(0),
            Ok(_) | Err(_) => {
                tracing::error!("applying a change failed");
                self.send_error(
                    ErrorCode::Internal,
                    "internal error; retry",
                    Some(change_id),
                )
                .await?;
                return Ok(Flow::Continue);
            }
        };
        let reply = match outcome {
            ChangeOutcome::Applied {
                version,
                seq,
                touched,
                unchanged,
                ..
            } => ServerMessage::Ack {
                change_id,
                status: AckStatus::Applied,
                version,
                seq,
                data: touched,
                unchanged,
            },
            ChangeOutcome::Duplicate {
                version,
                seq,
                touched,
                unchanged,
            } => ServerMessage::Ack {
                change_id,
                status: AckStatus::Duplicate,
                version,
                seq,
                data: touched,
                unchanged,
            },
            ChangeOutcome::Conflict(conflict) => ServerMessage::Conflict { data: conflict },
            ChangeOutcome::Rejected { code, message } => {
                // Counted by the service already.
                ServerMessage::error(code, message, Some(change_id))
            }
        };
        self.send(&reply).await?;
        Ok(Flow::Continue)
    }

    /// A catch-up that cannot go on: the client is told, and reconnects to start over from
    /// its cursor.
    async fn catch_up_failed(&mut self, step: &str, err: &DbError) -> Result<Flow, Gone> {
        tracing::error!(error = %err, step, "catch-up failed");
        self.send_error(ErrorCode::Internal, "catch-up failed; reconnect", None)
            .await?;
        Ok(Flow::Close(CLOSE_INTERNAL_ERROR, "catch-up failed"))
    }

    /// Sends a live update (unless a catch-up page already covered it).
    async fn forward(&mut self, update: &UpdateData) -> Result<Flow, Gone> {
        if update.seq > self.last_sent_seq {
            let mut update = update.clone();
            if self.hello.as_ref().is_some_and(|h| h.compress) {
                compress_fields(&mut update.data);
            }
            self.last_sent_seq = update.seq;
            let text = ServerMessage::Update { data: update }.to_json();
            self.send_raw(Message::Text(text.into())).await?;
        }
        Ok(Flow::Continue)
    }

    async fn send_error(
        &mut self,
        code: ErrorCode,
        message: impl Into<String>,
        change_id: Option<String>,
    ) -> Result<(), Gone> {
        // Rejections by the apply rule are counted by the service; this path counts the rest.
        self.sync.count_error(code);
        self.send(&ServerMessage::error(code, message, change_id))
            .await
    }

    async fn send(&mut self, message: &ServerMessage) -> Result<(), Gone> {
        self.send_raw(Message::Text(message.to_json().into())).await
    }

    async fn send_raw(&mut self, message: Message) -> Result<(), Gone> {
        self.write(Some(message), true).await
    }

    /// Sends what was queued.
    async fn flush(&mut self) -> Result<(), Gone> {
        self.write(None, true).await
    }

    /// Queues `message` (if any) and, with `flush`, sends everything queued.
    async fn write(&mut self, message: Option<Message>, flush: bool) -> Result<(), Gone> {
        // A connection kicked for overflowing its queue stops waiting on a stuck write.
        let kicked = self.subscription.as_ref().map(|s| s.kicked.clone());
        let is_close = matches!(message, Some(Message::Close(_)));
        let socket = &mut self.socket;
        let io = async move {
            match (message, flush) {
                (Some(message), true) => socket.send(message).await,
                (Some(message), false) => socket.feed(message).await,
                (None, _) => socket.flush().await,
            }
        };
        let write = tokio::time::timeout(self.config.write_timeout, io);
        let kicked = async {
            match kicked {
                Some(token) if !is_close => token.cancelled_owned().await,
                _ => pending().await,
            }
        };
        tokio::select! {
            biased;
            written = write => match written {
                Ok(Ok(())) => Ok(()),
                Ok(Err(err)) => {
                    tracing::debug!(error = %err, "write failed");
                    Err(Gone)
                }
                Err(_) => {
                    tracing::info!("write timed out; dropping the connection");
                    Err(Gone)
                }
            },
            () = kicked => {
                tracing::info!("too slow to read its updates; dropping the connection");
                Err(Gone)
            }
        }
    }
}

/// A catch-up page being read on its own task; aborted when dropped unfinished.
struct PageRead(tokio::task::JoinHandle<Result<ChangesPage, DbError>>);

impl PageRead {
    fn start<D: Database>(
        db: &D,
        user: &UserId,
        types: &[EntityType],
        since: u64,
        limit: usize,
    ) -> Self {
        let (db, user, types) = (db.clone(), user.clone(), types.to_vec());
        PageRead(tokio::spawn(async move {
            db.changes_since(&user, &types, since, limit).await
        }))
    }

    async fn finish(&mut self) -> Result<ChangesPage, DbError> {
        match (&mut self.0).await {
            Ok(result) => result,
            Err(err) => Err(DbError::Backend(Box::new(err))),
        }
    }
}

impl Drop for PageRead {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn next_live(subscription: &mut Option<Subscription>) -> Live {
    let Some(sub) = subscription else {
        return pending().await;
    };
    let kicked = sub.kicked.clone();
    tokio::select! {
        biased;
        () = kicked.cancelled() => Live::Kicked,
        update = sub.recv() => update.map_or(Live::Kicked, Live::Update),
    }
}

/// Whether a read error is a frame or message over the configured size.
fn is_too_large(err: axum::Error) -> bool {
    err.into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

/// An `invalid` message naming the problem, and the change id when the frame was a `sync`
/// whose `data` has one. For a `sync`, the field path inside `data` is named.
pub fn describe_parse_error(text: &str, err: &MessageError) -> (String, Option<String>) {
    let MessageError::InvalidFields { kind, .. } = err else {
        return (err.to_string(), None);
    };
    if kind != "sync" {
        return (err.to_string(), None);
    }
    let Ok(Value::Object(mut frame)) = serde_json::from_str::<Value>(text) else {
        return (err.to_string(), None);
    };
    let Some(data) = frame.remove("data") else {
        return (err.to_string(), None);
    };
    let change_id = data
        .get("changeId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let message = match serde_path_to_error::deserialize::<_, Change>(data) {
        Err(e) if e.path().to_string() != "." => {
            format!("invalid `sync` message: data.{}: {}", e.path(), e.inner())
        }
        _ => err.to_string(),
    };
    (message, change_id)
}

/// The `update` frame of a catch-up entry, as `ServerMessage::Update` would write it.
///
/// The stored state is embedded as is. Only when the connection compresses and the state is
/// long enough to hold a string over the threshold (a string of more than N characters takes
/// more than N bytes) is it parsed, so that [`compress_fields`] can rewrite it.
fn catch_up_frame(update: &FullUpdate, compress: bool) -> Result<String, DbError> {
    if compress && update.data.get().len() > DEFLATE_THRESHOLD_CHARS {
        let mut update = update.to_update_data()?;
        compress_fields(&mut update.data);
        return Ok(ServerMessage::Update { data: update }.to_json());
    }
    /// `ServerMessage::Update`'s shape: internally tagged, `type` first.
    #[derive(serde::Serialize)]
    #[serde(tag = "type", rename = "update")]
    struct Frame<'a> {
        data: &'a FullUpdate,
    }
    serde_json::to_string(&Frame { data: update })
        .map_err(|e| DbError::Corrupt(format!("serializing an update: {e}")))
}

/// Replaces top-level string values longer than the threshold by `{"$deflate": ...}` when
/// that is smaller (for connections that said `compress: true`).
pub fn compress_fields(data: &mut Fields) {
    for value in data.values_mut() {
        let Value::String(text) = value else { continue };
        if text.chars().count() <= DEFLATE_THRESHOLD_CHARS {
            continue;
        }
        let encoded = deflate_string(text);
        // `{"$deflate":""}` adds 14 characters around the base64.
        if encoded.len() + 14 < text.len() {
            *value = serde_json::json!({ "$deflate": encoded });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use legato_protocol::inflate_string;
    use serde_json::json;
    use tokio::sync::mpsc;

    use super::*;
    use crate::SqliteDatabase;
    use crate::auth::Token;
    use crate::db::{NewToken, NewUser};
    use crate::metrics::Metrics;
    use crate::ratelimit::RateLimiter;

    /// An in-memory socket: what the test sends comes out of the stream, and what the
    /// connection sends arrives on the test's receiver.
    struct TestSocket {
        inbound: mpsc::UnboundedReceiver<Result<Message, axum::Error>>,
        outbound: mpsc::UnboundedSender<Message>,
    }

    impl Stream for TestSocket {
        type Item = Result<Message, axum::Error>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.inbound.poll_recv(cx)
        }
    }

    impl Sink<Message> for TestSocket {
        type Error = axum::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), axum::Error> {
            self.outbound.send(item).map_err(axum::Error::new)
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    struct Peer {
        to_server: mpsc::UnboundedSender<Result<Message, axum::Error>>,
        from_server: mpsc::UnboundedReceiver<Message>,
    }

    impl Peer {
        fn send(&self, value: serde_json::Value) {
            self.to_server
                .send(Ok(Message::Text(value.to_string().into())))
                .unwrap();
        }

        async fn recv(&mut self) -> serde_json::Value {
            let message = tokio::time::timeout(Duration::from_secs(5), self.from_server.recv())
                .await
                .expect("a reply")
                .expect("connection open");
            match message {
                Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
                other => panic!("expected text, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn speaks_the_protocol_over_any_sink_and_stream() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(dir.path().join("ws.db"))
            .await
            .unwrap();
        let user = UserId::generate();
        db.create_user(
            NewUser {
                id: user.clone(),
                email: "a@b.co".into(),
                password_hash: "x".into(),
                created_at_ms: 0,
            },
            NewToken {
                hash: Token::generate().hash(),
                user_id: user.clone(),
                device_name: None,
                created_at_ms: 0,
            },
        )
        .await
        .unwrap();
        let sync = Arc::new(SyncService::new(
            db,
            Arc::new(Metrics::new()),
            RateLimiter::new(0.0, 1),
        ));
        let (to_server, inbound) = mpsc::unbounded_channel();
        let (outbound, from_server) = mpsc::unbounded_channel();
        let config = WsConfig {
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(5),
            page_size: 2,
            outbound_queue: 8,
        };
        let connection = Connection::new(
            TestSocket { inbound, outbound },
            Arc::clone(&sync),
            user.clone(),
            config,
            CancellationToken::new(),
        );
        let task = tokio::spawn(connection.run());
        let mut peer = Peer {
            to_server,
            from_server,
        };

        let change = json!({"changeId": "c1", "entityType": "goals", "entityId": "g1", "operation": "create",
            "data": {"title": "Scales"}, "clientId": "me", "timestamp": 1});
        peer.send(json!({"type": "sync", "data": change}));
        let reply = peer.recv().await;
        assert_eq!(
            (reply["code"].as_str(), reply["changeId"].as_str()),
            (Some("invalid"), Some("c1"))
        );

        peer.send(json!({"type": "hello", "clientId": "me", "protocol": 1}));
        peer.send(json!({"type": "subscribe", "entities": ["goals"], "since": 0}));
        let complete = peer.recv().await;
        assert_eq!(
            (complete["type"].as_str(), complete["seq"].as_u64()),
            (Some("sync_complete"), Some(0))
        );

        peer.send(json!({"type": "sync", "data": change}));
        let ack = peer.recv().await;
        assert_eq!(
            (
                ack["type"].as_str(),
                ack["status"].as_str(),
                ack["seq"].as_u64()
            ),
            (Some("ack"), Some("applied"), Some(1))
        );
        // Another device's change arrives as a live update; our own never does.
        let other = json!({"changeId": "c2", "entityType": "goals", "entityId": "g2", "operation": "create",
            "data": {"title": "Arpeggios"}, "clientId": "other", "timestamp": 1});
        sync.apply(&user, vec![serde_json::from_value(other).unwrap()])
            .await
            .unwrap();
        let update = peer.recv().await;
        assert_eq!(
            (update["type"].as_str(), update["data"]["seq"].as_u64()),
            (Some("update"), Some(2))
        );
        peer.send(json!({"type": "ping"}));
        assert_eq!(peer.recv().await["type"], "pong");

        // The stream ends: the connection stops and unregisters.
        drop(peer);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sync.hub.subscriber_count(&user), 0);
    }

    #[test]
    fn compresses_only_long_compressible_strings() {
        let long = "slow practice ".repeat(100);
        let random: String = (0..1500)
            .map(|i| char::from(b'!' + ((i * 7919 + i / 3) % 90) as u8))
            .collect();
        let mut data = json!({"notes": long, "title": "short", "n": 5, "r": random})
            .as_object()
            .unwrap()
            .clone();
        compress_fields(&mut data);
        let encoded = data["notes"]["$deflate"].as_str().unwrap();
        assert_eq!(inflate_string(encoded).unwrap(), long);
        assert_eq!(data["title"], json!("short"));
        assert_eq!(data["n"], json!(5));
    }

    /// A catch-up frame with the stored state embedded raw is the frame the parsing path
    /// wrote: byte for byte, with and without `compress`.
    #[test]
    fn catch_up_frames_match_the_parsing_path() {
        let long = "slow practice ".repeat(100);
        let random: String = (0..1500)
            .map(|i| char::from(b'!' + ((i * 7919 + i / 3) % 90) as u8))
            .collect();
        let states = [
            (
                json!({"title": "Scales", "bpm": 72.5, "x": {"z": [1, "é \"q\"\n</"], "a": null}}),
                false,
            ),
            (json!({"notes": long, "duration": 5, "tags": ["a"]}), false),
            (json!({"notes": random}), false),
            (json!({}), true),
        ];
        let mut compressed = 0;
        for (i, (state, deleted)) in states.into_iter().enumerate() {
            let update = UpdateData {
                entity_type: EntityType::Logbook,
                entity_id: legato_protocol::EntityId::new(format!("e{i}")).unwrap(),
                data: state.as_object().unwrap().clone(),
                version: 3,
                deleted,
                seq: 10 + i as u64,
                timestamp: -5,
                user_id: "ann".into(),
                client_id: "dev \"1\"".into(),
                change_id: "c".into(),
                full: true,
            };
            // As `store_entity` writes the state and `changes_page` reads it back.
            let stored = FullUpdate {
                entity_type: update.entity_type,
                entity_id: update.entity_id.clone(),
                data: serde_json::value::RawValue::from_string(
                    serde_json::to_string(&update.data).unwrap(),
                )
                .unwrap(),
                version: update.version,
                deleted,
                seq: update.seq,
                timestamp: update.timestamp,
                user_id: update.user_id.clone(),
                client_id: update.client_id.clone(),
                change_id: update.change_id.clone(),
            };
            for compress in [false, true] {
                let mut old = update.clone();
                if compress {
                    compress_fields(&mut old.data);
                }
                let old = ServerMessage::Update { data: old };
                let text = catch_up_frame(&stored, compress).unwrap();
                assert_eq!(text, old.to_json(), "state {i}, compress {compress}");
                assert_eq!(ServerMessage::parse(&text).unwrap(), old);
                assert!(compress || !text.contains("$deflate"));
                compressed += usize::from(text.contains("$deflate"));
            }
        }
        assert!(compressed >= 1, "the long notes go out deflated");
    }

    #[test]
    fn parse_errors_name_the_field_and_the_change() {
        let text = r#"{"type":"sync","data":{"changeId":"c1","entityType":"goals","entityId":"g1","operation":"update","data":{},"baseVersion":"three","clientId":"d","timestamp":1}}"#;
        let err = ClientMessage::parse(text).unwrap_err();
        let (message, change_id) = describe_parse_error(text, &err);
        assert!(message.contains("data.baseVersion"), "{message}");
        assert_eq!(change_id.as_deref(), Some("c1"));

        let text = r#"{"type":"sync","data":{"changeId":"c2","entityType":"goals","entityId":"bad id","operation":"update","clientId":"d","timestamp":1}}"#;
        let err = ClientMessage::parse(text).unwrap_err();
        let (message, change_id) = describe_parse_error(text, &err);
        assert!(message.contains("entityId"), "{message}");
        assert_eq!(change_id.as_deref(), Some("c2"));

        let err = ClientMessage::parse(r#"{"type":"dance"}"#).unwrap_err();
        let (message, change_id) = describe_parse_error("", &err);
        assert!(message.contains("dance"), "{message}");
        assert_eq!(change_id, None);
    }
}
