//! `cargo bench -p legato-server --bench abuse` (`cargo xtask bench abuse`): what one
//! hostile account can cost the server, each figure beside a baseline from the same run.
//!
//! (a) `$deflate` bomb: peak resident memory growth of a fresh server answering one
//!     1 MB batch whose change has 740 fields each inflating to 1 MiB (the bomb),
//!     beside the growth for an ordinary 1 MB batch (goal: bomb under 20 MB).
//! (b) Another user's write latency (one change per `POST /api/sync/batch`, one after the
//!     other) with nobody else on the server, then while an attacking account sends bombs,
//!     floods logins of unknown emails (each an argon2 check) and holds never-reading
//!     catch-ups of large entities (goal: p99 under 50 ms).
//! (c) 100 never-reading subscribers on an account of 60 MB: the server's resident memory
//!     growth, beside the bound (per-connection bytes times 100).
//!
//! The server is the real `legato-server` binary, run as a child process on 127.0.0.1:0.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::{Map, Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use support::{ServerProcess, ms, percentile, register};

const BOMB_FIELDS: usize = 740;
const VICTIM_WRITES: usize = 300;
const LARGE_ENTITIES: usize = 150;
const LARGE_BYTES: usize = 400_000;
const SUBSCRIBERS: usize = 100;

fn main() {
    if let Err(err) = rlimit::increase_nofile_limit(u64::MAX) {
        println!("could not raise the open file limit: {err}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        println!("== legato-server abuse benchmark ==");
        bomb_memory().await;
        latency_under_attack().await;
        never_reading_subscribers().await;
    });
}

fn change(change_id: &str, entity_id: &str, data: Value) -> Value {
    json!({
        "changeId": change_id,
        "entityType": "goals",
        "entityId": entity_id,
        "operation": "create",
        "data": data,
        "baseVersion": 0,
        "clientId": "bench-attacker",
        "timestamp": 1_764_095_400_000i64,
    })
}

/// The bomb: one change, `BOMB_FIELDS` unknown fields of 1 MiB inflated each.
fn bomb_body(tag: &str) -> String {
    let almost =
        legato_protocol::deflate_string(&"a".repeat(legato_protocol::MAX_MESSAGE_BYTES - 16));
    let mut data = Map::new();
    data.insert("title".into(), json!("bomb"));
    for i in 0..BOMB_FIELDS {
        data.insert(format!("x{i}"), json!({ "$deflate": almost }));
    }
    json!({"items": [change(tag, tag, Value::Object(data))]}).to_string()
}

/// An ordinary batch of about the same size: one change with a 1000 KB plain string.
fn plain_body(tag: &str) -> String {
    let data = json!({"title": "plain", "pad": "p".repeat(1_000_000)});
    json!({"items": [change(tag, tag, data)]}).to_string()
}

