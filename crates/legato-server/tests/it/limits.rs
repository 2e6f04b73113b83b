//! Limits and bad input (PROTOCOL.md section 6): sizes, rate, origins, idle connections.

use std::time::{Duration, Instant};

use legato_protocol::{MAX_BATCH_ITEMS, MAX_MESSAGE_BYTES};
use serde_json::{Value, json};

use crate::support::{TestServer, create_goal, handshake_status, update_goal};

#[tokio::test]
async fn an_oversize_frame_is_refused_and_others_carry_on() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let (mut bystander, _, _) = server.device(&ann.token, "phone", 0).await;
    let mut ws = server.connect(&ann.token).await;
    ws.hello("laptop").await;
    let frame = format!(
        r#"{{"type":"ping","pad":"{}"}}"#,
        "x".repeat(MAX_MESSAGE_BYTES)
    );
    ws.send_text(&frame).await;
    let error = ws.recv().await;
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("error"), Some("too_large"))
    );
    assert_eq!(ws.expect_close().await.0, 1009);

    // A frame of exactly the limit is fine.
    let mut ws = server.connect(&ann.token).await;
    let pad = MAX_MESSAGE_BYTES - r#"{"type":"ping","pad":""}"#.len();
    ws.send_text(&format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(pad)))
        .await;
    assert_eq!(ws.recv().await["type"], "pong");
    bystander.ping().await;
}

#[tokio::test]
async fn oversize_bodies_and_batches_are_refused_with_413() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let body = format!(
        r#"{{"items":[],"pad":"{}"}}"#,
        "x".repeat(MAX_MESSAGE_BYTES)
    );
    let response = server
        .http
        .post(server.url("/api/sync/batch"))
        .bearer_auth(&ann.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["error"]["code"], "too_large");

    let items: Vec<Value> = (0..=MAX_BATCH_ITEMS)
        .map(|i| create_goal(&format!("c{i}"), &format!("g{i}"), "t", "cli"))
        .collect();
    let response = server
        .post_batch(&ann.token, json!({ "items": items }))
        .await;
    assert_eq!(response.status(), 413);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["error"]["code"], "too_large");
    assert!(reply["error"]["message"].as_str().unwrap().contains("500"));
    assert_eq!(
        server.changes(&ann.token, "since=0").await["seq"],
        0,
        "nothing stored"
    );

    // 500 items pass (and the default rate limit admits a full batch).
    let items: Vec<Value> = (0..MAX_BATCH_ITEMS)
        .map(|i| create_goal(&format!("c{i}"), &format!("g{i}"), "t", "cli"))
        .collect();
    let results = server.batch(&ann.token, items).await;
    assert_eq!(results.as_array().unwrap().len(), MAX_BATCH_ITEMS);
    assert_eq!(results[499]["seq"], 500);
}

#[tokio::test]
async fn malformed_messages_are_answered_invalid_and_the_connection_continues() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let (mut bystander, _, _) = server.device(&ann.token, "phone", 0).await;
    let mut ws = server.connect(&ann.token).await;
    ws.hello("laptop").await;

    let mut wrong_type = create_goal("c1", "g1", "t", "laptop");
    wrong_type["baseVersion"] = json!("three");
    let mut bad_id = create_goal("c2", "g1", "t", "laptop");
    bad_id["entityId"] = json!("not/an id");
    let mut bad_type = create_goal("c3", "g1", "t", "laptop");
    bad_type["entityType"] = json!("concerts");
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        ("{not json".to_owned(), "malformed JSON", None),
        (r#"{"type":"dance"}"#.to_owned(), "dance", None),
        (r#"[1,2]"#.to_owned(), "type", None),
        (
            json!({"type": "subscribe", "since": "yesterday"}).to_string(),
            "subscribe",
            None,
        ),
        (
            json!({"type": "sync", "data": wrong_type}).to_string(),
            "data.baseVersion",
            Some("c1"),
        ),
        (
            json!({"type": "sync", "data": bad_id}).to_string(),
            "entityId",
            Some("c2"),
        ),
        (
            json!({"type": "sync", "data": bad_type}).to_string(),
            "entityType",
            Some("c3"),
        ),
    ];
    for (frame, named, change_id) in cases {
        ws.send_text(&frame).await;
        let reply = ws.recv().await;
        assert_eq!(
            (reply["type"].as_str(), reply["code"].as_str()),
            (Some("error"), Some("invalid")),
            "{frame}"
        );
        let message = reply["message"].as_str().unwrap();
        assert!(message.contains(named), "{message:?} should name {named:?}");
        assert_eq!(reply["changeId"].as_str(), change_id, "{reply}");
    }
    ws.send_raw(tokio_tungstenite::tungstenite::Message::binary(vec![
        1, 2, 3,
    ]))
    .await;
    assert_eq!(ws.recv().await["code"], "invalid");

    ws.ping().await;
    bystander.ping().await;
    bystander.expect_silence(Duration::from_millis(100)).await;
    assert_eq!(
        server.changes(&ann.token, "since=0").await["seq"],
        0,
        "nothing stored"
    );
    // Still fully usable.
    assert_eq!(
        ws.sync(create_goal("c9", "g9", "t", "laptop")).await["status"],
        "applied"
    );
}

