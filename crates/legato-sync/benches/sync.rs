//! `sync` benchmark (run with `cargo bench -p legato-sync --bench sync`): the engine end to
//! end through a real in-process `legato-server` on loopback, each against a raw baseline
//! measured in the same run.
//!
//! (a) **Edit latency**: an edit saved on device A (store write + outbox) until device B has
//!     applied it (B's `EntitiesChanged` for the entry). Two engines, each with its own
//!     on-disk store, default configuration. Measured twice:
//!     - `spaced`: edits further apart than the coalescing window (a person typing);
//!     - `back-to-back`: the next edit as soon as B has the last one, so each waits out the
//!       coalescing window (`PlanConfig::coalesce`) after the previous send.
//!     Baseline: a WebSocket echo round trip (tokio-tungstenite server on loopback) with a
//!     text message of the size of the change A sends.
//!     Everything shares one machine: A's log sync and the server's commit fsync queue on
//!     the same disk, and the path's thread hand-offs share its cores. Where a p50 of ~1.8 ms
//!     went on a 2-core VM (timestamps at each step): A's save ~0.25 ms and its in-flight
//!     mark ~0.1 ms, the server's transaction with its fsync ~0.5 ms, B's apply ~0.13 ms,
//!     and eight thread wake-ups at ~0.05-0.1 ms each (the first one, the caller handing
//!     the save to A's store thread, alone ~0.09 ms).
//! (b) **Fresh-device catch-up**: the server is seeded with `LEGATO_BENCH_ENTRIES` logbook
//!     creates (default 100 000) through `POST /api/sync/batch`, 500 per request (untimed);
//!     then a fresh device's engine is timed from `SyncEngine::spawn` to its `SyncComplete`
//!     with the cursor at the last seeded seq (everything durably applied).
//!     Baseline: raw rusqlite inserting the same states (serialized JSON) into a plain table,
//!     one transaction per 1000 rows, with the store's PRAGMAs (WAL, `synchronous=FULL`).
//!
//! Environment: `LEGATO_BENCH_EDITS` (default 500, the spaced run; back-to-back runs a fifth
//! of it), `LEGATO_BENCH_ENTRIES` (default 100000), `LEGATO_BENCH_DIR` (default: a temp dir).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use legato_protocol::{
    AuthResponse, BatchItemStatus, BatchRequest, BatchResponse, Change, ClientMessage, EntityId,
    EntityType, Fields, Operation, RegisterRequest,
};
use legato_store::{StoreHandle, StoreOptions, configure_connection};
use legato_sync::{SyncConfig, SyncEngine, SyncEvent, SyncHandle};
use rusqlite::{Connection, params};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

const NOW: i64 = 1_764_095_400_000;
const SEED_BATCH: usize = 500;
const RAW_TX_ROWS: usize = 1000;
const WAIT: Duration = Duration::from_secs(60);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

fn entry(i: usize) -> Fields {
    let value = json!({
        "timestamp": legato_store::rfc3339_ms(NOW - (i as i64) * 60_000),
        "duration": 1 + i % 120,
        "type": "practice",
        "instrument": "piano",
        "pieces": [{"title": "Ballade No. 1", "composer": "Chopin", "tempo": 80}],
        "techniques": ["scales"],
        "notes": format!("session {i}: slow hands-separate practice, then hands together"),
        "mood": "satisfied",
        "tags": ["morning"],
    });
    value.as_object().unwrap().clone()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

struct Samples(Vec<Duration>);

impl Samples {
    fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index].as_secs_f64() * 1_000.0
    }

    fn line(&self, name: &str) -> String {
        format!(
            "  {name:<44} n {:>5}   p50 {:>8.3} ms   p99 {:>8.3} ms",
            self.0.len(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.99)
        )
    }
}