async fn post(http: &reqwest::Client, server: &ServerProcess, token: &str, body: String) -> Value {
    let response = http
        .post(server.url("/api/sync/batch"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("batch");
    response.json().await.unwrap_or(Value::Null)
}

async fn peak_growth_kb(body: String, expect: &str) -> u64 {
    let server = ServerProcess::start(&["--rate-limit", "0"]);
    let http = reqwest::Client::new();
    let token = register(&http, &server, "attacker@example.com").await;
    let warm = json!({"items": [change("w", "w", json!({"title": "warm"}))]}).to_string();
    post(&http, &server, &token, warm).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // From what it holds now: registering (argon2, 19 MiB) set an earlier peak.
    server.reset_peak();
    let before = server.rss_kb();
    let reply = post(&http, &server, &token, body).await;
    let after = server.peak_kb();
    let status = reply["results"][0]["status"].as_str().unwrap_or("?");
    let code = reply["results"][0]["error"]["code"].as_str().unwrap_or("");
    assert!(
        status == expect || code == expect,
        "expected {expect}, got {reply}"
    );
    server.stop();
    after.saturating_sub(before)
}

async fn bomb_memory() {
    let bomb = bomb_body("bomb");
    let plain = plain_body("plain");
    let (bomb_kb, plain_kb) = (bomb.len() / 1024, plain.len() / 1024);
    let bomb_growth = peak_growth_kb(bomb, "too_large").await;
    let plain_growth = peak_growth_kb(plain, "applied").await;
    println!();
    println!("(a) $deflate bomb: {BOMB_FIELDS} fields x 1 MiB inflated");
    println!(
        "    bomb   ({bomb_kb} KB body, too_large):  peak RSS +{:.1} MB  (goal < 20 MB)",
        bomb_growth as f64 / 1024.0
    );
    println!(
        "    plain  ({plain_kb} KB body, applied):    peak RSS +{:.1} MB  (baseline)",
        plain_growth as f64 / 1024.0
    );
}

/// The victim's sequential one-change writes; their latencies, sorted.
async fn victim_writes(server: &ServerProcess, token: &str, tag: &str) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(VICTIM_WRITES);
    for i in 0..VICTIM_WRITES {
        let id = format!("{tag}-{i}");
        let body = json!({"items": [change(&id, &id, json!({"title": "scales"}))]}).to_string();
        let started = Instant::now();
        let reply = post(&http, server, token, body).await;
        latencies.push(started.elapsed());
        assert_eq!(reply["results"][0]["status"], "applied", "{reply}");
    }
    latencies.sort();
    latencies
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket of `token` that subscribes from 0; kept open and unread until dropped.
async fn never_reading(addr: &str, token: &str, n: usize) -> Ws {
    let mut request = format!("ws://{addr}/sync")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake");
    let hello = json!({"type": "hello", "clientId": format!("reader-{n}"), "protocol": 1});
    ws.send(Message::text(hello.to_string())).await.unwrap();
    let subscribe = json!({"type": "subscribe", "entities": [], "since": 0});
    ws.send(Message::text(subscribe.to_string())).await.unwrap();
    ws
}

/// Gives `token`'s account `LARGE_ENTITIES` entities of `LARGE_BYTES` each.
async fn fill_large(server: &ServerProcess, token: &str) {
    let http = reqwest::Client::new();
    for chunk in 0..LARGE_ENTITIES / 10 {
        let items: Vec<Value> = (0..10)
            .map(|i| {
                let n = chunk * 10 + i;
                let blob =
                    legato_protocol::deflate_string(&format!("{n:06}").repeat(LARGE_BYTES / 6));
                change(
                    &format!("large-{n}"),
                    &format!("large-{n}"),
                    json!({"title": "large", "blob": {"$deflate": blob}}),
                )
            })
            .collect();
        let reply = post(&http, server, token, json!({ "items": items }).to_string()).await;
        assert_eq!(reply["results"][9]["status"], "applied", "{reply}");
    }
}

async fn latency_under_attack() {
    let server = ServerProcess::start(&["--rate-limit", "0"]);
    let http = reqwest::Client::new();
    let victim = register(&http, &server, "victim@example.com").await;
    let attacker = register(&http, &server, "attacker@example.com").await;
    fill_large(&server, &attacker).await;
    let _ = victim_writes(&server, &victim, "warm").await;
    let quiet = victim_writes(&server, &victim, "quiet").await;

    let stop = Arc::new(AtomicBool::new(false));
    let (bombs, logins) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut attacks = Vec::new();
    for _ in 0..2 {
        let (stop, bombs, token, url) = (
            Arc::clone(&stop),
            Arc::clone(&bombs),
            attacker.clone(),
            server.url("/api/sync/batch"),
        );
        let body = bomb_body("attack");
        attacks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let _ = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .and_then(|r| r.error_for_status());
                bombs.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for worker in 0..8 {
        let (stop, logins, url) = (
            Arc::clone(&stop),
            Arc::clone(&logins),
            server.url("/api/auth/login"),
        );
        attacks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body =
                    json!({"email": format!("guess{worker}-{n}@example.com"), "password": "guess"});
                let _ = http.post(&url).json(&body).send().await;
                logins.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut readers = Vec::new();
    for n in 0..20 {
        readers.push(never_reading(&server.addr, &attacker, n).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let attacked_started = Instant::now();
    let attacked = victim_writes(&server, &victim, "attacked").await;
    let attacked_for = attacked_started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for attack in attacks {
        let _ = attack.await;
    }
    drop(readers);
    server.stop();

    println!();
    println!(
        "(b) another user's write latency, {VICTIM_WRITES} one-change batches one after the other"
    );
    println!(
        "    quiet server:        p50 {:.2} ms  p99 {:.2} ms  (baseline)",
        ms(percentile(&quiet, 0.50)),
        ms(percentile(&quiet, 0.99))
    );
    println!(
        "    under attack:        p50 {:.2} ms  p99 {:.2} ms  (goal p99 < 50 ms)",
        ms(percentile(&attacked, 0.50)),
        ms(percentile(&attacked, 0.99))
    );
    let secs = attacked_for.as_secs_f64();
    println!(
        "    attack meanwhile:    {:.0} bombs/s, {:.0} logins/s of unknown emails, 20 never-reading catch-ups of {} MB",
        bombs.load(Ordering::Relaxed) as f64 / secs,
        logins.load(Ordering::Relaxed) as f64 / secs,
        LARGE_ENTITIES * LARGE_BYTES / 1_000_000
    );
}

async fn never_reading_subscribers() {
    let server = ServerProcess::start_with_env(
        &["--rate-limit", "0"],
        &[
            ("LEGATO_MAX_CONNECTIONS_PER_USER", "1000"),
            ("LEGATO_READ_RATE_LIMIT", "0"),
        ],
    );
    let http = reqwest::Client::new();
    let token = register(&http, &server, "large@example.com").await;
    fill_large(&server, &token).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kb();
    let mut readers = Vec::new();
    for n in 0..SUBSCRIBERS {
        readers.push(never_reading(&server.addr, &token, n).await);
    }
    // Let every catch-up run until its socket stops taking data.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = server.rss_kb();
    let peak = server.peak_kb();
    drop(readers);
    server.stop();
    // Per connection: a page (1 MiB) and its read-ahead (1 MiB) of the catch-up, the
    // WebSocket write buffer (4 MiB), and the live queue (8 MiB, empty here).
    let bound_mb = SUBSCRIBERS * (1 + 1 + 4);
    println!();
    println!(
        "(c) {SUBSCRIBERS} never-reading subscribers of an account of {} MB",
        LARGE_ENTITIES * LARGE_BYTES / 1_000_000
    );
    println!(
        "    RSS growth +{:.1} MB (peak {:.1} MB); bound {bound_mb} MB (page + read-ahead + write buffer, x{SUBSCRIBERS})",
        after.saturating_sub(before) as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!(
        "    RSS before the subscribers: {:.1} MB (baseline)",
        before as f64 / 1024.0
    );
}
