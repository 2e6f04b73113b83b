//! The Legato sync server as a library: [`serve`] runs it on a bound listener until a
//! cancellation token fires; the `legato-server` binary is a thin shell over it.
//!
//! Map:
//! - [`http`]: the router and HTTP handlers; [`ws`]: one WebSocket connection's loop;
//!   [`extract`]: bearer auth (with the idle expiry), Origin allowlist, JSON bodies;
//!   [`sessions`]: live connections by token, ended when it is revoked.
//! - [`sync`]: applying changes (per-user ordering, clamping, fan-out via [`hub`]);
//!   [`cluster`]: the bus between several nodes on one PostgreSQL database;
//!   [`apply`]: the pure per-change decision around `legato_core::apply_change`.
//! - [`db`]: the storage trait and its SQLite and PostgreSQL backends; `conformance` (the
//!   `conformance` feature, for tests only): the backend test suite.
//! - [`prune`]: the background task that prunes old change records and tombstones.
//! - [`auth`], [`ratelimit`], [`metrics`], [`settings`], [`error`].

pub mod apply;
pub mod auth;
pub mod cluster;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod db;
pub mod error;
pub mod extract;
pub mod guard;
pub mod http;
pub mod hub;
pub mod listen;
pub mod metrics;
pub mod prune;
pub mod ratelimit;
pub mod sessions;
pub mod settings;
pub mod sync;
pub mod ws;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use db::postgres::PostgresDatabase;
pub use db::sqlite::SqliteDatabase;
pub use db::{Database, DbError};
pub use settings::{DatabaseLocation, Settings, SettingsError};

use crate::error::ApiError;
use crate::guard::AuthGuard;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::sessions::Sessions;
use crate::sync::SyncService;

/// Password hashes computed at once at most (each argon2id run takes ~19 MiB and a core);
/// fewer on a small machine, see [`password_slots`].
pub const CONCURRENT_PASSWORD_HASHES: usize = 4;

/// argon2 runs at once: half the cores (at least one, at most
/// [`CONCURRENT_PASSWORD_HASHES`]), so a flood of logins leaves the other half to syncing.
pub fn password_slots() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    (cores / 2).clamp(1, CONCURRENT_PASSWORD_HASHES)
}
/// Password checks waiting for one of those; past this the request is answered `503` with
/// `Retry-After` at once instead of queueing without bound.
pub const MAX_WAITING_PASSWORD_HASHES: usize = 32;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("database: {0}")]
    Database(#[from] DbError),
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
}

/// Shared by every handler and connection.
#[derive(Debug)]
pub struct App<D> {
    pub sync: Arc<SyncService<D>>,
    pub settings: Settings,
    /// Cancelled when the server stops: WebSocket connections close with 1001.
    pub shutdown: CancellationToken,
    /// Tracks WebSocket connection tasks so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Live WebSocket connections by token, ended when the token is revoked.
    pub sessions: Arc<Sessions>,
    /// Attempt budgets and failure delays of the password endpoints.
    pub guard: AuthGuard,
    hash_permits: Semaphore,
    /// Password checks running or waiting for a permit.
    hash_queue: AtomicUsize,
}

/// Axum state: a cheap handle on [`App`].
#[derive(Debug)]
pub struct AppState<D>(Arc<App<D>>);

impl<D> Clone for AppState<D> {
    fn clone(&self) -> Self {
        AppState(Arc::clone(&self.0))
    }
}

impl<D> std::ops::Deref for AppState<D> {
    type Target = App<D>;
    fn deref(&self) -> &App<D> {
        &self.0
    }
}

impl<D: Database> AppState<D> {
    /// Runs CPU-heavy password work off the async workers, a few at a time, with at most
    /// [`MAX_WAITING_PASSWORD_HASHES`] waiting: past that, `503` with `Retry-After: 1`.
    pub async fn blocking_crypto<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let queued = self.hash_queue.fetch_add(1, Ordering::SeqCst);
        let _queued = QueueSlot(&self.hash_queue);
        if queued >= password_slots() + MAX_WAITING_PASSWORD_HASHES {
            tracing::warn!(queued, "password checks queue full");
            return Err(ApiError::rate_limited(1)
                .with_message("the server is busy checking passwords; try again in a moment")
                .with_status(axum::http::StatusCode::SERVICE_UNAVAILABLE));
        }
        let _permit = self
            .hash_permits
            .acquire()
            .await
            .map_err(|_| ApiError::internal())?;
        tokio::task::spawn_blocking(work).await.map_err(|err| {
            tracing::error!(error = %err, "password task failed");
            ApiError::internal()
        })
    }
}

/// One place in the password queue, given back when dropped.
struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A server ready to accept connections on a listener.
#[derive(Debug)]
pub struct Server<D> {
    state: AppState<D>,
    /// The bus to the other nodes on the database, for a backend that has one.
    bus: Option<(cluster::BusConfig, cluster::BusControl)>,
}

impl Server<SqliteDatabase> {
    /// Opens (and migrates) the SQLite database named by `settings.database_url`; a
    /// `postgres://` URL is refused here (see [`AnyServer::open`]).
    pub async fn open(settings: Settings) -> Result<Self, ServeError> {
        let db = match DatabaseLocation::parse(&settings.database_url)? {
            DatabaseLocation::Sqlite(path) => SqliteDatabase::open(path).await?,
            DatabaseLocation::Postgres(_) => {
                return Err(SettingsError::UnsupportedDatabase(
                    "Server::open is the SQLite server; use AnyServer::open".to_owned(),
                )
                .into());
            }
        };
        Ok(Server::with_database(db, settings))
    }
}