#[tokio::test]
async fn malformed_http_input_is_answered_invalid() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let mut wrong = update_goal("c2", "g1", json!({}), 1, "cli");
    wrong["baseVersion"] = json!(-1);
    let results = server
        .batch(
            &ann.token,
            vec![create_goal("c1", "g1", "t", "cli"), wrong, json!("nope")],
        )
        .await;
    assert_eq!(results[0]["status"], "applied", "good items still apply");
    assert_eq!(results[1]["status"], "error");
    assert_eq!(results[1]["changeId"], "c2");
    assert_eq!(results[1]["error"]["code"], "invalid");
    assert!(
        results[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("items[1].baseVersion"),
        "{results}"
    );
    assert!(
        results[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("items[2]")
    );

    for body in ["{not json", "{}", r#"{"items": 5}"#] {
        let response = server
            .http
            .post(server.url("/api/sync/batch"))
            .bearer_auth(&ann.token)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let reply: Value = response.json().await.unwrap();
        assert_eq!(reply["error"]["code"], "invalid");
    }
    for (query, named) in [
        ("since=abc", "since"),
        ("types=goals,concerts", "types"),
        ("limit=0", "limit"),
        ("since=-1", "since"),
    ] {
        let response = server
            .http
            .get(server.url(&format!("/api/sync/changes?{query}")))
            .bearer_auth(&ann.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let reply: Value = response.json().await.unwrap();
        assert_eq!(reply["error"]["code"], "invalid");
        assert!(reply["error"]["message"].as_str().unwrap().contains(named));
    }
    // Unknown routes and methods answer in the error shape too.
    let response = server
        .http
        .get(server.url("/api/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["error"]["code"], "not_found");
    let response = server
        .http
        .get(server.url("/api/sync/batch"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let reply: Value = response.json().await.unwrap();
    assert!(reply["error"]["message"].is_string());
}

#[tokio::test]
async fn the_rate_limit_answers_rate_limited_per_user() {
    let server = TestServer::start_with(|s| {
        s.rate_limit = 0.5;
        s.rate_limit_burst = 3;
    })
    .await;
    let ann = server.register("ann@example.com").await;
    let bob = server.register("bob@example.com").await;
    let (mut ws, _, _) = server.device(&ann.token, "laptop", 0).await;
    for i in 0..3 {
        let ack = ws
            .sync(create_goal(
                &format!("c{i}"),
                &format!("g{i}"),
                "t",
                "laptop",
            ))
            .await;
        assert_eq!(ack["status"], "applied");
    }
    let refused = ws.sync(create_goal("c3", "g3", "t", "laptop")).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("rate_limited"))
    );
    assert_eq!(refused["changeId"], "c3");

    let response = server
        .post_batch(
            &ann.token,
            json!({"items": [create_goal("c4", "g4", "t", "cli")]}),
        )
        .await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["error"]["code"], "rate_limited");

    // Sizes are checked before the rate.
    let items: Vec<Value> = (0..=MAX_BATCH_ITEMS)
        .map(|i| create_goal(&format!("x{i}"), "g", "t", "cli"))
        .collect();
    assert_eq!(
        server
            .post_batch(&ann.token, json!({ "items": items }))
            .await
            .status(),
        413
    );

    // Bob has a budget of his own.
    let results = server
        .batch(&bob.token, vec![create_goal("c0", "g0", "t", "cli")])
        .await;
    assert_eq!(results[0]["status"], "applied");
    assert_eq!(server.changes(&ann.token, "since=0").await["seq"], 3);
}

#[tokio::test]
async fn browser_origins_must_be_allowed() {
    let server = TestServer::start_with(|s| {
        s.allowed_origins.push("https://app.example".to_owned());
    })
    .await;
    let ann = server.register("ann@example.com").await;
    let bearer = format!("Bearer {}", ann.token);
    for (origin, status) in [
        (None, 101),
        (Some("tauri://localhost"), 101),
        (Some("http://tauri.localhost"), 101),
        (Some("https://tauri.localhost"), 101),
        (Some("https://app.example"), 101),
        (Some("https://evil.example"), 403),
        (Some("null"), 403),
    ] {
        let mut headers = vec![("authorization", bearer.as_str())];
        if let Some(origin) = origin {
            headers.push(("origin", origin));
        }
        assert_eq!(
            handshake_status(server.addr, &headers, "/sync").await,
            status,
            "{origin:?}"
        );
    }
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let server = TestServer::start_with(|s| s.idle_timeout = Duration::from_millis(600)).await;
    let ann = server.register("ann@example.com").await;
    let (mut idle, _, _) = server.device(&ann.token, "idle", 0).await;
    let (mut busy, _, _) = server.device(&ann.token, "busy", 0).await;
    let started = Instant::now();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        busy.ping().await;
    }
    let (code, reason) = idle.expect_close().await;
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(code, 1000);
    assert!(reason.contains("idle"), "{reason}");
    busy.ping().await;
}

#[tokio::test]
async fn a_slow_reader_is_disconnected_instead_of_buffered() {
    let server = TestServer::start_with(|s| s.outbound_queue = 4).await;
    let ann = server.register("ann@example.com").await;
    let (mut slow, _, _) = server.device(&ann.token, "slow", 0).await;
    let (mut fast, _, _) = server.device(&ann.token, "fast", 0).await;
    let fast_reader = tokio::spawn(async move {
        let mut last = 0;
        while last < 100 {
            let message = fast.recv().await;
            last = message["data"]["seq"].as_u64().unwrap();
        }
        fast
    });
    // 100 updates of ~100 KB each: far more than socket buffers and the queue of 4 hold.
    let big = "x".repeat(100_000);
    for round in 0..25 {
        let items: Vec<Value> = (0..4)
            .map(|i| {
                let n = round * 4 + i;
                crate::support::change(
                    &format!("c{n}"),
                    "goals",
                    &format!("g{n}"),
                    "create",
                    json!({"title": "t", "blob": big}),
                    0,
                    "writer",
                )
            })
            .collect();
        let results = server.batch(&ann.token, items).await;
        assert_eq!(results[3]["status"], "applied");
    }
    let mut fast = fast_reader.await.unwrap();
    fast.ping().await;

    // The slow reader gets what was in flight, then the connection ends.
    let mut received = 0;
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match slow.next_event().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_))) => received += 1,
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => {
                    return frame.map(|f| u16::from(f.code));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the slow connection is ended");
    assert!(
        received < 100,
        "the slow reader was not buffered without bound ({received})"
    );
    if let Some(code) = ended {
        assert_eq!(code, 1013);
    }
    // It reconnects and catches up from its cursor.
    let (_, catch_up, seq) = server.device(&ann.token, "slow", 0).await;
    assert_eq!((catch_up.len(), seq), (100, 100));
}

