//! The actor: one task, one `select!` loop over commands, local-change notifications,
//! socket frames, the connection attempt, batch requests and one timer. Decisions come from
//! the pure pieces ([`crate::plan`], [`crate::backoff`], [`crate::heartbeat`],
//! [`crate::health`]); the loop executes them. All SQLite work goes through
//! [`StoreHandle::call`]; no lock exists, so none is held across an `.await`.
//!
//! Map of this module:
//! - `link`: connecting, the heartbeat, disconnecting, reconnect scheduling;
//! - `incoming`: frames from the server (updates, catch-up pages, acks, conflicts, errors);
//! - `outgoing`: planning and sending pending changes (WebSocket or batch), batch results;
//! - `waiters`: "sync now" and flushing shutdowns, and the published status.

mod incoming;
mod link;
mod outgoing;
mod waiters;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use legato_protocol::{Change, EntityId, EntityType};
use legato_store::{BatchOutcome, StoreError, StoreHandle};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::config::SyncConfig;
use crate::error::TransportError;
use crate::handle::{Command, SyncHandle};
use crate::health::MetricsRecorder;
use crate::heartbeat::Heartbeat;
use crate::plan::Route;
use crate::problem::{ProblemKind, SyncProblem};
use crate::status::{CatchUpProgress, ConnectionState, SyncEvent, SyncStatus};
use crate::transport::{HttpClient, Socket};

use self::outgoing::BatchDone;
use self::waiters::Waiter;

/// Events a slow subscriber may fall behind by before it sees `Lagged`.
const EVENT_CAPACITY: usize = 1024;

/// Starts engines.
#[derive(Debug)]
pub struct SyncEngine;

impl SyncEngine {
    /// Starts the engine on the current Tokio runtime and returns its handle. With a token it
    /// connects at once; without one it waits `SignedOut` for [`SyncHandle::set_token`].
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn spawn(store: StoreHandle, config: SyncConfig) -> SyncHandle {
        let (commands_tx, commands_rx) = mpsc::channel(64);
        let local_change = Arc::new(Notify::new());
        // Every local edit wakes the engine as soon as it is committed, while the store
        // syncs it to disk: the change can be on its way before the edit's call returns.
        let listener = Arc::downgrade(&local_change);
        store.on_write(move || {
            listener
                .upgrade()
                .map(|notify| notify.notify_one())
                .is_some()
        });
        let connection = if config.token.is_some() {
            ConnectionState::Connecting
        } else {
            ConnectionState::SignedOut
        };
        let (status_tx, status_rx) =
            watch::channel(SyncStatus::initial(connection, config.server.is_insecure()));
        let (events_tx, _) = broadcast::channel(EVENT_CAPACITY);
        let clock = config.clock.clone();
        let engine = Engine::new(store.clone(), config, status_tx, events_tx.clone());
        let span = tracing::info_span!("sync_engine");
        tokio::spawn(
            engine
                .run(commands_rx, Arc::clone(&local_change))
                .instrument(span),
        );
        SyncHandle {
            commands: commands_tx,
            local_change,
            status: status_rx,
            events: events_tx,
            store,
            clock,
        }
    }
}

/// The connection, in one of three states.
enum Link {
    /// No connection. `retry_at`: when to try again (`None`: not while paused/signed out).
    Down {
        retry_at: Option<Instant>,
    },
    Connecting(JoinHandle<Result<Socket, TransportError>>),
    Up(Box<Conn>),
}

/// An open connection.
struct Conn {
    socket: Socket,
    heartbeat: Heartbeat,
    phase: Phase,
}

enum Phase {
    /// `hello` sent, not yet subscribed: this device's pending changes go first, so a
    /// conflict is settled against the base the change was made on (a catch-up applied
    /// first would move the base to the server's state and hide the other side's edits
    /// from the three-way merge). Then `subscribe`.
    Pushing,
    /// `subscribe` sent; full updates arrive until `sync_complete`.
    CatchingUp(CatchUp),
    Live,
}

struct CatchUp {
    since: u64,
    /// Received, not yet applied (applied in pages).
    buffer: Vec<legato_protocol::UpdateData>,
    received: u64,
    applied: u64,
    last_seq: u64,
    started: Instant,
}

