//! Accounts and bearer authentication (PROTOCOL.md 5.2, section 6 `unauthorized`).

use serde_json::{Value, json};

use crate::support::{PASSWORD, TestServer, handshake_status};

/// Every authenticated route, as (method, path, body).
const SYNC_ROUTES: [(&str, &str); 3] = [
    ("POST", "/api/sync/batch"),
    ("GET", "/api/sync/changes?since=0"),
    ("POST", "/api/auth/logout"),
];

async fn call(server: &TestServer, method: &str, path: &str, auth: Option<&str>) -> (u16, Value) {
    let url = server.url(path);
    let request = match method {
        "POST" => server.http.post(url).json(&json!({"items": []})),
        _ => server.http.get(url),
    };
    let request = match auth {
        Some(value) => request.header("authorization", value),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn every_sync_route_requires_a_valid_bearer_token() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let bearer = format!("Bearer {}", ann.token);
    for (method, path) in SYNC_ROUTES {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Basic abc"),
            Some(ann.token.as_str()),
        ] {
            let (status, body) = call(&server, method, path, auth).await;
            assert_eq!(status, 401, "{method} {path} with {auth:?}");
            assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        }
    }
    for headers in [vec![], vec![("authorization", "Bearer wrong")]] {
        assert_eq!(handshake_status(server.addr, &headers, "/sync").await, 401);
    }
    // The valid token works everywhere (logout last).
    assert_eq!(
        call(&server, "GET", "/api/sync/changes?since=0", Some(&bearer))
            .await
            .0,
        200
    );
    assert_eq!(
        call(&server, "POST", "/api/sync/batch", Some(&bearer))
            .await
            .0,
        200
    );
    assert_eq!(
        handshake_status(server.addr, &[("authorization", &bearer)], "/sync").await,
        101
    );
    assert_eq!(
        call(&server, "POST", "/api/auth/logout", Some(&bearer))
            .await
            .0,
        204
    );

    // Revoked: refused on every route and at the handshake.
    for (method, path) in SYNC_ROUTES {
        let (status, body) = call(&server, method, path, Some(&bearer)).await;
        assert_eq!(status, 401, "{method} {path} after logout");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    assert_eq!(
        handshake_status(server.addr, &[("authorization", &bearer)], "/sync").await,
        401
    );
}

#[tokio::test]
async fn a_token_in_the_url_is_refused_even_when_valid() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let bearer = format!("Bearer {}", ann.token);
    for key in ["token", "access_token"] {
        let path = format!("/api/sync/changes?since=0&{key}={}", ann.token);
        assert_eq!(call(&server, "GET", &path, None).await.0, 401);
        assert_eq!(
            call(&server, "GET", &path, Some(&bearer)).await.0,
            401,
            "even with a header"
        );
        let path = format!("/api/sync/batch?{key}={}", ann.token);
        assert_eq!(call(&server, "POST", &path, Some(&bearer)).await.0, 401);
        let ws_path = format!("/sync?{key}={}", ann.token);
        assert_eq!(handshake_status(server.addr, &[], &ws_path).await, 401);
        assert_eq!(
            handshake_status(server.addr, &[("authorization", &bearer)], &ws_path).await,
            401
        );
    }
}

#[tokio::test]
async fn register_login_logout() {
    let server = TestServer::start().await;
    let ann = server.register("  Ann@Example.com ").await;

    // Same email, differently spelled: taken.
    let response = server
        .http
        .post(server.url("/api/auth/register"))
        .json(&json!({"email": "ann@example.COM", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "email_taken");

    // Login gives a second, independent token for the same user.
    let response = server
        .http
        .post(server.url("/api/auth/login"))
        .json(&json!({"email": "ANN@example.com", "password": PASSWORD, "deviceName": "phone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["userId"], ann.id.as_str());
    let phone_token = body["token"].as_str().unwrap().to_owned();
    assert_ne!(phone_token, ann.token);
    assert_eq!(phone_token.len(), 64);

    // Wrong password and unknown email look the same.
    for (email, password) in [
        ("ann@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ] {
        let response = server
            .http
            .post(server.url("/api/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{email}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
        assert_eq!(body["error"]["message"], "wrong email or password");
    }

    // Logging out the laptop leaves the phone signed in.
    let response = server
        .http
        .post(server.url("/api/auth/logout"))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    server.changes(&phone_token, "since=0").await;
}

#[tokio::test]
async fn registration_input_is_validated() {
    let server = TestServer::start().await;
    let cases = [
        (json!({"email": "ann", "password": PASSWORD}), "email"),
        (
            json!({"email": "ann@example.com", "password": "short"}),
            "password",
        ),
        (json!({"email": "ann@example.com"}), "password"),
        (json!({"email": 5, "password": PASSWORD}), "email"),
    ];
    for (body, field) in cases {
        let response = server
            .http
            .post(server.url("/api/auth/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let reply: Value = response.json().await.unwrap();
        assert_eq!(reply["error"]["code"], "invalid");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{message} should name {field}");
    }
    let response = server
        .http
        .post(server.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let reply: Value = response.json().await.unwrap();
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );
}
