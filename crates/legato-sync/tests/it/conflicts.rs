//! Conflicting edits made offline on two devices, settled per the entity type's strategy.

use legato_protocol::EntityType;
use legato_store::SyncState;
use legato_sync::{Strategy, SyncEvent};
use serde_json::json;

use crate::support::*;

/// Two connected devices sharing one entry (synced to both), then both paused.
async fn shared_entry_offline(
    server: &TestServer,
    token: &str,
    a_strategy: Strategy,
) -> (Device, Device, legato_protocol::EntityId) {
    let a = Device::with(server, token, |c| {
        c.strategies.insert(EntityType::Logbook, a_strategy);
    })
    .await;
    let b = Device::connected(server, token).await;
    let id = a
        .create(
            EntityType::Logbook,
            json!({
                "timestamp": "2026-01-15T18:00:00.000Z",
                "duration": 30,
                "notes": "base",
                "tags": ["a", "b"],
                "mood": "neutral",
            }),
        )
        .await;
    a.sync.sync_now().await.unwrap();
    eventually("B has the entry", || async {
        b.get(EntityType::Logbook, &id).await.map(|_| ())
    })
    .await;
    a.sync.pause().await.unwrap();
    b.sync.pause().await.unwrap();
    (a, b, id)
}

/// B syncs its edits first; then A comes back and meets the conflict.
async fn b_first_then_a(a: &Device, b: &Device) {
    b.sync.resume().await.unwrap();
    b.sync.sync_now().await.unwrap();
    a.sync.resume().await.unwrap();
    a.sync.sync_now().await.unwrap();
    b.sync.sync_now().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_field_edits_merge_by_the_field_rules() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let (a, b, id) = shared_entry_offline(&server, &token, Strategy::Merge).await;
    a.patch(
        EntityType::Logbook,
        &id,
        json!({"notes": "mine", "duration": 45, "tags": ["a", "c"]}),
    )
    .await;
    b.patch(
        EntityType::Logbook,
        &id,
        json!({"notes": "theirs", "duration": 60, "tags": ["a", "b", "d"]}),
    )
    .await;
    b_first_then_a(&a, &b).await;

    let state = eventually("both devices agree on the merge", || async {
        let (on_a, on_b) = (
            a.get(EntityType::Logbook, &id).await.unwrap(),
            b.get(EntityType::Logbook, &id).await.unwrap(),
        );
        (on_a.state == on_b.state && on_a.base_version == on_b.base_version).then_some(on_b.state)
    })
    .await;
    assert_eq!(
        state["notes"],
        json!("mine\n\n---\n\ntheirs"),
        "notes: concatenated"
    );
    assert_eq!(state["duration"], json!(60), "duration: the larger");
    assert_eq!(
        state["tags"],
        json!(["a", "c", "d"]),
        "tags: three-way set merge"
    );
    assert_eq!(state["mood"], json!("neutral"));
    assert!(a.status().metrics.conflicts >= 1);
    assert_eq!(a.pending().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_strategy_waits_for_the_user_whose_decision_reaches_the_other_device() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let (mut a, b, id) = shared_entry_offline(&server, &token, Strategy::Manual).await;
    a.patch(EntityType::Logbook, &id, json!({"notes": "mine"}))
        .await;
    b.patch(EntityType::Logbook, &id, json!({"notes": "theirs"}))
        .await;
    b_first_then_a(&a, &b).await;

    let (conflict_id, entity_id) = a
        .next_event("conflict needs user", |e| match e {
            SyncEvent::ConflictNeedsUser {
                conflict_id,
                entity_id,
                ..
            } => Some((*conflict_id, entity_id.clone())),
            _ => None,
        })
        .await;
    assert_eq!(entity_id, id);
    let status = a.wait_status("one conflict", |s| s.conflicts == 1).await;
    assert_eq!(status.pending, 0);
    // The user's edit is still what A shows, marked as a conflict.
    let local = a.get(EntityType::Logbook, &id).await.unwrap();
    assert_eq!(local.state["notes"], json!("mine"));
    assert_eq!(local.sync, SyncState::Conflict);

    let mut decided = local.state.clone();
    decided.insert("notes".into(), json!("decided together"));
    a.sync
        .apply_user_decision(conflict_id, decided)
        .await
        .unwrap();
    a.sync.sync_now().await.unwrap();
    eventually("the decision on B", || async {
        (b.field(EntityType::Logbook, &id, "notes").await == json!("decided together"))
            .then_some(())
    })
    .await;
    assert_eq!(
        a.wait_status("no conflict", |s| s.conflicts == 0)
            .await
            .pending,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_of_an_entry_deleted_elsewhere_is_recreated_not_resurrected() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let (a, b, id) = shared_entry_offline(&server, &token, Strategy::Merge).await;
    a.patch(
        EntityType::Logbook,
        &id,
        json!({"notes": "keep this thought"}),
    )
    .await;
    b.delete(EntityType::Logbook, &id).await;
    b_first_then_a(&a, &b).await;

    // The deleted id stays deleted on both devices...
    let everything = eventually("both devices agree", || async {
        let (on_a, on_b) = (a.everything().await, b.everything().await);
        (on_a == on_b && on_a.len() == 1).then_some(on_a)
    })
    .await;
    for device in [&a, &b] {
        let old = device.get(EntityType::Logbook, &id).await;
        assert!(old.is_none_or(|e| e.deleted), "no resurrection");
    }
    // ...and the edit lives on under a new id.
    let (_, new_id, state) = &everything[0];
    assert_ne!(new_id, &id.to_string());
    assert_eq!(state["notes"], json!("keep this thought"));
    assert_eq!(state["duration"], json!(30));
}