impl CatchUp {
    fn new(since: u64) -> Self {
        CatchUp {
            since,
            started: Instant::now(),
            buffer: Vec::new(),
            received: 0,
            applied: 0,
            last_seq: since,
        }
    }

    fn progress(&self) -> CatchUpProgress {
        CatchUpProgress {
            since: self.since,
            received: self.received,
            applied: self.applied,
            seq: self.last_seq,
        }
    }
}

/// Catch-up pages handed to the store and not yet settled, at most.
const PAGES_IN_STORE: usize = 2;

/// A catch-up page handed to the store: its transaction (data and cursor) runs on the store
/// thread in the order pages were queued, while the loop goes on reading frames.
struct PageJob {
    done: Pin<Box<dyn Future<Output = Result<BatchOutcome, StoreError>> + Send>>,
    count: u64,
}

/// A change handed to the network and not yet answered.
struct Flight {
    change: Change,
    sent_at: Instant,
    route: Route,
    /// The server could not take it now (a batch answered 429, or the request failed): send
    /// it again at this time. Still in flight for the store and the planner.
    retry_at: Option<Instant>,
}

/// Counters behind [`crate::SyncReport`].
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    pushed: u64,
    pulled: u64,
    conflicts: u64,
}

/// Counts read from the store for the status.
#[derive(Debug, Clone, Default, PartialEq)]
struct StoreCounts {
    pending: u64,
    dead_letters: u64,
    conflicts: u64,
    cursor: u64,
    oldest_pending_ms: Option<i64>,
    /// Why the server last refused a change that still waits (`Store::pending_refusal`).
    pending_refusal: Option<legato_store::Refusal>,
}

/// Why a connection ended (for the status, the events and the waiters).
#[derive(Debug, Clone)]
enum Reason {
    Transport(TransportError),
    /// The store failed: its words and whether the same call may work later
    /// ([`StoreError::is_retryable`]: a full disk yes; an update it refuses, say one whose
    /// `$deflate` values break the inflate budget, no).
    Store {
        message: String,
        retryable: bool,
    },
    Paused,
    TokenChanged,
    Stopping,
}

impl Reason {
    fn store(err: &StoreError) -> Self {
        Reason::Store {
            message: err.to_string(),
            retryable: err.is_retryable(),
        }
    }

    /// The reason as the status shows it.
    fn problem(&self) -> SyncProblem {
        match self {
            Reason::Transport(err) => SyncProblem::transport(err),
            Reason::Store { retryable, .. } => {
                SyncProblem::new(ProblemKind::Storage, *retryable, self.to_string())
            }
            Reason::Paused | Reason::TokenChanged | Reason::Stopping => {
                SyncProblem::new(ProblemKind::Other, true, self.to_string())
            }
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Transport(err) => write!(f, "{err}"),
            Reason::Store { message, .. } => write!(f, "local store: {message}"),
            Reason::Paused => f.write_str("paused"),
            Reason::TokenChanged => f.write_str("credentials changed"),
            Reason::Stopping => f.write_str("shutting down"),
        }
    }
}

/// What woke the loop.
enum Wake {
    Command(Option<Command>),
    LocalChange,
    Frame(
        Option<
            Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
        >,
    ),
    Connected(Result<Socket, TransportError>),
    Batch(Result<(tokio::task::Id, BatchDone), tokio::task::JoinError>),
    Page(Result<BatchOutcome, StoreError>),
    Timer,
}

struct Engine {
    store: StoreHandle,
    config: SyncConfig,
    http: Option<HttpClient>,
    client_id: String,
    token: Option<String>,
    paused: bool,
    /// The server refused the current token: wait for a new one.
    auth_refused: bool,
    link: Link,
    backoff: Backoff,
    /// Monotonic zero of the planner's clock.
    epoch: Instant,

    // Outgoing.
    flights: HashMap<String, Flight>,
    batches: JoinSet<BatchDone>,
    batch_ids: HashMap<tokio::task::Id, Vec<String>>,
    batch_backoff: Backoff,
    last_sent_ms: HashMap<EntityType, u64>,
    last_send_ms: Option<u64>,
    plan_needed: bool,
    plan_wake: Option<Instant>,
    retry_wake: Option<Instant>,
    next_sweep: Instant,

