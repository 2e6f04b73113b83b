//! The simulated world: one real sync server (restartable on its port and database), and
//! devices (a real store in their own data dir and a real sync engine), each reaching the
//! server through its own faultable link.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use legato_protocol::RegisterRequest;
use legato_store::StoreHandle;
use legato_sync::account::AccountApi;
use legato_sync::{ServerUrl, Strategy, SyncConfig, SyncEngine, SyncHandle, WallClock};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The real server, on a fixed loopback port with a temp SQLite database.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    dir: TempDir,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Server {
    pub async fn start() -> Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut server = Server {
            addr: listener.local_addr()?,
            dir: tempfile::tempdir()?,
            shutdown: CancellationToken::new(),
            task: None,
        };
        server.serve(listener);
        Ok(server)
    }

    fn serve(&mut self, listener: TcpListener) {
        let mut settings = legato_server::Settings::with_database(format!(
            "sqlite://{}",
            self.dir.path().join("server.db").display()
        ));
        settings.shutdown_grace = Duration::from_millis(100);
        // A tight per-user rate limit, so bursts of edits are refused `rate_limited` and the
        // devices' retry waits (and clock jumps across them) are part of every run.
        settings.rate_limit = SERVER_RATE;
        settings.rate_limit_burst = SERVER_BURST;
        // Pruning at once and all the time (the default keeps 90 days): every repeat of a
        // change id meets a pruned record, every conflict with a delete a pruned tombstone
        // (docs/server-choices.md, "Pruning"), so the checker covers both answers.
        settings.prune_after = if std::env::var_os("SIM_NO_PRUNE").is_some() {
            None
        } else {
            Some(Duration::ZERO)
        };
        settings.prune_interval = PRUNE_INTERVAL;
        let shutdown = CancellationToken::new();
        self.shutdown = shutdown.clone();
        self.task = Some(tokio::spawn(async move {
            if let Err(err) = legato_server::serve(listener, settings, shutdown).await {
                tracing::error!(%err, "the simulated server failed");
            }
        }));
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server (its connections drop) and starts it again on the same port and
    /// database.
    pub async fn restart(&mut self) -> Result<()> {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await?;
        }
        let listener = TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }

    pub async fn register(&self) -> Result<String> {
        let api = AccountApi::new(ServerUrl::parse(&self.url())?)?;
        let response = api
            .register(&RegisterRequest {
                email: "sim@example.com".into(),
                password: "correct horse battery".into(),
                device_name: None,
            })
            .await?;
        Ok(response.token)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // A debugging aid: `SIM_KEEP=1` keeps the server's database for reading.
        if std::env::var_os("SIM_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.dir, TempDir::new().expect("a temp dir"));
            eprintln!(
                "server database kept: {}",
                dir.keep().join("server.db").display()
            );
        }
    }
}

/// What a link does to the bytes between a device and the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkState {
    /// Device to server bytes are held (not dropped) while set.
    pub hold_up: bool,
    /// Server to device bytes are held while set.
    pub hold_down: bool,
    /// Bumped to cut every open connection of the link.
    pub cuts: u64,
}

/// A TCP relay in front of the server for one device: holds bytes in either direction
/// (a partition, both ways or one way, that keeps connections open) and cuts connections.
#[derive(Debug)]
pub struct Link {
    pub addr: SocketAddr,
    state: watch::Sender<LinkState>,
    task: JoinHandle<()>,
}