/// A server on whichever backend `settings.database_url` names.
#[derive(Debug)]
pub enum AnyServer {
    Sqlite(Server<SqliteDatabase>),
    Postgres(Server<PostgresDatabase>),
}

impl AnyServer {
    /// Opens (and migrates) the database named by `settings.database_url`: SQLite
    /// (`sqlite://`) or PostgreSQL (`postgres://`).
    pub async fn open(settings: Settings) -> Result<Self, ServeError> {
        Ok(match DatabaseLocation::parse(&settings.database_url)? {
            DatabaseLocation::Sqlite(path) => AnyServer::Sqlite(Server::with_database(
                SqliteDatabase::open(path).await?,
                settings,
            )),
            DatabaseLocation::Postgres(url) => AnyServer::Postgres(Server::with_database(
                PostgresDatabase::open(&url).await?,
                settings,
            )),
        })
    }

    /// [`Server::serve`] on its backend.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError> {
        match self {
            AnyServer::Sqlite(server) => server.serve(listener, shutdown).await,
            AnyServer::Postgres(server) => server.serve(listener, shutdown).await,
        }
    }
}

impl<D: Database> Server<D> {
    pub fn with_database(db: D, settings: Settings) -> Self {
        db.set_user_quota(settings.user_quota_bytes);
        let metrics = Arc::new(Metrics::new());
        let limiter = RateLimiter::new(settings.rate_limit, settings.rate_limit_burst);
        let bus = db
            .bus()
            .map(|config| (config, cluster::BusControl::default()));
        let hub = if bus.is_some() {
            hub::Hub::clustered(settings.outbound_bytes)
        } else {
            hub::Hub::with_byte_limit(settings.outbound_bytes)
        };
        let sync = Arc::new(
            SyncService::with_hub(db, metrics, limiter, hub)
                .with_read_limit(settings.read_rate_limit),
        );
        Server {
            state: AppState(Arc::new(App {
                sync,
                settings,
                shutdown: CancellationToken::new(),
                tracker: TaskTracker::new(),
                sessions: Sessions::new(),
                guard: AuthGuard::default(),
                hash_permits: Semaphore::new(password_slots()),
                hash_queue: AtomicUsize::new(0),
            })),
            bus,
        }
    }

    /// The handle on this node's bus (a backend several nodes share), to watch it listen
    /// and to inject faults in tests.
    pub fn bus_control(&self) -> Option<cluster::BusControl> {
        self.bus.as_ref().map(|(_, control)| control.clone())
    }

    /// Serves until `shutdown` is cancelled, then drains: HTTP requests in flight finish,
    /// WebSocket connections close with 1001 (waiting up to `settings.shutdown_grace`), and
    /// the store is closed after its pending writes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError> {
        let state = self.state;
        let bus = self.bus.map(|(config, control)| {
            cluster::spawn(
                config,
                control,
                state.sync.db.clone(),
                Arc::clone(&state.sync.hub),
                Arc::clone(&state.sessions),
                state.settings.catchup_page_size,
                state.shutdown.clone(),
            )
        });
        let app = http::router(state.clone());
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "serving");
        }
        let stop = state.shutdown.clone();
        let pruner = state.settings.prune_after.map(|after| {
            prune::spawn(
                state.sync.db.clone(),
                after,
                state.settings.prune_interval,
                Arc::clone(&state.sync.metrics),
                stop.clone(),
            )
        });
        let watcher = {
            let stop = stop.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                stop.cancel();
            })
        };
        let served =
            listen::serve_http(listener, app, state.settings.header_timeout, stop.clone()).await;
        stop.cancel();
        watcher.abort();
        state.tracker.close();
        if tokio::time::timeout(state.settings.shutdown_grace, state.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = state.tracker.len(),
                "WebSocket connections still open after the shutdown grace period"
            );
        }
        if let Some(pruner) = pruner {
            // Stopped by `stop`; a step in progress is one transaction the close waits for.
            let _ = pruner.await;
        }
        if let Some(bus) = bus {
            // Stopped by `stop` too (its pulls only read).
            let _ = bus.await;
        }
        state.sync.db.close().await;
        tracing::info!("stopped");
        served.map_err(ServeError::Io)
    }
}

/// Runs the server with `settings` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    settings: Settings,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    AnyServer::open(settings)
        .await?
        .serve(listener, shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The password queue is bounded: with every permit taken and the queue full, the next
    /// check is refused at once with 503 and `Retry-After`, and the others all run.
    #[tokio::test]
    async fn password_checks_beyond_the_queue_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(dir.path().join("q.db")).await.unwrap();
        let server = Server::with_database(db, Settings::with_database("sqlite://unused"));
        let state = server.state;
        let total = password_slots() + MAX_WAITING_PASSWORD_HASHES + 5;
        let checks = (0..total)
            .map(|_| state.blocking_crypto(|| std::thread::sleep(Duration::from_millis(50))));
        let results = futures_util::future::join_all(checks).await;
        let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(refused.len(), 5);
        for err in refused {
            assert_eq!(err.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(err.code, legato_protocol::ErrorCode::RateLimited);
        }
        // The queue drained: the next one runs.
        assert!(state.blocking_crypto(|| ()).await.is_ok());
    }
}