    // Incoming.
    /// Catch-up pages queued on the store, oldest first.
    pages: VecDeque<PageJob>,
    cursor: u64,
    server_seq: Option<u64>,
    /// Seqs above the cursor this device has applied: its own acknowledged changes (the
    /// server never sends them back) and live updates that arrived after a gap. The cursor
    /// steps over them once everything below is applied, never before.
    seen_seqs: BTreeSet<u64>,
    /// A gap was seen during a catch-up: run another one after `sync_complete`.
    catch_up_again: bool,
    /// Set on the store thread when a page of the current catch-up is refused (an update
    /// that does not decode: a `$deflate` over the inflate budget, say). The pages queued
    /// after it then commit nothing: their cursor would step over the refused updates.
    /// A new one for every catch-up.
    page_refused: Arc<AtomicBool>,

    // Waiting callers and shutdown.
    waiters: Vec<Waiter>,
    stopping: bool,
    stopped_replies: Vec<tokio::sync::oneshot::Sender<()>>,

    // Reporting.
    /// The last event only buffered a catch-up update: nothing to publish.
    status_unchanged: bool,
    metrics: MetricsRecorder,
    counters: Counters,
    counts: StoreCounts,
    counts_dirty: bool,
    last_counts_at: Option<Instant>,
    last_error: Option<SyncProblem>,
    status_tx: watch::Sender<SyncStatus>,
    events: broadcast::Sender<SyncEvent>,
}

impl Engine {
    fn new(
        store: StoreHandle,
        config: SyncConfig,
        status_tx: watch::Sender<SyncStatus>,
        events: broadcast::Sender<SyncEvent>,
    ) -> Self {
        let seed = config.backoff_seed.unwrap_or_else(rand::random);
        let http = match HttpClient::new(&config.server, &config) {
            Ok(http) => Some(http),
            Err(err) => {
                tracing::error!(error = %err, "no HTTP client: every change goes over the WebSocket");
                None
            }
        };
        let now = Instant::now();
        Engine {
            store,
            http,
            client_id: String::new(),
            token: config.token.clone(),
            paused: false,
            auth_refused: false,
            link: Link::Down {
                retry_at: Some(now),
            },
            backoff: Backoff::new(config.reconnect_base, config.reconnect_cap, seed),
            batch_backoff: Backoff::new(config.reconnect_base, config.reconnect_cap, seed ^ 1),
            epoch: now,
            flights: HashMap::new(),
            batches: JoinSet::new(),
            batch_ids: HashMap::new(),
            last_sent_ms: HashMap::new(),
            last_send_ms: None,
            plan_needed: false,
            plan_wake: None,
            retry_wake: None,
            next_sweep: now + config.retry_sweep,
            pages: VecDeque::new(),
            cursor: 0,
            server_seq: None,
            seen_seqs: BTreeSet::new(),
            catch_up_again: false,
            page_refused: Arc::new(AtomicBool::new(false)),
            waiters: Vec::new(),
            stopping: false,
            stopped_replies: Vec::new(),
            status_unchanged: false,
            metrics: MetricsRecorder::default(),
            counters: Counters::default(),
            counts: StoreCounts::default(),
            counts_dirty: true,
            last_counts_at: None,
            last_error: None,
            status_tx,
            events,
            config,
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>, local_change: Arc<Notify>) {
        if let Err(err) = self.start().await {
            tracing::error!(error = %err, "the sync engine cannot start");
            self.last_error = Some(SyncProblem::new(
                ProblemKind::Storage,
                err.is_retryable(),
                format!("cannot start: {err}"),
            ));
            self.link = Link::Down { retry_at: None };
            self.publish();
            return;
        }
        while !self.stopping {
            self.maybe_connect();
            let deadline = self.next_deadline();
            let wake = tokio::select! {
                biased;
                command = commands.recv() => Wake::Command(command),
                done = first_page(&mut self.pages), if !self.pages.is_empty() => Wake::Page(done),
                wake = link_event(&mut self.link) => wake,
                Some(done) = self.batches.join_next_with_id(), if !self.batches.is_empty() => Wake::Batch(done),
                () = local_change.notified() => Wake::LocalChange,
                () = sleep_until(deadline) => Wake::Timer,
            };
            match wake {
                Wake::Command(None) => {
                    tracing::debug!("every handle is gone; stopping");
                    self.stopping = true;
                }
                Wake::Command(Some(command)) => self.on_command(command).await,
                Wake::LocalChange => {
                    self.plan_needed = true;
                    self.counts_dirty = true;
                }
                Wake::Frame(frame) => self.on_frame(frame).await,
                Wake::Connected(socket) => self.on_connected(socket).await,
                Wake::Batch(done) => self.on_batch_done(done).await,
                Wake::Page(done) => self.on_page_done(done).await,
                Wake::Timer => self.on_timer().await,
            }
            self.after_event().await;
        }
        self.finish().await;
    }

    /// Reads the client id, puts changes left in flight by a previous run back to pending
    /// (a crash is a network failure: not an attempt), reads the cursor.
    async fn start(&mut self) -> Result<(), legato_store::StoreError> {
        let (client_id, reset, cursor) = self
            .store
            .call(|store| {
                let reset = store.reset_in_flight()?;
                Ok((store.client_id().to_owned(), reset, store.cursor()?))
            })
            .await?;
        if reset > 0 {
            tracing::info!(
                changes = reset,
                "changes left in flight by the last run are pending again"
            );
        }
        self.client_id = client_id;
        self.cursor = cursor;
        if self.token.is_none() {
            self.link = Link::Down { retry_at: None };
        }
        self.refresh_counts().await;
        Ok(())
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::SyncNow(reply) => self.add_sync_now(reply),
            Command::Pause(reply) => {
                self.paused = true;
                self.drop_link(Reason::Paused).await;
                self.publish();
                let _ = reply.send(());
            }
            Command::Resume(reply) => {
                if self.paused {
                    self.paused = false;
                    self.backoff.reset();
                    self.link = Link::Down {
                        retry_at: Some(Instant::now()),
                    };
                }
                self.publish();
                let _ = reply.send(());
            }
            Command::SetToken(token, reply) => {
                self.token = token;
                self.auth_refused = false;
                self.drop_link(Reason::TokenChanged).await;
                self.backoff.reset();
                self.link = Link::Down {
                    retry_at: Some(Instant::now()),
                };
                self.publish();
                let _ = reply.send(());
            }
            Command::Shutdown { flush, done } => {
                self.stopped_replies.push(done);
                if flush && self.may_connect() {
                    self.add_shutdown_flush();
                } else {
                    self.stopping = true;
                }
            }
        }
        self.publish();
    }

