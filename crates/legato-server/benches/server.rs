//! `cargo bench -p legato-server --bench server`
//!
//! (a) HTTP batch ingest: changes/s and per-request latency of `POST /api/sync/batch`
//!     (500 changes a request, several users at once), against the same server answering
//!     `GET /healthz` in the same run; the ratio is printed so figures compare across machines.
//!     On SQLite, then on PostgreSQL (a throw-away local cluster with its default settings,
//!     fsync on; skipped when PostgreSQL is not installed).
//! (b) Catch-up: after (a), each user's entries are read back from `since: 0` by a bare
//!     WebSocket reader (no client store), with and without `compress`; entries/s of the
//!     server's side of a fresh-device catch-up.
//! (c) Idle WebSocket memory: N authenticated, subscribed, idle connections to a fresh server
//!     process; the server's VmRSS before and after gives KB per connection (goal <= 16).
//!
//! The server is the real `legato-server` binary, run as a child process on 127.0.0.1:0.

#[allow(dead_code)] // The tests' cluster fixture; the benchmark uses its durable cluster.
#[path = "../tests/it/pg.rs"]
mod pg;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use support::{ServerProcess, ms, percentile, register};

const INGEST_USERS: usize = 4;
const INGEST_BATCHES_PER_USER: usize = 20;
const BATCH_SIZE: usize = 500;
const HEALTHZ_REQUESTS: usize = 4000;
const MEMORY_CONNECTIONS: [usize; 2] = [1000, 5000];
const CONNECT_CONCURRENCY: usize = 64;

fn main() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => println!("open file limit: {limit}"),
        Err(err) => println!("could not raise the open file limit: {err}"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        println!("== legato-server benchmark ==");
        ingest("SQLite", None).await;
        // The same ingest on PostgreSQL, a local cluster with its default settings (fsync
        // on), so the two figures compare.
        match pg::durable_cluster() {
            Some(cluster) => {
                let url = cluster.database("bench");
                ingest("PostgreSQL (local cluster, default settings)", Some(&url)).await;
            }
            None => println!("\n[a] PostgreSQL ingest: skipped, PostgreSQL is not installed"),
        }
        for n in MEMORY_CONNECTIONS {
            idle_memory(n).await;
        }
    });
}

fn logbook_batch(user: usize, batch: usize) -> Value {
    let items: Vec<Value> = (0..BATCH_SIZE)
        .map(|i| {
            json!({
                "changeId": format!("u{user}-b{batch}-c{i}"),
                "entityType": "logbook",
                "entityId": format!("u{user}-b{batch}-e{i}"),
                "operation": "create",
                "data": {
                    "timestamp": "2026-11-25T18:30:00.000Z",
                    "duration": 45,
                    "type": "practice",
                    "instrument": "piano",
                    "pieces": [{"title": "Ballade No. 1", "composer": "Chopin", "measures": "1-36"}],
                    "techniques": ["scales", "arpeggios"],
                    "notes": "Slow practice with the metronome at 60, hands separately, then together.",
                    "mood": "satisfied",
                    "tags": ["morning"],
                    "createdAt": "2026-11-25T18:30:00.000Z",
                    "updatedAt": "2026-11-25T18:30:00.000Z"
                },
                "baseVersion": 0,
                "clientId": format!("bench-device-{user}"),
                "timestamp": 1_764_095_400_000i64
            })
        })
        .collect();
    json!({ "items": items })
}

