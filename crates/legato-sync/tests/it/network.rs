//! Failures of the network and the server: a stopped server, a half-open connection.

use std::time::Duration;

use legato_protocol::EntityType;
use legato_sync::{ConnectionState, SyncError, SyncEvent};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_wait_while_the_server_is_down_and_sync_when_it_is_back() {
    let mut server = TestServer::start().await;
    let token = server.register().await;
    let mut a = Device::connected(&server, &token).await;
    let b = Device::connected(&server, &token).await;

    server.stop().await;
    a.next_event("disconnected", |e| {
        matches!(e, SyncEvent::Disconnected { .. }).then_some(())
    })
    .await;
    let status = a
        .wait_status("offline", |s| s.connection != ConnectionState::Connected)
        .await;
    assert!(status.last_error.is_some());
    let id = a.entry("practised on the train").await;
    let status = a.wait_status("one pending", |s| s.pending == 1).await;
    assert_ne!(status.connection, ConnectionState::Connected);
    assert!(matches!(
        a.sync.sync_now().await,
        Err(SyncError::Offline(_))
    ));
    // Reconnect attempts keep going, with backoff (never "give up").
    a.wait_status("a retry scheduled", |s| s.next_retry_at.is_some())
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(a.pending().await, 1, "nothing dropped while offline");

    server.restart().await;
    eventually("the entry on B after the restart", || async {
        b.get(EntityType::Logbook, &id).await.map(|_| ())
    })
    .await;
    a.wait_status("A synced", |s| {
        s.connection == ConnectionState::Connected && s.pending == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_connection_is_detected_and_replaced() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let proxy = Proxy::start(server.addr).await;
    let mut config = test_config(&proxy.url(), &token);
    config.heartbeat = Duration::from_millis(200);
    config.pong_timeout = Duration::from_millis(600);
    config.connect_timeout = Duration::from_millis(600);
    let mut a = Device::new(config).await;
    a.sync.sync_now().await.unwrap();
    let b = Device::connected(&server, &token).await;

    proxy.freeze(true);
    let id = a.entry("sent into the void").await;
    let reason = a
        .next_event("disconnected", |e| match e {
            SyncEvent::Disconnected { reason } => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert!(
        reason.contains("half-open") || reason.contains("timed out"),
        "{reason}"
    );
    assert_eq!(
        a.pending().await,
        1,
        "the change is pending again, not lost"
    );

    proxy.freeze(false);
    eventually("the entry on B through the thawed proxy", || async {
        b.get(EntityType::Logbook, &id).await.map(|_| ())
    })
    .await;
    a.wait_status("A synced", |s| {
        s.connection == ConnectionState::Connected && s.pending == 0
    })
    .await;
}
