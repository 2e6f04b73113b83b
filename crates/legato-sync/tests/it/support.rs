//! Fixtures: a real sync server on 127.0.0.1 with a temp SQLite database (restartable on
//! the same port), accounts registered over HTTP, devices (a real store in a temp dir plus
//! an engine), a freezable TCP proxy, and polling helpers.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use legato_protocol::{AuthResponse, EntityId, EntityType, Fields, RegisterRequest};
use legato_server::Settings;
use legato_store::{LocalEntity, StoreHandle};
use legato_sync::{SyncConfig, SyncEngine, SyncEvent, SyncHandle, SyncStatus};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Generous: the suite runs on two shared cores in a debug build.
pub const WAIT: Duration = Duration::from_secs(20);

pub use legato_testkit::fields;

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A real server. Dropping it stops it.
pub struct TestServer {
    pub addr: SocketAddr,
    dir: TempDir,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
    /// Applied to the settings at every start (restarts too).
    configure: fn(&mut Settings),
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: fn(&mut Settings)) -> TestServer {
        init_tracing();
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut server = TestServer {
            addr,
            dir,
            shutdown: CancellationToken::new(),
            task: None,
            configure,
        };
        server.serve(listener);
        server
    }

    fn serve(&mut self, listener: TcpListener) {
        let mut settings = Settings::with_database(format!(
            "sqlite://{}",
            self.dir.path().join("server.db").display()
        ));
        settings.shutdown_grace = Duration::from_millis(500);
        (self.configure)(&mut settings);
        let shutdown = CancellationToken::new();
        self.shutdown = shutdown.clone();
        self.task = Some(tokio::spawn(async move {
            legato_server::serve(listener, settings, shutdown)
                .await
                .expect("server failed");
        }));
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server (connections are closed; the database stays).
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Starts it again on the same port and database.
    pub async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    /// A Prometheus counter or histogram count from `GET /metrics` (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.url()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| {
                let (key, value) = line.rsplit_once(' ')?;
                (key == name).then(|| value.parse().ok())?
            })
            .unwrap_or(0.0)
    }

    /// Registers a fresh account and returns its token.
    pub async fn register(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let response = reqwest::Client::new()
            .post(format!("{}/api/auth/register", self.url()))
            .json(&RegisterRequest {
                email: format!("player{n}-{}@example.com", std::process::id()),
                password: "correct horse battery".into(),
                device_name: None,
            })
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<AuthResponse>().await.unwrap().token
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Fast timings for tests.
pub fn test_config(url: &str, token: &str) -> SyncConfig {
    let mut config = SyncConfig::new(url, Some(token.to_owned())).unwrap();
    config.reconnect_base = Duration::from_millis(50);
    config.reconnect_cap = Duration::from_millis(400);
    config.backoff_seed = Some(7);
    config.connect_timeout = Duration::from_secs(3);
    config.retry.base_delay_ms = 100;
    config.retry.max_delay_ms = 1_000;
    config.sync_now_timeout = Duration::from_secs(15);
    config.retry_sweep = Duration::from_millis(200);
    config
}

/// One device: its own store (a file in a temp dir) and its engine.
pub struct Device {
    pub store: StoreHandle,
    pub sync: SyncHandle,
    pub events: broadcast::Receiver<SyncEvent>,
    _dir: TempDir,
}

impl Device {
    pub async fn new(config: SyncConfig) -> Device {
        Device::in_dir(tempfile::tempdir().unwrap(), config).await
    }

    /// A device whose data dir is `dir` (a fresh one, or one another device left behind).
    pub async fn in_dir(dir: TempDir, config: SyncConfig) -> Device {
        let store = StoreHandle::open(dir.path().join("device.db"))
            .await
            .unwrap();
        let sync = SyncEngine::spawn(store.clone(), config);
        let events = sync.subscribe_events();
        Device {
            store,
            sync,
            events,
            _dir: dir,
        }
    }

    /// Stops the engine and closes the store; returns the data dir.
    pub async fn close(self) -> TempDir {
        self.sync.shutdown(false).await;
        let Device {
            store, sync, _dir, ..
        } = self;
        drop(sync);
        drop(store);
        // The store thread closes its database once the last handle is gone.
        tokio::time::sleep(Duration::from_millis(200)).await;
        _dir
    }

    /// A device of the account `token`, connected and caught up.
    pub async fn connected(server: &TestServer, token: &str) -> Device {
        Device::with(server, token, |_| {}).await
    }

    pub async fn with(
        server: &TestServer,
        token: &str,
        tweak: impl FnOnce(&mut SyncConfig),
    ) -> Device {
        let mut config = test_config(&server.url(), token);
        tweak(&mut config);
        let device = Device::new(config).await;
        device.sync.sync_now().await.expect("first sync");
        device
    }

    pub async fn create(&self, entity_type: EntityType, state: Value) -> EntityId {
        let state = fields(state);
        let edit = self
            .store
            .call(move |store| store.create(entity_type, state, now_ms()))
            .await
            .unwrap();
        self.sync.notify_local_change();
        edit.entity_id
    }

    pub async fn entry(&self, notes: &str) -> EntityId {
        self.create(EntityType::Logbook, entry_state(notes)).await
    }

    pub async fn patch(&self, entity_type: EntityType, id: &EntityId, patch: Value) {
        let (id, patch) = (id.clone(), fields(patch));
        self.store
            .call(move |store| store.patch(entity_type, &id, patch, now_ms()))
            .await
            .unwrap();
        self.sync.notify_local_change();
    }

    pub async fn delete(&self, entity_type: EntityType, id: &EntityId) {
        let id = id.clone();
        self.store
            .call(move |store| store.delete(entity_type, &id, now_ms()))
            .await
            .unwrap();
        self.sync.notify_local_change();
    }

    pub async fn get(&self, entity_type: EntityType, id: &EntityId) -> Option<LocalEntity> {
        let id = id.clone();
        self.store
            .call(move |store| store.get(entity_type, &id))
            .await
            .unwrap()
    }

    /// A field of an entity's local state (`Null` when absent or the entity is unknown).
    pub async fn field(&self, entity_type: EntityType, id: &EntityId, name: &str) -> Value {
        self.get(entity_type, id)
            .await
            .and_then(|e| e.state.get(name).cloned())
            .unwrap_or(Value::Null)
    }

    /// Every live entity of every type: (type, id) -> state, sorted.
    pub async fn everything(&self) -> Vec<(EntityType, String, Fields)> {
        self.store
            .call(|store| {
                let mut all = Vec::new();
                for entity_type in EntityType::ALL {
                    for entity in store.list(entity_type)? {
                        all.push((entity_type, entity.id.to_string(), entity.state));
                    }
                }
                all.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
                Ok(all)
            })
            .await
            .unwrap()
    }

    pub async fn cursor(&self) -> u64 {
        self.store.call(|store| store.cursor()).await.unwrap()
    }

    pub async fn pending(&self) -> u64 {
        self.store
            .call(|store| store.pending_count())
            .await
            .unwrap()
    }

    pub fn status(&self) -> SyncStatus {
        self.sync.current_status()
    }

    /// Waits for a status matching `ok`.
    pub async fn wait_status(&self, what: &str, ok: impl Fn(&SyncStatus) -> bool) -> SyncStatus {
        let mut rx: watch::Receiver<SyncStatus> = self.sync.status();
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let status = rx.borrow_and_update().clone();
                if ok(&status) {
                    return status;
                }
                rx.changed().await.expect("engine stopped");
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("timed out waiting for {what}: {:?}", self.status()))
    }

    /// The next event matching `pick`, skipping others.
    pub async fn next_event<T>(&mut self, what: &str, pick: impl Fn(&SyncEvent) -> Option<T>) -> T {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                match self.events.recv().await {
                    Ok(event) => {
                        if let Some(value) = pick(&event) {
                            return value;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => panic!("engine stopped"),
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("timed out waiting for event {what}"))
    }
}

/// A valid logbook state.
pub fn entry_state(notes: &str) -> Value {
    json!({
        "timestamp": "2026-01-15T18:00:00.000Z",
        "duration": 30,
        "type": "practice",
        "notes": notes,
        "tags": ["scales"],
    })
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Polls `check` until it returns `Some`, or panics after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A TCP proxy that can be frozen: while frozen it forwards no byte in either direction but
/// keeps every connection open (a half-open network path).
pub struct Proxy {
    pub addr: SocketAddr,
    frozen: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (frozen, _) = watch::channel(false);
        let frozen_rx = frozen.subscribe();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let frozen = frozen_rx.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    let up = tokio::spawn(pump(client_read, server_write, frozen.clone()));
                    let down = tokio::spawn(pump(server_read, client_write, frozen));
                    let _ = tokio::join!(up, down);
                });
            }
        });
        Proxy { addr, frozen, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn freeze(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Bytes read just before a freeze are held until the thaw, like a stalled path.
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
