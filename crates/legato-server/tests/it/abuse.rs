//! Abuse limits on the password endpoints (issue 11): failed logins lock the account for
//! longer and longer before any password is checked; registration can be closed.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{PASSWORD, TestServer};

async fn login(server: &TestServer, email: &str, password: &str) -> (u16, Option<String>, Value) {
    let response = server
        .http
        .post(server.url("/api/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

#[tokio::test]
async fn failed_logins_lock_the_account_for_longer_and_longer() {
    let server = TestServer::start().await;
    server.register("ann@example.com").await;
    server.register("bob@example.com").await;
    // Five free failures, then a sixth that locks the account for 1 s.
    for _ in 0..6 {
        let (status, _, _) = login(&server, "ann@example.com", "wrong password").await;
        assert_eq!(status, 401);
    }
    // Locked: even the right password is not checked now.
    let (status, retry_after, body) = login(&server, "ann@example.com", PASSWORD).await;
    assert_eq!(
        (
            status,
            retry_after.as_deref(),
            body["error"]["code"].as_str()
        ),
        (429, Some("1"), Some("rate_limited")),
        "{body:?}"
    );
    // Another account is not affected, nor is an unknown one any different.
    assert_eq!(login(&server, "bob@example.com", PASSWORD).await.0, 200);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    // One more failure doubles the lock to 2 s.
    assert_eq!(
        login(&server, "ann@example.com", "wrong again").await.0,
        401
    );
    let (status, retry_after, _) = login(&server, "ann@example.com", PASSWORD).await;
    assert_eq!((status, retry_after.as_deref()), (429, Some("2")));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(login(&server, "ann@example.com", PASSWORD).await.0, 200);
    // A success forgets the failures: the next wrong password is a plain 401 again, and
    // the right one after it works at once.
    assert_eq!(login(&server, "ann@example.com", "wrong").await.0, 401);
    assert_eq!(login(&server, "ann@example.com", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn closed_registration_refuses_new_accounts() {
    let server = TestServer::start_with(|s| s.open_registration = false).await;
    let response = server
        .http
        .post(server.url("/api/auth/register"))
        .json(&json!({"email": "eve@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("closed"),
        "{body:?}"
    );
    assert_eq!(login(&server, "eve@example.com", PASSWORD).await.0, 401);
}
