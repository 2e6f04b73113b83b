//! A hostile (or broken) server: what the client accepts from it is bounded. A tiny axum
//! server written here, scripted per test, sends frames and bodies no real server sends:
//! an oversize WebSocket message, an oversize (chunked, no Content-Length) batch reply or
//! auth reply, and updates full of `$deflate` bombs. The engine reports a typed error,
//! stores nothing of it, keeps the local data and the outbox, and syncs again once the
//! server behaves.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{any, post};
use legato_protocol::{
    ClientMessage, EntityId, EntityType, MAX_MESSAGE_BYTES, RegisterRequest, deflate_string,
};
use legato_sync::account::{AccountApi, AccountError};
use legato_sync::{ProblemKind, ServerUrl, SyncError, TransportError};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::support::*;

type Frames = Vec<String>;
type OnSubscribe = dyn Fn(usize, u64) -> Frames + Send + Sync;
type OnSync = dyn Fn(usize, &legato_protocol::Change) -> Frames + Send + Sync;
type OnPost = dyn Fn(&str) -> Vec<u8> + Send + Sync;

/// What the hostile server answers. Connections are numbered from 0.
struct Script {
    on_subscribe: Box<OnSubscribe>,
    on_sync: Box<OnSync>,
    /// The body of a `200` to any POST (batch, login, register), by path; sent in 64 KiB
    /// chunks without a Content-Length.
    on_post: Box<OnPost>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            on_subscribe: Box::new(|_, since| vec![sync_complete(since)]),
            on_sync: Box::new(|_, _| Vec::new()),
            on_post: Box::new(|_| b"{}".to_vec()),
        }
    }
}

struct Hostile {
    script: Script,
    connections: AtomicUsize,
    /// Every `Authorization` header received, in order.
    authorizations: Mutex<Vec<String>>,
}

struct HostileServer {
    addr: SocketAddr,
    state: Arc<Hostile>,
    task: tokio::task::JoinHandle<()>,
}

