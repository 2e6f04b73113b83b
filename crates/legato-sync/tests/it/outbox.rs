//! The outbox: batching after being offline, throttling, refusals and dead letters, flush
//! on shutdown.

use std::time::Duration;

use legato_protocol::{EntityId, EntityType, ErrorCode, UpdateData};
use legato_sync::{ConnectionState, ProblemKind, SyncError, SyncEvent};
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_goes_through_batch_requests_of_50() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let a = Device::connected(&server, &token).await;
    let b = Device::connected(&server, &token).await;
    a.sync.pause().await.unwrap();
    for i in 0..200 {
        a.entry(&format!("offline session {i}")).await;
    }
    assert_eq!(a.pending().await, 200);
    let applies_before = server.metric("legato_apply_duration_seconds_count").await;

    a.sync.resume().await.unwrap();
    let report = a.sync.sync_now().await.unwrap();
    assert_eq!(report.pushed, 200, "{report:?}");
    assert_eq!(report.pending, 0);
    let applies = server.metric("legato_apply_duration_seconds_count").await - applies_before;
    assert_eq!(
        applies, 4.0,
        "200 changes in 4 batches of 50, none one by one"
    );
    assert_eq!(server.metric("legato_changes_applied_total").await, 200.0);

    eventually("all 200 on B", || async {
        (b.everything().await.len() == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_goals_wait_until_sync_now() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let a = Device::connected(&server, &token).await;
    let b = Device::connected(&server, &token).await;
    let goal = a
        .create(
            EntityType::Goals,
            json!({"title": "Learn the Ballade", "type": "repertoire"}),
        )
        .await;
    // The first goal change goes at once; the throttle holds the next ones for 30 s.
    eventually("the goal on B", || async {
        b.get(EntityType::Goals, &goal).await.map(|_| ())
    })
    .await;
    a.patch(
        EntityType::Goals,
        &goal,
        json!({"title": "Perform the Ballade"}),
    )
    .await;
    let entry = a.entry("logbook is never throttled").await;
    eventually("the entry on B", || async {
        b.get(EntityType::Logbook, &entry).await.map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        b.field(EntityType::Goals, &goal, "title").await,
        json!("Learn the Ballade")
    );
    assert_eq!(a.pending().await, 1, "the goal edit waits in the outbox");

    a.sync.sync_now().await.unwrap();
    eventually("the goal edit on B", || async {
        (b.field(EntityType::Goals, &goal, "title").await == json!("Perform the Ballade"))
            .then_some(())
    })
    .await;
}

/// A change the server must refuse as `invalid`: offline, B fills an entry up to the 50-tag
/// limit and A adds 5 other tags. Both edits touch `updatedAt`, so A's change conflicts;
/// the merge keeps what either side added (a set union of 55 tags) and pushes it, and the
/// server refuses more than 50 tags, every time.
async fn refused_change(server: &TestServer, token: &str) -> (Device, Device, EntityId) {
    let a = Device::connected(server, token).await;
    let b = Device::connected(server, token).await;
    let tags: Vec<String> = (0..45).map(|i| format!("t{i}")).collect();
    let id = a
        .create(
            EntityType::Logbook,
            json!({"timestamp": "2026-01-15T18:00:00.000Z", "duration": 30, "tags": tags}),
        )
        .await;
    a.sync.sync_now().await.unwrap();
    eventually("B has the entry", || async {
        b.get(EntityType::Logbook, &id).await.map(|_| ())
    })
    .await;
    a.sync.pause().await.unwrap();
    b.patch(
        EntityType::Logbook,
        &id,
        json!({"tags": {"$addToSet": ["b1", "b2", "b3", "b4", "b5"]}}),
    )
    .await;
    b.sync.sync_now().await.unwrap();
    a.patch(
        EntityType::Logbook,
        &id,
        json!({"tags": {"$addToSet": ["a1", "a2", "a3", "a4", "a5"]}}),
    )
    .await;
    a.sync.resume().await.unwrap();
    (a, b, id)
}

async fn wait_dead_letter(a: &mut Device, id: &EntityId, expected: ErrorCode) -> String {
    let (change_id, entity_id, code) = a
        .next_event("dead lettered", |e| match e {
            SyncEvent::DeadLettered {
                change_id,
                entity_id,
                code,
                ..
            } => Some((change_id.clone(), entity_id.clone(), *code)),
            _ => None,
        })
        .await;
    assert_eq!((&entity_id, code), (id, expected));
    change_id
}

async fn dead_letters(device: &Device) -> Vec<legato_store::DeadLetter> {
    device.store.call(|s| s.dead_letters()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_change_is_tried_three_times_then_dead_lettered() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let (mut a, _b, id) = refused_change(&server, &token).await;
    let change_id = wait_dead_letter(&mut a, &id, ErrorCode::Invalid).await;
    let letters = dead_letters(&a).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].attempts, 3);
    assert_eq!(letters[0].change.change_id, change_id);
    let status = a
        .wait_status("one dead letter", |s| s.dead_letters == 1)
        .await;
    assert_eq!(status.pending, 0);
    assert!(status.metrics.failed_syncs >= 3);
    assert!(
        status
            .last_error
            .as_ref()
            .is_some_and(|e| e.kind == ProblemKind::Refused && e.detail.contains("invalid"))
    );
    // Still shown locally: nothing the user did is lost.
    let tags = a.field(EntityType::Logbook, &id, "tags").await;
    assert!(tags.as_array().unwrap().contains(&json!("a1")));

    // A retry sends it again with fresh attempts; still refused, it comes back.
    a.sync.retry_dead_letter(&change_id).await.unwrap();
    assert_eq!(
        a.wait_status("back in the outbox", |s| s.dead_letters == 0)
            .await
            .pending,
        1
    );
    assert_eq!(
        wait_dead_letter(&mut a, &id, ErrorCode::Invalid).await,
        change_id
    );
    assert_eq!(dead_letters(&a).await[0].attempts, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_retried_after_the_cause_is_gone_goes_through() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let mut a = Device::connected(&server, &token).await;
    let b = Device::connected(&server, &token).await;
    // A believes the server has this entry (say the server was restored from an older
    // backup): its edit is refused `not_found`.
    let id = EntityId::new("restored-entry-1").unwrap();
    let known = UpdateData {
        entity_type: EntityType::Logbook,
        entity_id: id.clone(),
        data: fields(entry_state("from before the restore")),
        version: 1,
        deleted: false,
        seq: 0,
        timestamp: now_ms(),
        user_id: "user".into(),
        client_id: "old-device".into(),
        change_id: "old-change".into(),
        full: true,
    };
    a.store.call(move |s| s.apply_remote(&known)).await.unwrap();
    a.patch(EntityType::Logbook, &id, json!({"notes": "edited"}))
        .await;
    let change_id = wait_dead_letter(&mut a, &id, ErrorCode::NotFound).await;

    // The entry comes back on the server; the user retries.
    let restored = (id.clone(), fields(entry_state("restored")));
    b.store
        .call(move |s| s.create_with_id(EntityType::Logbook, restored.0, restored.1, now_ms()))
        .await
        .unwrap();
    b.sync.notify_local_change();
    b.sync.sync_now().await.unwrap();
    a.sync.retry_dead_letter(&change_id).await.unwrap();
    let report = a.sync.sync_now().await.unwrap();
    assert_eq!((report.dead_letters, report.pending), (0, 0), "{report:?}");
    eventually("A's edit on B", || async {
        (b.field(EntityType::Logbook, &id, "notes").await == json!("edited")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_can_be_discarded() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let (mut a, b, id) = refused_change(&server, &token).await;
    let change_id = wait_dead_letter(&mut a, &id, ErrorCode::Invalid).await;
    a.sync.discard_dead_letter(&change_id).await.unwrap();
    a.wait_status("no dead letter", |s| s.dead_letters == 0)
        .await;
    let on_a = a.get(EntityType::Logbook, &id).await.unwrap();
    let on_b = b.get(EntityType::Logbook, &id).await.unwrap();
    assert_eq!(on_a.state, on_b.state, "A shows the server's state again");
    assert_eq!(on_a.state["tags"].as_array().unwrap().len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_throttled_changes_and_stops() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let a = Device::with(&server, &token, |c| {
        c.plan.coalesce = Duration::from_secs(60);
    })
    .await;
    let b = Device::connected(&server, &token).await;
    a.entry("first").await;
    let held = a.entry("held by the coalescing window").await;
    a.sync.shutdown(true).await;
    assert_eq!(a.pending().await, 0);
    assert!(matches!(a.sync.sync_now().await, Err(SyncError::Stopped)));
    assert_eq!(a.status().connection, ConnectionState::Offline);
    eventually("the held entry on B", || async {
        b.get(EntityType::Logbook, &held).await.map(|_| ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_or_refused_credentials_mean_signed_out_until_a_good_token_is_set() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let mut config = test_config(&server.url(), "wrong-token");
    config.token = None;
    let device = Device::new(config).await;
    assert!(matches!(
        device.sync.sync_now().await,
        Err(SyncError::SignedOut)
    ));
    let id = device.entry("written while signed out").await;

    device
        .sync
        .set_token(Some("not-a-valid-token".into()))
        .await
        .unwrap();
    let status = device
        .wait_status("refused", |s| {
            s.connection == ConnectionState::SignedOut && s.last_error.is_some()
        })
        .await;
    let problem = status.last_error.unwrap();
    assert_eq!(problem.kind, ProblemKind::Unauthorized);
    assert!(!problem.detail.contains("not-a-valid-token"));
    assert!(matches!(
        device.sync.sync_now().await,
        Err(SyncError::Unauthorized)
    ));

    device.sync.set_token(Some(token.clone())).await.unwrap();
    device.sync.sync_now().await.unwrap();
    let other = Device::connected(&server, &token).await;
    assert!(other.get(EntityType::Logbook, &id).await.is_some());
}