impl Link {
    pub async fn start(upstream: SocketAddr) -> Result<Link> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (state, _) = watch::channel(LinkState::default());
        let rx = state.subscribe();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let cuts = rx.borrow().cuts;
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    let up = pump(client_read, server_write, rx.clone(), cuts, true);
                    let down = pump(server_read, client_write, rx, cuts, false);
                    tokio::join!(up, down);
                });
            }
        });
        Ok(Link { addr, state, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, change: impl FnOnce(&mut LinkState)) {
        self.state.send_modify(change);
    }

    pub fn heal(&self) {
        self.set(|s| {
            s.hold_up = false;
            s.hold_down = false;
        });
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies bytes one way, holding them while the link says so; ends on a cut.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut state: watch::Receiver<LinkState>,
    cuts: u64,
    up: bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            _ = state.wait_for(|s| s.cuts != cuts) => return,
        };
        let Ok(n @ 1..) = read else {
            let _ = to.shutdown().await;
            return;
        };
        // Held bytes wait here (and the reader behind them), like a stalled path.
        let open = state
            .wait_for(|s| s.cuts != cuts || !(if up { s.hold_up } else { s.hold_down }))
            .await;
        if open.map_or(true, |s| s.cuts != cuts) {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Fast engine timings, so a simulated run heals in moments.
pub fn sim_config(url: &str, token: &str, strategy: Strategy) -> Result<SyncConfig> {
    let mut config = SyncConfig::new(url, Some(token.to_owned()))?;
    config.reconnect_base = Duration::from_millis(20);
    config.reconnect_cap = Duration::from_millis(200);
    config.connect_timeout = Duration::from_secs(2);
    config.pong_timeout = Duration::from_secs(2);
    config.retry.base_delay_ms = 50;
    config.retry.max_delay_ms = 400;
    config.sync_now_timeout = Duration::from_secs(3);
    config.retry_sweep = Duration::from_millis(100);
    config.shutdown_flush_timeout = Duration::from_millis(200);
    for entity_type in legato_protocol::EntityType::ALL {
        config.strategies.insert(entity_type, strategy);
    }
    Ok(config)
}

/// Changes per second and burst of the simulated server's per-user rate limit.
const SERVER_RATE: f64 = 20.0;
const SERVER_BURST: u32 = 6;
/// How often the server prunes everything recorded until then.
const PRUNE_INTERVAL: Duration = Duration::from_millis(100);

/// One device: a data dir, its store and engine (while it runs), and its link.
#[derive(Debug)]
pub struct Device {
    pub name: String,
    pub dir: TempDir,
    pub link: Link,
    pub config: SyncConfig,
    pub running: Option<(StoreHandle, SyncHandle)>,
    /// How far this device's wall clock is off the system's (ms): clock jumps.
    clock_offset: Arc<AtomicI64>,
}

pub const DB_FILE: &str = "device.db";

impl Device {
    pub async fn new(
        name: String,
        dir: TempDir,
        link: Link,
        mut config: SyncConfig,
    ) -> Result<Device> {
        let clock_offset = Arc::new(AtomicI64::new(0));
        let offset = Arc::clone(&clock_offset);
        config.clock = WallClock::from_fn(move || {
            let system = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            system.saturating_add(offset.load(Ordering::Relaxed))
        });
        let mut device = Device {
            name,
            dir,
            link,
            config,
            running: None,
            clock_offset,
        };
        device.start().await?;
        Ok(device)
    }

    pub async fn start(&mut self) -> Result<()> {
        let store = StoreHandle::open(self.dir.path().join(DB_FILE))
            .await
            .with_context(|| format!("opening {}", self.name))?;
        // The engine's logs name the device (its span is a child of this one).
        let sync = {
            let _device = tracing::info_span!("device", name = %self.name).entered();
            SyncEngine::spawn(store.clone(), self.config.clone())
        };
        self.running = Some((store, sync));
        Ok(())
    }

    /// A crash: the engine stops without flushing, the store closes; nothing else is said.
    pub async fn crash(&mut self) {
        if let Some((store, sync)) = self.running.take() {
            sync.shutdown(false).await;
            drop(sync);
            drop(store);
        }
    }

    /// The device's wall clock now (what its user's edits are stamped with).
    pub fn now_ms(&self) -> i64 {
        self.config.clock.now_ms()
    }

    /// The device's wall clock jumps by `by_ms` (NTP fixing a bad clock, a user setting it).
    pub fn jump_clock(&self, by_ms: i64) {
        self.clock_offset.fetch_add(by_ms, Ordering::Relaxed);
    }

    pub fn store(&self) -> &StoreHandle {
        &self.running.as_ref().expect("device running").0
    }

    pub fn sync(&self) -> &SyncHandle {
        &self.running.as_ref().expect("device running").1
    }

    /// A consistent copy of the database as it is now (`VACUUM INTO`: a new file, as a
    /// restored backup is), into a new data dir.
    pub async fn snapshot(&self) -> Result<TempDir> {
        let copy = tempfile::tempdir()?;
        let target = copy.path().join(DB_FILE);
        vacuum_into(self.store(), &target).await?;
        Ok(copy)
    }
}

async fn vacuum_into(store: &StoreHandle, target: &Path) -> Result<()> {
    let target = target.display().to_string();
    store
        .call(move |store| {
            store
                .connection()
                .execute("VACUUM INTO ?1", [&target])
                .map_err(legato_store::StoreError::from)?;
            Ok(())
        })
        .await?;
    Ok(())
}
