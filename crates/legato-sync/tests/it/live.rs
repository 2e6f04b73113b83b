//! Live sync between connected devices, offline convergence, read-your-writes, compression.

use std::time::{Duration, Instant};

use legato_protocol::EntityType;
use legato_sync::{ConnectionState, SyncEvent};
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_reaches_the_other_device_live_and_advances_its_cursor() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let a = Device::connected(&server, &token).await;
    let mut b = Device::connected(&server, &token).await;
    let cursor_before = b.cursor().await;

    let started = Instant::now();
    let id = a.entry("long tones").await;
    // Read-your-writes: the edit is there at once, before any network round trip.
    assert_eq!(
        a.field(EntityType::Logbook, &id, "notes").await,
        json!("long tones")
    );

    let changed = b
        .next_event("entities changed", |e| match e {
            SyncEvent::EntitiesChanged { entity_type, ids } => Some((*entity_type, ids.clone())),
            _ => None,
        })
        .await;
    let latency = started.elapsed();
    assert_eq!(changed, (EntityType::Logbook, vec![id.clone()]));
    assert_eq!(
        b.field(EntityType::Logbook, &id, "notes").await,
        json!("long tones")
    );
    assert!(b.cursor().await > cursor_before, "B's cursor advanced");
    assert!(
        latency < Duration::from_secs(2),
        "live edit took {latency:?}"
    );

    // A's own change left its outbox on the ack and the status says so.
    let status = a.wait_status("A synced", |s| s.pending == 0).await;
    // The server never echoes A's own change; A's cursor steps over its seq all the same.
    eventually("A's cursor over its own change", || async {
        (a.cursor().await == b.cursor().await).then_some(())
    })
    .await;
    assert_eq!(status.connection, ConnectionState::Connected);
    assert!(status.metrics.successful_syncs >= 1);
    assert!(status.metrics.last_sync_time.is_some());
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["connection"], "connected");
    assert!(json["metrics"]["totalSyncs"].is_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_edits_on_both_devices_converge_after_reconnecting() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let a = Device::connected(&server, &token).await;
    let b = Device::connected(&server, &token).await;
    let shared = a.entry("shared").await;
    a.sync.sync_now().await.unwrap();
    eventually("B has the shared entry", || async {
        b.get(EntityType::Logbook, &shared).await.map(|_| ())
    })
    .await;

    a.sync.pause().await.unwrap();
    b.sync.pause().await.unwrap();
    assert_eq!(a.status().connection, ConnectionState::Paused);
    for i in 0..3 {
        a.entry(&format!("a offline {i}")).await;
    }
    for i in 0..2 {
        b.entry(&format!("b offline {i}")).await;
    }
    b.create(EntityType::Goals, json!({"title": "Practise daily", "type": "practice_time", "targetMinutes": 30, "period": "day"}))
        .await;
    // Different fields of the same entry on each device.
    a.patch(EntityType::Logbook, &shared, json!({"mood": "satisfied"}))
        .await;
    b.patch(EntityType::Logbook, &shared, json!({"duration": 50}))
        .await;
    assert_eq!(a.pending().await, 4);

    a.sync.resume().await.unwrap();
    b.sync.resume().await.unwrap();
    a.sync.sync_now().await.unwrap();
    b.sync.sync_now().await.unwrap();
    a.sync.sync_now().await.unwrap();

    let on_a = eventually("identical state", || async {
        let (on_a, on_b) = (a.everything().await, b.everything().await);
        (on_a == on_b && on_a.len() == 7).then_some(on_a)
    })
    .await;
    let shared_state = &on_a
        .iter()
        .find(|(_, id, _)| *id == shared.to_string())
        .unwrap()
        .2;
    assert_eq!(shared_state["mood"], json!("satisfied"));
    assert_eq!(shared_state["duration"], json!(50));
    assert_eq!((a.pending().await, b.pending().await), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_notes_travel_compressed_and_arrive_intact() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let a = Device::connected(&server, &token).await;
    let b = Device::connected(&server, &token).await;
    let notes: String = (0..400)
        .map(|i| format!("bar {i}: slow, then up to tempo. "))
        .collect();
    assert!(notes.chars().count() > 5_000);
    let id = a.entry(&notes).await;
    let arrived = eventually("the long notes on B", || async {
        match b.field(EntityType::Logbook, &id, "notes").await {
            serde_json::Value::String(text) => Some(text),
            _ => None,
        }
    })
    .await;
    assert_eq!(arrived, notes);
    // An edit of the long text also goes through (as a partial update).
    let edited = format!("{notes} And once more.");
    a.patch(EntityType::Logbook, &id, json!({"notes": edited}))
        .await;
    eventually("the edited notes on B", || async {
        (b.field(EntityType::Logbook, &id, "notes").await == json!(edited)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_was_away_catches_up_from_its_cursor() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let a = Device::connected(&server, &token).await;
    let mut b = Device::connected(&server, &token).await;
    b.sync.pause().await.unwrap();
    let cursor_before = b.cursor().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(a.entry(&format!("while B was away {i}")).await);
    }
    a.sync.sync_now().await.unwrap();
    // Only the catch-up's events from here on.
    while b.events.try_recv().is_ok() {}
    b.sync.resume().await.unwrap();
    let report = b.sync.sync_now().await.unwrap();
    assert!(report.pulled >= 20, "{report:?}");
    for id in &ids {
        assert!(b.get(EntityType::Logbook, id).await.is_some());
    }
    assert!(b.cursor().await >= cursor_before + 20);
    assert_eq!(b.status().server_seq, Some(b.cursor().await));

    // Every caught-up entry was announced (from the store thread as its page committed),
    // and all of it before the catch-up's `SyncComplete`.
    let mut announced = std::collections::HashSet::new();
    let mut complete_at = None;
    let mut events = 0;
    while let Ok(event) = b.events.try_recv() {
        events += 1;
        match event {
            SyncEvent::EntitiesChanged {
                entity_type: EntityType::Logbook,
                ids,
            } => announced.extend(ids),
            SyncEvent::SyncComplete { .. } if complete_at.is_none() => {
                complete_at = Some(announced.len());
            }
            _ => {}
        }
    }
    assert!(events > 0);
    for id in &ids {
        assert!(announced.contains(id), "{id} was never announced");
    }
    assert_eq!(
        complete_at,
        Some(announced.len()),
        "SyncComplete came before some EntitiesChanged"
    );
}