impl HostileServer {
    async fn start(script: Script) -> HostileServer {
        init_tracing();
        let state = Arc::new(Hostile {
            script,
            connections: AtomicUsize::new(0),
            authorizations: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/sync", any(upgrade))
            .route("/{*path}", post(post_any))
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        HostileServer { addr, state, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn record(state: &Hostile, headers: &HeaderMap) {
    if let Some(value) = headers.get("authorization") {
        state
            .authorizations
            .lock()
            .unwrap()
            .push(value.to_str().unwrap_or("?").to_owned());
    }
}

async fn upgrade(
    State(state): State<Arc<Hostile>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    record(&state, &headers);
    let n = state.connections.fetch_add(1, Ordering::SeqCst);
    ws.on_upgrade(move |socket| serve_socket(state, socket, n))
}

async fn serve_socket(state: Arc<Hostile>, mut socket: WebSocket, n: usize) {
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            continue;
        };
        let frames = match ClientMessage::parse(text.as_str()) {
            Ok(ClientMessage::Subscribe { since, .. }) => (state.script.on_subscribe)(n, since),
            Ok(ClientMessage::Sync { data }) => (state.script.on_sync)(n, &data),
            Ok(ClientMessage::Ping) => vec![json!({"type": "pong"}).to_string()],
            _ => Vec::new(),
        };
        for frame in frames {
            if socket.send(Message::Text(frame.into())).await.is_err() {
                return;
            }
        }
    }
}

async fn post_any(
    State(state): State<Arc<Hostile>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    record(&state, &headers);
    let body = (state.script.on_post)(uri.path());
    // Chunked, no Content-Length: the client must count what it reads.
    let chunks: Vec<Result<Vec<u8>, Infallible>> =
        body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap()
}

const REMOTE_ID: &str = "remote-entry-1";

fn sync_complete(seq: u64) -> String {
    json!({"type": "sync_complete", "seq": seq, "timestamp": 0}).to_string()
}

fn update(seq: u64, id: &str, data: Value) -> String {
    json!({
        "type": "update",
        "data": {
            "entityType": "logbook", "entityId": id, "data": data, "version": 1,
            "deleted": false, "seq": seq, "timestamp": 0, "userId": "u",
            "clientId": "other-device", "changeId": format!("change-{seq}"), "full": true,
        }
    })
    .to_string()
}

/// A valid logbook state whose notes make the whole frame `size` bytes or more.
fn entry_of_size(size: usize) -> Value {
    let mut state = entry_state("");
    state["notes"] = Value::String("n".repeat(size));
    state
}

/// `fields` extra fields, each a `$deflate` value that inflates to 1 MiB (about 1 KiB on
/// the wire each).
fn bombed_entry(fields: usize) -> Value {
    let bomb = deflate_string(&"a".repeat(MAX_MESSAGE_BYTES));
    let mut state = entry_state("bombed");
    for i in 0..fields {
        state[format!("x{i}")] = json!({ "$deflate": bomb });
    }
    state
}

/// A device with one local entry not yet sent (the engine starts after the edit).
async fn device_with_pending_entry(
    url: &str,
    tweak: impl FnOnce(&mut legato_sync::SyncConfig),
) -> (Device, EntityId) {
    let mut config = test_config(url, "secret-token");
    tweak(&mut config);
    let dir = tempfile::tempdir().unwrap();
    let store = legato_store::StoreHandle::open(dir.path().join("device.db"))
        .await
        .unwrap();
    let id = store
        .call(|s| {
            s.create(
                EntityType::Logbook,
                fields(entry_state("mine, unsent")),
                now_ms(),
            )
        })
        .await
        .unwrap()
        .entity_id;
    drop(store);
    tokio::time::sleep(Duration::from_millis(100)).await;
    (Device::in_dir(dir, config).await, id)
}

async fn assert_local_data_kept(device: &Device, id: &EntityId) {
    assert_eq!(
        device.pending().await,
        1,
        "the outbox keeps the unsent entry"
    );
    assert_eq!(
        device.field(EntityType::Logbook, id, "notes").await,
        json!("mine, unsent"),
        "the local entry is as it was"
    );
    let remote = EntityId::new(REMOTE_ID).unwrap();
    assert!(
        device.get(EntityType::Logbook, &remote).await.is_none(),
        "nothing of the hostile update is stored"
    );
    assert_eq!(device.cursor().await, 0, "the cursor did not move");
}

/// The WebSocket refuses a message over `MAX_MESSAGE_BYTES` (the frame limit, too): the
/// engine reports `TransportError::TooLarge`, applies nothing, and reconnects with backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_websocket_message_is_refused_and_nothing_is_stored() {
    let server = HostileServer::start(Script {
        // An ack for the pushed change carrying a 1 MiB + 1 KiB state: if it were read, the
        // change would leave the outbox and the base would take the huge notes.
        on_sync: Box::new(|_, change| {
            vec![
                json!({
                    "type": "ack", "changeId": change.change_id, "status": "applied",
                    "version": 1, "seq": 1, "data": entry_of_size(MAX_MESSAGE_BYTES + 1024),
                })
                .to_string(),
            ]
        }),
        on_subscribe: Box::new(|_, since| {
            vec![
                update(1, REMOTE_ID, entry_of_size(MAX_MESSAGE_BYTES + 1024)),
                sync_complete(since.max(1)),
            ]
        }),
        ..Script::default()
    })
    .await;
    let (mut device, id) = device_with_pending_entry(&server.url(), |_| {}).await;
    let err = device
        .sync
        .sync_now()
        .await
        .expect_err("the oversize frame fails the sync");
    match &err {
        SyncError::Offline(TransportError::TooLarge(too_large)) => {
            assert_eq!(too_large.limit, MAX_MESSAGE_BYTES);
        }
        other => panic!("expected a TooLarge transport error, got {other:?}"),
    }
    assert!(!err.is_retryable(), "the same request gets the same reply");
    let reason = device
        .next_event("disconnected", |e| match e {
            legato_sync::SyncEvent::Disconnected { reason } => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert!(reason.contains("larger than"), "{reason}");
    assert_local_data_kept(&device, &id).await;
    // Not wedged: it keeps reconnecting with backoff (the server may get fixed).
    eventually("a reconnect", || async {
        (server.connections() >= 2).then_some(())
    })
    .await;
    assert_local_data_kept(&device, &id).await;
    device.sync.shutdown(false).await;
}

/// A batch reply over `MAX_MESSAGE_BYTES` (chunked, so no Content-Length warns) is refused
/// after reading at most the cap; the batch's changes go one by one over the WebSocket
/// instead, and the outbox keeps them until a real answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_batch_reply_is_refused_and_the_change_stays_queued() {
    let server = HostileServer::start(Script {
        on_post: Box::new(|_| {
            let results: Vec<Value> = (0..3)
                .map(|i| {
                    json!({"changeId": format!("c{i}"), "status": "applied", "version": 1,
                        "seq": i + 1, "data": entry_of_size(MAX_MESSAGE_BYTES / 2)})
                })
                .collect();
            json!({ "results": results }).to_string().into_bytes()
        }),
        ..Script::default()
    })
    .await;
    let (device, id) = device_with_pending_entry(&server.url(), |config| {
        config.plan.batch_threshold = 1;
    })
    .await;
    device.sync.notify_local_change();
    let status = device
        .wait_status("the batch failure reported", |s| {
            s.metrics.last_error.as_ref().is_some_and(|e| {
                e.kind == ProblemKind::Protocol && e.detail.contains("larger than")
            })
        })
        .await;
    assert!(status.metrics.failed_syncs >= 1);
    assert_local_data_kept(&device, &id).await;
    device.sync.shutdown(false).await;
}

/// Auth replies are capped like every body: an endless login reply is a typed error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_auth_reply_is_a_typed_error() {
    let server = HostileServer::start(Script {
        on_post: Box::new(|_| {
            json!({"userId": "u", "token": "t".repeat(2 * MAX_MESSAGE_BYTES)})
                .to_string()
                .into_bytes()
        }),
        ..Script::default()
    })
    .await;
    let api = AccountApi::new(ServerUrl::parse(&server.url()).unwrap()).unwrap();
    let body = RegisterRequest {
        email: "a@example.com".into(),
        password: "correct horse battery".into(),
        device_name: None,
    };
    let err = api.login(&body).await.expect_err("refused");
    match &err {
        AccountError::TooLarge(too_large) => assert_eq!(too_large.limit, MAX_MESSAGE_BYTES),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(matches!(
        api.register(&body).await,
        Err(AccountError::TooLarge(_))
    ));
}

/// Updates full of `$deflate` bombs (each value inflating to 1 MiB, hundreds per change) go
/// through the per-change inflate budget: refused at once, nothing stored, the cursor and
/// the outbox kept, and once the server sends sane data the engine syncs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deflate_bombs_in_updates_are_not_stored_and_do_not_wedge_sync() {
    const BOMBS: usize = 300;
    let good_id = "remote-entry-good";
    let server = HostileServer::start(Script {
        on_subscribe: Box::new(move |n, _| {
            if n < 2 {
                // Pages of 50 (the 50th update of the first is the bomb), then two more
                // pages and a partial one: the sane pages after the refused one must not
                // move the cursor past it. The first page's 49 sane updates are large, so
                // the store is still at it when the next pages are queued behind it.
                let big = "s".repeat(16 * 1024);
                let mut frames: Frames = (1..=49)
                    .map(|seq| update(seq, &format!("remote-sane-{seq}"), entry_state(&big)))
                    .collect();
                frames.push(update(50, REMOTE_ID, bombed_entry(BOMBS)));
                frames
                    .extend((51..=170).map(|seq| {
                        update(seq, &format!("remote-sane-{seq}"), entry_state("sane"))
                    }));
                frames.push(sync_complete(170));
                frames
            } else {
                vec![
                    update(1, good_id, entry_state("the server behaves")),
                    sync_complete(1),
                ]
            }
        }),
        // The pushed change is answered with a transient refusal: it stays in the outbox
        // (retried later) and the engine goes on to subscribe.
        on_sync: Box::new(|_, change| {
            vec![
                json!({"type": "error", "code": "rate_limited", "message": "later",
                    "changeId": change.change_id})
                .to_string(),
            ]
        }),
        ..Script::default()
    })
    .await;
    let (device, id) = device_with_pending_entry(&server.url(), |config| {
        config.catch_up_page = 50;
        config.plan.batch_threshold = 100;
    })
    .await;
    let started = Instant::now();
    let err = device
        .sync
        .sync_now()
        .await
        .expect_err("the bomb fails the catch-up");
    let elapsed = started.elapsed();
    eprintln!("{BOMBS} $deflate bombs refused in {elapsed:?}");
    assert!(
        matches!(&err, SyncError::Store { message, retryable: false } if message.contains("$deflate")),
        "{err:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "the budget stops inflating early ({elapsed:?})"
    );
    assert_local_data_kept(&device, &id).await;
    let stored: Vec<String> = device.everything().await.into_iter().map(|e| e.1).collect();
    assert_eq!(
        stored,
        vec![id.to_string()],
        "only the local entry is stored: nothing of the refused page or the pages after it"
    );
    assert_eq!(
        device.cursor().await,
        0,
        "the cursor never steps over the bomb"
    );
    // Not wedged: the next connection's sane data syncs.
    device.sync.sync_now().await.ok();
    eventually("the sane update after the hostile ones", || async {
        device
            .get(EntityType::Logbook, &EntityId::new(good_id).unwrap())
            .await
            .map(|_| ())
    })
    .await;
    assert!(
        device
            .get(EntityType::Logbook, &EntityId::new(REMOTE_ID).unwrap())
            .await
            .is_none()
    );
    device.sync.shutdown(false).await;
}

/// The status says whether the server is plain `http://` on another machine (the UI warns).
#[tokio::test]
async fn the_status_flags_a_plain_http_remote_server() {
    for (url, insecure) in [
        ("http://sync.example.com", true),
        ("http://192.168.1.20:8080", true),
        ("https://sync.example.com", false),
        ("http://127.0.0.1:1", false),
    ] {
        let store =
            legato_store::StoreHandle::new(legato_store::Store::open_in_memory().unwrap()).unwrap();
        let config = legato_sync::SyncConfig::new(url, None).unwrap();
        let sync = legato_sync::SyncEngine::spawn(store, config);
        assert_eq!(sync.current_status().insecure_server, insecure, "{url}");
        sync.shutdown(false).await;
    }
}