    /// Everything due at the timer.
    async fn on_timer(&mut self) {
        let now = Instant::now();
        if self.plan_wake.is_some_and(|at| at <= now) {
            self.plan_wake = None;
            self.plan_needed = true;
        }
        if self.retry_wake.is_some_and(|at| at <= now) {
            self.retry_wake = None;
            self.plan_needed = true;
        }
        if self.next_sweep <= now {
            self.next_sweep = now + self.config.retry_sweep;
            self.plan_needed = true;
        }
        self.on_heartbeat_timer(now).await;
        self.resend_due_flights(now).await;
        self.expire_waiters(now);
    }

    /// After every event: send what the plan says, answer waiters, publish the status.
    async fn after_event(&mut self) {
        if self.stopping {
            return;
        }
        if std::mem::take(&mut self.status_unchanged) {
            return;
        }
        if self.is_pushing() {
            self.push_then_subscribe().await;
        } else if self.plan_needed && self.is_live() {
            self.send_pending().await;
        }
        if !self.waiters.is_empty() {
            self.check_waiters().await;
        }
        let refresh_due = self
            .last_counts_at
            .is_none_or(|at| Instant::now() >= at + self.config.status_interval);
        if self.counts_dirty && refresh_due {
            self.refresh_counts().await;
        }
        self.publish();
    }

