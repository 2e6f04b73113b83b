//! Sessions that end (issue 11): revoking a token (logout, a device revoked, a password
//! change) closes its live sockets within a second; idle tokens expire (sliding); the
//! account's devices are listed and revocable by their owner only.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestServer, WsClient, handshake_status};

/// How fast a revoked token's socket must close (the bound).
const CLOSE_WITHIN: Duration = Duration::from_secs(1);

/// Waits for `ws` to be closed for its revoked token; returns how long that took.
async fn closed_as_revoked(ws: &mut WsClient, since: Instant) -> Duration {
    let (code, reason) = ws.expect_close().await;
    let took = since.elapsed();
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("signed out"), "{reason}");
    took
}

async fn status_of(server: &TestServer, token: &str) -> u16 {
    handshake_status(
        server.addr,
        &[("authorization", &format!("Bearer {token}"))],
        "/sync",
    )
    .await
}

#[tokio::test]
async fn logout_closes_the_tokens_live_sockets_within_a_second() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let phone = server.login("ann@example.com", "phone").await;
    let (mut laptop_a, _, _) = server.device(&ann.token, "laptop", 0).await;
    let mut laptop_b = server.connect(&ann.token).await;
    laptop_b.hello("laptop-2").await;
    let (mut phone_ws, _, _) = server.device(&phone.token, "phone", 0).await;

    let started = Instant::now();
    let (status, _) = server
        .call(Method::POST, "/api/auth/logout", &ann.token, None)
        .await;
    assert_eq!(status, 204);
    for ws in [&mut laptop_a, &mut laptop_b] {
        let took = closed_as_revoked(ws, started).await;
        assert!(took < CLOSE_WITHIN, "closed after {took:?}");
    }
    assert_eq!(status_of(&server, &ann.token).await, 401);
    // The account's other device is untouched.
    phone_ws.ping().await;
    assert_eq!(status_of(&server, &phone.token).await, 101);
}

#[tokio::test]
async fn devices_are_listed_and_revoked_by_their_owner_only() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let phone = server.login("ann@example.com", "phone").await;
    let bob = server.register("bob@example.com").await;
    let (mut phone_ws, _, _) = server.device(&phone.token, "dev-phone", 0).await;
    phone_ws.ping().await;

    let (status, list) = server
        .call(Method::GET, "/api/devices", &ann.token, None)
        .await;
    assert_eq!(status, 200);
    let devices = list["devices"].as_array().unwrap();
    let summary: Vec<_> = devices
        .iter()
        .map(|d| {
            (
                d["name"].as_str(),
                d["clientId"].as_str(),
                d["current"].as_bool(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Some("test"), None, Some(true)),
            (Some("phone"), Some("dev-phone"), Some(false))
        ]
    );
    for device in devices {
        assert!(device["createdAt"].as_i64().unwrap() > 0);
        assert!(device["lastSeenAt"].as_i64() >= device["createdAt"].as_i64());
        let id = device["id"].as_str().unwrap();
        assert!(
            !id.is_empty() && !ann.token.contains(id) && !phone.token.contains(id),
            "a device id is not (part of) the token"
        );
    }
    let phone_id = devices[1]["id"].as_str().unwrap().to_owned();

    // Bob cannot see or revoke ann's devices.
    let (_, bobs) = server
        .call(Method::GET, "/api/devices", &bob.token, None)
        .await;
    assert_eq!(bobs["devices"].as_array().unwrap().len(), 1);
    let path = format!("/api/devices/{phone_id}");
    let (status, body) = server.call(Method::DELETE, &path, &bob.token, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    phone_ws.ping().await;

    let started = Instant::now();
    let (status, _) = server.call(Method::DELETE, &path, &ann.token, None).await;
    assert_eq!(status, 204);
    let took = closed_as_revoked(&mut phone_ws, started).await;
    assert!(took < CLOSE_WITHIN, "closed after {took:?}");
    assert_eq!(status_of(&server, &phone.token).await, 401);
    let (status, _) = server.call(Method::DELETE, &path, &ann.token, None).await;
    assert_eq!(status, 404, "revoking twice");
    let (_, list) = server
        .call(Method::GET, "/api/devices", &ann.token, None)
        .await;
    assert_eq!(list["devices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_password_change_signs_out_every_other_device() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let phone = server.login("ann@example.com", "phone").await;
    let (mut phone_ws, _, _) = server.device(&phone.token, "phone", 0).await;
    let (mut laptop_ws, _, _) = server.device(&ann.token, "laptop", 0).await;

    let change =
        |current: &str, new: &str| Some(json!({"currentPassword": current, "newPassword": new}));
    let (status, body) = server
        .call(
            Method::POST,
            "/api/auth/password",
            &ann.token,
            change("wrong password", "a new long password"),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, body) = server
        .call(
            Method::POST,
            "/api/auth/password",
            &ann.token,
            change(PASSWORD, "short"),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid"))
    );
    phone_ws.ping().await;

    let (status, _) = server
        .call(
            Method::POST,
            "/api/auth/password",
            &ann.token,
            change(PASSWORD, "a new long password"),
        )
        .await;
    assert_eq!(status, 204);
    // From the answer: the argon2 work before the revoke is not the socket's delay.
    let started = Instant::now();
    let took = closed_as_revoked(&mut phone_ws, started).await;
    assert!(took < CLOSE_WITHIN, "closed after {took:?}");
    assert_eq!(status_of(&server, &phone.token).await, 401);
    // This device stays signed in, socket and all.
    laptop_ws.ping().await;
    assert_eq!(status_of(&server, &ann.token).await, 101);

    let login = |password: &str| {
        let body = json!({"email": "ann@example.com", "password": password});
        let request = server.http.post(server.url("/api/auth/login")).json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(login(PASSWORD).await, 401);
    assert_eq!(login("a new long password").await, 200);
}

/// Tokens expire after `token_idle_timeout` unused, and every use (a request, or an open
/// socket) restarts the clock.
#[tokio::test]
async fn idle_tokens_expire_and_use_keeps_them_alive() {
    const IDLE: Duration = Duration::from_secs(2);
    let server = TestServer::start_with(|s| s.token_idle_timeout = Some(IDLE)).await;
    let ann = server.register("ann@example.com").await;
    let socket_only = server.login("ann@example.com", "phone").await;
    let unused = server.login("ann@example.com", "tablet").await;
    let (mut phone_ws, _, _) = server.device(&socket_only.token, "phone", 0).await;

    // Used every 400 ms for twice the idle time: still signed in.
    let until = Instant::now() + IDLE * 2;
    while Instant::now() < until {
        let (status, _) = server
            .call(Method::GET, "/api/devices", &ann.token, None)
            .await;
        assert_eq!(status, 200);
        phone_ws.ping().await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // The token used only by its open socket is alive too.
    assert_eq!(status_of(&server, &socket_only.token).await, 101);

    let (status, body) = server
        .call(Method::GET, "/api/devices", &unused.token, None)
        .await;
    assert_eq!(status, 401, "{body:?}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body:?}"
    );
    let (_, list) = server
        .call(Method::GET, "/api/devices", &ann.token, None)
        .await;
    let names: Vec<Value> = list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].clone())
        .collect();
    assert_eq!(names, [json!("test"), json!("phone")]);
}