/// Ids end up in logs and in other devices' views: a `clientId` (of `hello` or of a change)
/// with a control character is `invalid`, and so is text with C0 control characters other
/// than tab and line breaks; nothing is stored.
#[tokio::test]
async fn control_characters_are_refused_in_ids_and_text() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let mut ws = server.connect(&ann.token).await;
    ws.hello("lap\u{0}top").await;
    let reply = ws.recv().await;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("error"), Some("invalid"))
    );
    assert!(
        reply["message"].as_str().unwrap().contains("clientId"),
        "{reply:?}"
    );
    // The connection carries on, and a clean hello is taken.
    ws.hello("laptop").await;
    ws.ping().await;

    let results = server
        .batch(
            &ann.token,
            vec![
                create_goal("c1", "g1", "Scales\u{0}", "laptop"),
                create_goal("c2", "g2", "Scales", "lap\ntop"),
                create_goal("c3", "g3", "Scales\tand\r\narpeggios", "laptop"),
            ],
        )
        .await;
    let codes: Vec<_> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["status"].as_str(), r["error"]["code"].as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            (Some("error"), Some("invalid")),
            (Some("error"), Some("invalid")),
            (Some("applied"), None)
        ]
    );
    assert!(
        results[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("U+0000"),
        "{:?}",
        results[0]
    );
    let stored: Vec<_> = server
        .all_changes(&ann.token)
        .await
        .into_iter()
        .map(|u| u["entityId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored, ["g3"]);
}

/// The database holds password and token hashes: its directory is created 0700, the file
/// and its WAL 0600, and a file left readable by others is narrowed when the server opens it.
#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_directory_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let data = dir.path().join("data").join("legato");
    let db = data.join("legato.db");
    let url = format!("sqlite://{}", db.display());
    let server = TestServer::start_in(dir.clone(), |s| s.database_url = url.clone()).await;
    let ann = server.register("ann@example.com").await;
    server
        .batch(&ann.token, vec![create_goal("c1", "g1", "t", "laptop")])
        .await;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&data.join("legato.db-wal")), 0o600);
    server.stop().await;

    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = TestServer::start_in(dir.clone(), |s| s.database_url = url.clone()).await;
    server.register("bob@example.com").await;
    assert_eq!(mode(&db), 0o600);
}