/// The sync server on 127.0.0.1:0 with its database in `dir`; stopped by `stop`.
struct Server {
    url: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(dir: &Path) -> Server {
        let mut settings = legato_server::Settings::with_database(format!(
            "sqlite://{}",
            dir.join("server.db").display()
        ));
        // The seeding pushes far more than a person would: no per-user rate limit.
        settings.rate_limit = 0.0;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            legato_server::serve(listener, settings, token)
                .await
                .expect("server failed");
        });
        Server {
            url: format!("http://{addr}"),
            shutdown,
            task,
        }
    }

    async fn register(&self, name: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/api/auth/register", self.url))
            .json(&RegisterRequest {
                email: format!("{name}-{}@example.com", std::process::id()),
                password: "correct horse battery".into(),
                device_name: None,
            })
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<AuthResponse>().await.unwrap().token
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}

/// A device: an on-disk store and its engine, default configuration.
struct Device {
    store: StoreHandle,
    sync: SyncHandle,
    events: broadcast::Receiver<SyncEvent>,
}

impl Device {
    async fn start(dir: &Path, name: &str, url: &str, token: &str) -> Device {
        let store = StoreHandle::open(dir.join(format!("{name}.db")))
            .await
            .unwrap();
        let config = SyncConfig::new(url, Some(token.to_owned())).unwrap();
        let sync = SyncEngine::spawn(store.clone(), config);
        let events = sync.subscribe_events();
        Device {
            store,
            sync,
            events,
        }
    }

    /// Waits for `EntitiesChanged` naming `id`.
    async fn changed(&mut self, id: &EntityId) {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.events.recv().await {
                    Ok(SyncEvent::EntitiesChanged { ids, .. }) if ids.contains(id) => return,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => panic!("engine stopped"),
                }
            }
        })
        .await
        .expect("the edit never reached device B");
    }

    /// Forgets events already received.
    fn drain(&mut self) {
        while !matches!(
            self.events.try_recv(),
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
        ) {}
    }

    async fn notes(&self, id: &EntityId) -> Value {
        let id = id.clone();
        self.store
            .call(move |store| store.get(EntityType::Logbook, &id))
            .await
            .unwrap()
            .and_then(|e| e.state.get("notes").cloned())
            .unwrap_or(Value::Null)
    }
}

/// `n` edits of one entry on A, each timed until B has applied it; `gap` untimed between.
async fn edit_latency(
    a: &Device,
    b: &mut Device,
    id: &EntityId,
    n: usize,
    gap: Duration,
    tag: &str,
) -> Samples {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        b.drain();
        let notes = format!("{tag} edit {i}: hands together at 72");
        let patch = json!({ "notes": notes }).as_object().unwrap().clone();
        let edit_id = id.clone();
        let start = Instant::now();
        a.store
            .call(move |store| store.patch(EntityType::Logbook, &edit_id, patch, now_ms()))
            .await
            .unwrap()
            .expect("the patch changed nothing");
        a.sync.notify_local_change();
        b.changed(id).await;
        samples.push(start.elapsed());
    }
    let last = format!("{tag} edit {}: hands together at 72", n - 1);
    assert_eq!(b.notes(id).await, Value::from(last));
    Samples(samples)
}

/// A WebSocket echo server on loopback; its address.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tcp.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_text() || message.is_binary() {
                        ws.send(message).await.unwrap();
                    }
                }
            });
        }
    });
    addr
}

/// `n` echo round trips of a `size`-byte text message.
async fn echo_latency(n: usize, size: usize) -> Samples {
    let addr = echo_server().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    let text = "x".repeat(size);
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        ws.send(Message::text(text.clone())).await.unwrap();
        let echo = ws.next().await.unwrap().unwrap();
        samples.push(start.elapsed());
        assert_eq!(echo.len(), size);
    }
    Samples(samples)
}