async fn ingest(backend: &str, database: Option<&str>) {
    // The rate limit is off: this measures the server, not the limiter.
    let server = ServerProcess::start_on(database, &["--rate-limit", "0"], &[]);
    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for user in 0..INGEST_USERS {
        tokens.push(register(&http, &server, &format!("bench{user}@example.com")).await);
    }
    // Bodies are built up front so the client's JSON work is not measured.
    let bodies: Vec<Vec<String>> = (0..INGEST_USERS)
        .map(|user| {
            (0..INGEST_BATCHES_PER_USER)
                .map(|batch| logbook_batch(user, batch).to_string())
                .collect()
        })
        .collect();
    let body_kb = bodies[0][0].len() / 1024;

    let started = Instant::now();
    let tasks: Vec<_> = tokens
        .iter()
        .cloned()
        .zip(bodies)
        .map(|(token, bodies)| {
            let http = http.clone();
            let url = server.url("/api/sync/batch");
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                for body in bodies {
                    let t = Instant::now();
                    let response = http
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .expect("batch");
                    assert_eq!(response.status(), 200);
                    let reply: Value = response.json().await.expect("batch body");
                    latencies.push(t.elapsed());
                    assert_eq!(reply["results"][BATCH_SIZE - 1]["status"], "applied");
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("ingest task"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let changes = INGEST_USERS * INGEST_BATCHES_PER_USER * BATCH_SIZE;
    let changes_per_s = changes as f64 / elapsed.as_secs_f64();
    let batch_p50 = percentile(&latencies, 0.50);
    let batch_p99 = percentile(&latencies, 0.99);

    // The trivial GET on the same server, same concurrency.
    let started = Instant::now();
    let per_task = HEALTHZ_REQUESTS / INGEST_USERS;
    let tasks: Vec<_> = (0..INGEST_USERS)
        .map(|_| {
            let http = http.clone();
            let url = server.url("/healthz");
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    let t = Instant::now();
                    let response = http.get(&url).send().await.expect("healthz");
                    assert_eq!(response.status(), 200);
                    let _ = response.bytes().await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut health = Vec::new();
    for task in tasks {
        health.extend(task.await.expect("healthz task"));
    }
    let health_elapsed = started.elapsed();
    health.sort();
    let health_rps = health.len() as f64 / health_elapsed.as_secs_f64();
    let health_p50 = percentile(&health, 0.50);
    let health_p99 = percentile(&health, 0.99);

    println!();
    println!(
        "[a] HTTP batch ingest on {backend}: {INGEST_USERS} users in parallel x {INGEST_BATCHES_PER_USER} batches x {BATCH_SIZE} logbook creates (~{body_kb} KiB/request), rate limit off"
    );
    println!(
        "    changes applied:       {changes} in {:.2} s",
        elapsed.as_secs_f64()
    );
    println!(
        "    throughput:            {changes_per_s:.0} changes/s ({:.1} batches/s)",
        changes_per_s / BATCH_SIZE as f64
    );
    println!(
        "    batch latency:         p50 {:.1} ms, p99 {:.1} ms",
        ms(batch_p50),
        ms(batch_p99)
    );
    println!(
        "    GET /healthz (same server, {HEALTHZ_REQUESTS} requests, {INGEST_USERS} in parallel): {health_rps:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        ms(health_p50),
        ms(health_p99)
    );
    println!(
        "    ratio:                 batch p99 / healthz p99 = {:.0}x; one change costs {:.2} healthz requests",
        batch_p99.as_secs_f64() / health_p99.as_secs_f64(),
        health_rps / changes_per_s
    );
    catch_up(&server, &tokens).await;
    server.stop();
}

/// [b]: every user's entries read back in turn, by a reader that only counts the frames.
async fn catch_up(server: &ServerProcess, tokens: &[String]) {
    println!();
    println!(
        "[b] catch-up from since 0 to a bare WebSocket reader, {} users in turn x {} entries",
        tokens.len(),
        INGEST_BATCHES_PER_USER * BATCH_SIZE
    );
    for compress in [false, true] {
        let started = Instant::now();
        let mut entries = 0;
        for (n, token) in tokens.iter().enumerate() {
            let mut ws = connect(&server.addr, token, n, compress).await;
            entries += read_until_complete(&mut ws, n).await;
            let _ = ws.close(None).await;
        }
        assert_eq!(entries, tokens.len() * INGEST_BATCHES_PER_USER * BATCH_SIZE);
        let elapsed = started.elapsed();
        println!(
            "    compress {compress:<5}:        {:.0} entries/s ({entries} in {:.2} s)",
            entries as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64()
        );
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn open_subscribed(addr: &str, token: &str, n: usize) -> Ws {
    let mut ws = connect(addr, token, n, false).await;
    read_until_complete(&mut ws, n).await;
    ws
}

/// A connection that said `hello` and `subscribe` (all types, since 0).
async fn connect(addr: &str, token: &str, n: usize, compress: bool) -> Ws {
    let mut request = format!("ws://{addr}/sync")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake");
    let hello = json!({"type": "hello", "clientId": format!("idle-{n}"), "protocol": 1, "compress": compress});
    ws.send(Message::text(hello.to_string()))
        .await
        .expect("hello");
    let subscribe = json!({"type": "subscribe", "entities": [], "since": 0});
    ws.send(Message::text(subscribe.to_string()))
        .await
        .expect("subscribe");
    ws
}

/// Reads the catch-up up to `sync_complete`; the number of `update` frames.
async fn read_until_complete(ws: &mut Ws, n: usize) -> usize {
    let mut updates = 0;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.starts_with(r#"{"type":"update""#) => {
                updates += 1;
            }
            Some(Ok(Message::Text(text))) if text.contains("sync_complete") => return updates,
            Some(Ok(_)) => {}
            other => panic!("connection {n} ended during catch-up: {other:?}"),
        }
    }
}

async fn idle_memory(connections: usize) {
    // One account holds them all: lift its connection cap.
    let server =
        ServerProcess::start_with_env(&[], &[("LEGATO_MAX_CONNECTIONS_PER_USER", "100000")]);
    let http = reqwest::Client::new();
    let token = register(&http, &server, "idle@example.com").await;
    // Warm up: a few connections opened and closed, so one-time allocations are not counted.
    for n in 0..16 {
        let mut ws = open_subscribed(&server.addr, &token, n).await;
        let _ = ws.close(None).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kb();

    let started = Instant::now();
    let addr = Arc::new(server.addr.clone());
    let token = Arc::new(token);
    let sockets: Vec<Ws> = stream::iter(0..connections)
        .map(|n| {
            let addr = Arc::clone(&addr);
            let token = Arc::clone(&token);
            async move { open_subscribed(&addr, &token, n).await }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_kb();
    let per_connection = (after.saturating_sub(before)) as f64 / connections as f64;

    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    let open = metrics
        .lines()
        .find_map(|l| l.strip_prefix("legato_ws_connections "))
        .unwrap_or("?")
        .to_owned();

    println!();
    println!(
        "[c] idle WebSocket memory, {connections} authenticated + subscribed connections (opened in {:.1} s; server reports {open} open)",
        opened_in.as_secs_f64()
    );
    println!(
        "    server VmRSS: {:.1} MiB -> {:.1} MiB = {per_connection:.1} KB/connection (goal <= 16 KB) {}",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        if per_connection <= 16.0 {
            "OK"
        } else {
            "OVER GOAL"
        }
    );
    drop(sockets);
    server.stop();
}