    /// The earliest instant the timer must fire at.
    fn next_deadline(&self) -> Option<Instant> {
        let mut deadline: Option<Instant> = None;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                deadline = Some(deadline.map_or(at, |d| d.min(at)));
            }
        };
        match &self.link {
            Link::Down { retry_at } if self.may_connect() => consider(*retry_at),
            Link::Up(conn) => consider(Some(conn.heartbeat.deadline())),
            _ => {}
        }
        if self.may_send() {
            consider(self.plan_wake);
            consider(self.retry_wake);
            consider(Some(self.next_sweep));
            consider(self.flights.values().filter_map(|f| f.retry_at).min());
        }
        consider(self.waiters.iter().map(|w| w.deadline).min());
        if self.counts_dirty {
            consider(Some(self.last_counts_at.map_or_else(Instant::now, |at| {
                at + self.config.status_interval
            })));
        }
        deadline
    }

    /// Closes the connection cleanly and answers everyone still waiting.
    async fn finish(mut self) {
        self.drop_link(Reason::Stopping).await;
        self.fail_waiters(&Reason::Stopping);
        self.refresh_counts().await;
        self.link = Link::Down { retry_at: None };
        self.publish();
        tracing::info!("sync engine stopped");
        for reply in self.stopped_replies.drain(..) {
            let _ = reply.send(());
        }
    }

    fn is_live(&self) -> bool {
        matches!(&self.link, Link::Up(conn) if matches!(conn.phase, Phase::Live))
    }

    fn is_pushing(&self) -> bool {
        matches!(&self.link, Link::Up(conn) if matches!(conn.phase, Phase::Pushing))
    }

    /// Changes may be sent: live, or pushing before the catch-up.
    fn may_send(&self) -> bool {
        self.is_live() || self.is_pushing()
    }

    /// Whether the engine may (re)connect now: a token the server has not refused, not
    /// paused.
    fn may_connect(&self) -> bool {
        self.token.is_some() && !self.paused && !self.auth_refused
    }

    /// Milliseconds on the planner's monotonic clock.
    fn mono_ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Milliseconds since the Unix epoch on the configured wall clock (the store's time base).
    fn wall_ms(&self) -> i64 {
        self.config.clock.now_ms()
    }

    /// The monotonic instant of a wall-clock time (ms since the epoch) from the store.
    fn instant_of_wall(&self, wall: i64) -> Instant {
        let ahead = u64::try_from(wall.saturating_sub(self.wall_ms())).unwrap_or(0);
        Instant::now() + Duration::from_millis(ahead)
    }

    fn emit(&self, event: SyncEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    /// One `EntitiesChanged` per entity type.
    fn emit_changed(&self, changed: impl IntoIterator<Item = (EntityType, EntityId)>) {
        for event in changed_events(changed) {
            self.emit(event);
        }
    }

    fn note_error(&mut self, problem: SyncProblem) {
        tracing::debug!(kind = ?problem.kind, error = %problem.detail, "sync error");
        self.last_error = Some(problem);
    }
}

/// One `EntitiesChanged` per entity type, in type order, each id once.
fn changed_events(changed: impl IntoIterator<Item = (EntityType, EntityId)>) -> Vec<SyncEvent> {
    let mut by_type: HashMap<EntityType, Vec<EntityId>> = HashMap::new();
    for (entity_type, id) in changed {
        let ids = by_type.entry(entity_type).or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let mut types: Vec<_> = by_type.into_iter().collect();
    types.sort_by_key(|(t, _)| *t);
    types
        .into_iter()
        .map(|(entity_type, ids)| SyncEvent::EntitiesChanged { entity_type, ids })
        .collect()
}

/// The next frame of an open connection, or the result of a connection attempt.
async fn link_event(link: &mut Link) -> Wake {
    use futures_util::StreamExt;
    match link {
        Link::Up(conn) => Wake::Frame(conn.socket.next().await),
        Link::Connecting(task) => Wake::Connected(match task.await {
            Ok(result) => result,
            Err(err) => Err(TransportError::Network(format!("connect task: {err}"))),
        }),
        Link::Down { .. } => std::future::pending().await,
    }
}

/// The result of the oldest queued page. Cancel-safe: the page's future stays in the queue
/// (and its job on the store) when another branch wins.
async fn first_page(pages: &mut VecDeque<PageJob>) -> Result<BatchOutcome, StoreError> {
    match pages.front_mut() {
        Some(job) => job.done.as_mut().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