async fn bench_edits(dir: &Path, n: usize) {
    let server = Server::start(dir).await;
    let token = server.register("edits").await;
    let a = Device::start(dir, "device-a", &server.url, &token).await;
    let mut b = Device::start(dir, "device-b", &server.url, &token).await;
    a.sync.sync_now().await.unwrap();
    b.sync.sync_now().await.unwrap();

    let state = entry(0);
    let edit = a
        .store
        .call(move |store| store.create(EntityType::Logbook, state, now_ms()))
        .await
        .unwrap();
    let id = edit.entity_id;
    a.sync.notify_local_change();
    b.changed(&id).await;

    // The size of what A sends for one edit: a `sync` message with the patched notes.
    let change = Change {
        change_id: uuid_like(0),
        entity_type: EntityType::Logbook,
        entity_id: id.clone(),
        operation: Operation::Update,
        data: json!({ "notes": "spaced edit 100: hands together at 72" })
            .as_object()
            .unwrap()
            .clone(),
        base_version: 100,
        client_id: uuid_like(1),
        timestamp: NOW,
    };
    let size = serde_json::to_string(&ClientMessage::Sync { data: change })
        .unwrap()
        .len();

    let coalesce = legato_sync::PlanConfig::default().coalesce;
    let warmup = edit_latency(&a, &mut b, &id, 10, coalesce, "warm-up").await;
    drop(warmup);
    let spaced = edit_latency(
        &a,
        &mut b,
        &id,
        n,
        coalesce + Duration::from_millis(20),
        "spaced",
    )
    .await;
    let back_to_back = edit_latency(&a, &mut b, &id, (n / 5).max(1), Duration::ZERO, "b2b").await;
    let echo = echo_latency(n, size).await;

    println!("(a) edit on A -> applied on B, through the server on loopback");
    println!(
        "{}",
        spaced.line(&format!("legato, edits > {coalesce:?} apart"))
    );
    println!(
        "{}",
        back_to_back.line("legato, back-to-back (coalescing applies)")
    );
    println!(
        "{}",
        echo.line(&format!("raw WebSocket echo round trip, {size} B"))
    );
    for (name, p) in [("p50", 0.50), ("p99", 0.99)] {
        println!(
            "  ratio legato(spaced)/echo {name}: {:.1}x",
            spaced.percentile_ms(p) / echo.percentile_ms(p)
        );
    }

    a.sync.shutdown(false).await;
    b.sync.shutdown(false).await;
    server.stop().await;
}

fn uuid_like(n: usize) -> String {
    format!("bench-{n:012}")
}

/// Seeds `entries` creates through the batch API; the last seq assigned.
async fn seed(server: &Server, token: &str, entries: usize) -> u64 {
    let client = reqwest::Client::new();
    let mut last_seq = 0;
    for start in (0..entries).step_by(SEED_BATCH) {
        let items: Vec<Change> = (start..(start + SEED_BATCH).min(entries))
            .map(|i| Change {
                change_id: format!("seed-change-{i:09}"),
                entity_type: EntityType::Logbook,
                entity_id: EntityId::new(format!("seed-entry-{i:09}")).unwrap(),
                operation: Operation::Create,
                data: entry(i),
                base_version: 0,
                client_id: "bench-seeder".into(),
                timestamp: NOW,
            })
            .collect();
        let response = client
            .post(format!("{}/api/sync/batch", server.url))
            .bearer_auth(token)
            .json(&BatchRequest { items })
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let results = response.json::<BatchResponse>().await.unwrap().results;
        for result in results {
            assert_eq!(result.status, BatchItemStatus::Applied, "{result:?}");
            last_seq = last_seq.max(result.seq.unwrap());
        }
    }
    last_seq
}

