//! Operations: health, metrics, restart durability, the binary's start-up and shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{TestServer, create_goal, metric, update_goal};

#[tokio::test]
async fn healthz_answers() {
    let server = TestServer::start().await;
    let response = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_metrics_token_guards_the_counters() {
    let server = TestServer::start_with(|s| {
        s.metrics_token = Some(legato_server::auth::TokenHash::of("scrape-me"));
    })
    .await;
    let get = |token: Option<&'static str>| {
        let mut request = server.http.get(server.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for token in [None, Some("wrong")] {
        let response = get(token).await.unwrap();
        assert_eq!(response.status(), 401, "{token:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let response = get(Some("scrape-me")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("legato_ws_connections")
    );
    // Health checks stay open: load balancers do not carry tokens.
    let health = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn metrics_counters_move() {
    let server = TestServer::start().await;
    let before = server.metrics().await;
    assert!(before.contains("legato_ws_connections"), "{before}");
    let ann = server.register("ann@example.com").await;
    let (mut ws, _, _) = server.device(&ann.token, "laptop", 0).await;
    ws.sync(create_goal("c1", "g1", "t", "laptop")).await;
    ws.sync(create_goal("c1", "g1", "t", "laptop")).await;
    ws.sync(update_goal("c2", "g1", json!({"title": "x"}), 0, "laptop"))
        .await;
    let _ = ws
        .sync(update_goal(
            "c3",
            "nope",
            json!({"title": "x"}),
            1,
            "laptop",
        ))
        .await;
    let _ = server
        .http
        .get(server.url("/api/sync/changes"))
        .send()
        .await
        .unwrap();

    let after = server.metrics().await;
    assert_eq!(metric(&after, "legato_ws_connections"), 1.0, "{after}");
    assert_eq!(
        metric(&after, "legato_changes_applied_total"),
        1.0,
        "{after}"
    );
    assert_eq!(metric(&after, "legato_changes_duplicate_total"), 1.0);
    // c2 updates `title` on base 0 after the create set it at version 1: a conflict.
    assert_eq!(metric(&after, "legato_conflicts_total"), 1.0);
    assert_eq!(
        metric(&after, "legato_errors_total{code=\"not_found\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        metric(&after, "legato_errors_total{code=\"unauthorized\"}"),
        1.0,
        "{after}"
    );
    assert!(
        metric(&after, "legato_apply_duration_seconds_count") >= 4.0,
        "{after}"
    );
}

#[tokio::test]
async fn a_restart_loses_nothing_acknowledged() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let server = TestServer::start_in(dir.clone(), |_| {}).await;
    let ann = server.register("ann@example.com").await;
    let (mut ws, _, _) = server.device(&ann.token, "laptop", 0).await;
    for i in 0..20 {
        let ack = ws
            .sync(create_goal(
                &format!("w{i}"),
                &format!("g{i}"),
                "t",
                "laptop",
            ))
            .await;
        assert_eq!(ack["status"], "applied");
    }
    let items: Vec<Value> = (0..100)
        .map(|i| create_goal(&format!("b{i}"), &format!("h{i}"), "t", "cli"))
        .collect();
    server.batch(&ann.token, items).await;
    let before = server.all_changes(&ann.token).await;
    // The live connection is told the server is going away.
    let stopping = tokio::spawn(server.stop());
    assert_eq!(ws.expect_close().await.0, 1001);
    stopping.await.unwrap();

    let server = TestServer::start_in(dir, |_| {}).await;
    // Tokens, entities, seqs and recorded change ids all survived.
    let after = server.all_changes(&ann.token).await;
    assert_eq!(after, before);
    assert_eq!(after.len(), 120);
    assert_eq!(server.changes(&ann.token, "since=0").await["seq"], 120);
    let replay = server
        .batch(&ann.token, vec![create_goal("w3", "g3", "t", "laptop")])
        .await;
    assert_eq!(replay[0]["status"], "duplicate");
    assert_eq!(replay[0]["seq"], 4);
    let results = server
        .batch(&ann.token, vec![create_goal("new", "n1", "t", "cli")])
        .await;
    assert_eq!(results[0]["seq"], 121);
}

#[tokio::test]
async fn the_binary_prints_its_address_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_legato-server"))
        .args(["--listen", "127.0.0.1:0", "--database"])
        .arg(format!("sqlite://{}", dir.path().join("bin.db").display()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(!addr.ends_with(":0"), "the real port is printed: {addr}");
    let response = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || {
        for _ in 0..100 {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        None
    })
    .await
    .unwrap();
    assert!(exit.expect("stopped within 10 s").success());
}