/// Reads from `tcp` until the server closes it; what it sent, or `None` if it stayed open
/// for `wait`.
async fn read_until_closed(tcp: &mut tokio::net::TcpStream, wait: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt as _;
    let mut received = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

/// Slow or stalled HTTP clients cannot hold connections: headers must arrive within
/// `header_timeout` (also between keep-alive requests), a body within `body_timeout`.
#[tokio::test]
async fn stalled_http_connections_are_closed() {
    use tokio::io::AsyncWriteExt as _;
    const TIMEOUT: Duration = Duration::from_secs(1);
    const WAIT: Duration = Duration::from_secs(5);
    let server = TestServer::start_with(|s| {
        s.header_timeout = TIMEOUT;
        s.body_timeout = TIMEOUT;
    })
    .await;

    // Headers that never end (slowloris).
    let started = Instant::now();
    let mut partial = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: legato\r\nX-Slow: 1\r\n")
        .await
        .unwrap();
    let closed = read_until_closed(&mut partial, WAIT).await;
    assert!(
        closed.is_some(),
        "a connection with unfinished headers stayed open"
    );
    assert!(started.elapsed() >= TIMEOUT);

    // A keep-alive connection idle after its request.
    let mut idle = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: legato\r\n\r\n")
        .await
        .unwrap();
    let reply = read_until_closed(&mut idle, WAIT).await;
    let reply = reply.expect("an idle keep-alive connection stayed open");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    // A body that stops arriving.
    let mut slow_body = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow_body
        .write_all(
            b"POST /api/auth/login HTTP/1.1\r\nHost: legato\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"email\":",
        )
        .await
        .unwrap();
    let reply = read_until_closed(&mut slow_body, WAIT)
        .await
        .expect("a connection with a stalled body stayed open");
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");

    // The server still serves.
    assert_eq!(
        server
            .http
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