async fn catch_up(dir: &Path, server: &Server, token: &str, target_seq: u64) -> Duration {
    let store = StoreHandle::open(dir.join("fresh-device.db"))
        .await
        .unwrap();
    let config = SyncConfig::new(&server.url, Some(token.to_owned())).unwrap();
    let start = Instant::now();
    let sync = SyncEngine::spawn(store.clone(), config);
    let mut events = sync.subscribe_events();
    let mut status = sync.status();
    tokio::time::timeout(Duration::from_secs(600), async {
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(SyncEvent::SyncComplete { seq }) if seq >= target_seq => break,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => panic!("engine stopped"),
                },
                // In case `SyncComplete` went out before the subscription.
                changed = status.changed() => {
                    changed.expect("engine stopped");
                    let s = status.borrow_and_update().clone();
                    if s.cursor >= target_seq && s.catching_up.is_none() {
                        break;
                    }
                }
            }
        }
    })
    .await
    .expect("the catch-up did not finish");
    let elapsed = start.elapsed();
    sync.shutdown(false).await;
    let (count, cursor) = store
        .call(|store| Ok((store.list(EntityType::Logbook)?.len(), store.cursor()?)))
        .await
        .unwrap();
    assert!(cursor >= target_seq, "cursor {cursor} < {target_seq}");
    assert_eq!(count as u64, target_seq, "entries on the fresh device");
    elapsed
}

fn raw_insert(dir: &Path, entries: usize) -> Duration {
    let mut conn = Connection::open(dir.join("raw.db")).unwrap();
    configure_connection(&conn, &StoreOptions::default()).unwrap();
    conn.execute_batch(
        "CREATE TABLE raw_entries (
             entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, state TEXT NOT NULL,
             PRIMARY KEY (entity_type, entity_id)) STRICT",
    )
    .unwrap();
    let states: Vec<Fields> = (0..entries).map(entry).collect();
    let start = Instant::now();
    for (chunk_index, chunk) in states.chunks(RAW_TX_ROWS).enumerate() {
        let tx = conn.transaction().unwrap();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO raw_entries (entity_type, entity_id, state) VALUES (?1, ?2, ?3)",
                )
                .unwrap();
            for (i, state) in chunk.iter().enumerate() {
                let n = chunk_index * RAW_TX_ROWS + i;
                insert
                    .execute(params![
                        "logbook",
                        format!("seed-entry-{n:09}"),
                        serde_json::to_string(state).unwrap()
                    ])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    start.elapsed()
}

async fn bench_catch_up(dir: &Path, entries: usize) {
    let server = Server::start(dir).await;
    let token = server.register("catch-up").await;
    let seeding = Instant::now();
    let target_seq = seed(&server, &token, entries).await;
    let seeded_in = seeding.elapsed();
    assert_eq!(target_seq, entries as u64);
    let ours = catch_up(dir, &server, &token, target_seq).await;
    server.stop().await;
    let raw = raw_insert(dir, entries);

    let rate = |d: Duration| entries as f64 / d.as_secs_f64();
    println!(
        "(b) fresh-device catch-up of {entries} entries (seeded through the batch API in \
         {:.1} s, untimed)",
        seeded_in.as_secs_f64()
    );
    println!(
        "  {:<44} {:>9.0} entries/s   ({:.2} s)",
        "legato: spawn -> SyncComplete",
        rate(ours),
        ours.as_secs_f64()
    );
    println!(
        "  {:<44} {:>9.0} entries/s   ({:.2} s)",
        format!("raw rusqlite, {RAW_TX_ROWS} rows per tx, WAL+FULL"),
        rate(raw),
        raw.as_secs_f64()
    );
    println!("  ratio legato/raw: {:.3}", rate(ours) / rate(raw));
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let edits = env_usize("LEGATO_BENCH_EDITS", 500);
    let entries = env_usize("LEGATO_BENCH_ENTRIES", 100_000);
    let temp = tempfile::tempdir().unwrap();
    let base = std::env::var_os("LEGATO_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let edits_dir = tempfile::tempdir_in(&base).unwrap();
        bench_edits(edits_dir.path(), edits).await;
        let catch_up_dir = tempfile::tempdir_in(&base).unwrap();
        bench_catch_up(catch_up_dir.path(), entries).await;
    });
}
