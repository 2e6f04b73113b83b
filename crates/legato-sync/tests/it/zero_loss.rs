//! The loss paths found in review (issue 10), each reproduced through real devices against a
//! real server: increments and set operations that must add up, deletes under each
//! strategy, and a device restored from a copy of another's data dir.

use legato_protocol::{EntityId, EntityType};
use legato_sync::{ProblemKind, Strategy, SyncEvent};
use serde_json::{Value, json};

use crate::support::*;

/// Two connected devices sharing one entity (synced to both), then both paused. A settles
/// its conflicts with `a_strategy` for every entity type.
async fn shared_offline(
    server: &TestServer,
    token: &str,
    a_strategy: Strategy,
    entity_type: EntityType,
    state: Value,
) -> (Device, Device, EntityId) {
    let a = Device::with(server, token, |c| {
        for t in EntityType::ALL {
            c.strategies.insert(t, a_strategy);
        }
    })
    .await;
    let b = Device::connected(server, token).await;
    let id = a.create(entity_type, state).await;
    a.sync.sync_now().await.unwrap();
    eventually("B has the entity", || async {
        b.get(entity_type, &id).await.map(|_| ())
    })
    .await;
    a.sync.pause().await.unwrap();
    b.sync.pause().await.unwrap();
    (a, b, id)
}

/// B syncs first, then A, then both again.
async fn b_first_then_a(a: &Device, b: &Device) {
    b.sync.resume().await.unwrap();
    b.sync.sync_now().await.unwrap();
    a.sync.resume().await.unwrap();
    a.sync.sync_now().await.unwrap();
    b.sync.sync_now().await.unwrap();
    a.sync.sync_now().await.unwrap();
}

/// Waits until both devices show the same value of `field`, and returns it.
async fn agreed(
    a: &Device,
    b: &Device,
    entity_type: EntityType,
    id: &EntityId,
    field: &str,
) -> Value {
    eventually("both devices agree", || async {
        let (on_a, on_b) = (
            a.field(entity_type, id, field).await,
            b.field(entity_type, id, field).await,
        );
        (on_a == on_b && a.pending().await == 0 && b.pending().await == 0).then_some(on_a)
    })
    .await
}

fn goal() -> Value {
    json!({"title": "Scales daily", "type": "practice_time", "progress": 0, "tags": ["base"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_add_up_under_every_strategy() {
    let server = TestServer::start().await;
    let token = server.register().await;
    for strategy in [Strategy::Merge, Strategy::Local, Strategy::Remote] {
        let (a, b, id) = shared_offline(&server, &token, strategy, EntityType::Goals, goal()).await;
        a.patch(EntityType::Goals, &id, json!({"progress": {"$inc": 10}}))
            .await;
        b.patch(EntityType::Goals, &id, json!({"progress": {"$inc": 5}}))
            .await;
        b_first_then_a(&a, &b).await;
        let progress = agreed(&a, &b, EntityType::Goals, &id, "progress").await;
        assert_eq!(progress, json!(15), "{strategy:?}: 10 + 5");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_set_operations_keep_both_sides() {
    let server = TestServer::start().await;
    let token = server.register().await;
    for strategy in [Strategy::Merge, Strategy::Local, Strategy::Remote] {
        let (a, b, id) = shared_offline(&server, &token, strategy, EntityType::Goals, goal()).await;
        a.patch(
            EntityType::Goals,
            &id,
            json!({"tags": {"$addToSet": ["mine"]}}),
        )
        .await;
        b.patch(
            EntityType::Goals,
            &id,
            json!({"tags": {"$addToSet": ["theirs"]}, "progress": {"$inc": 2}}),
        )
        .await;
        b_first_then_a(&a, &b).await;
        let tags = agreed(&a, &b, EntityType::Goals, &id, "tags").await;
        let mut tags: Vec<String> = serde_json::from_value(tags).unwrap();
        tags.sort();
        assert_eq!(tags, ["base", "mine", "theirs"], "{strategy:?}");

        // A pull on one side and an addition on the other.
        a.sync.pause().await.unwrap();
        b.sync.pause().await.unwrap();
        a.patch(EntityType::Goals, &id, json!({"tags": {"$pull": ["base"]}}))
            .await;
        b.patch(
            EntityType::Goals,
            &id,
            json!({"tags": {"$addToSet": ["late"]}}),
        )
        .await;
        b_first_then_a(&a, &b).await;
        let tags = agreed(&a, &b, EntityType::Goals, &id, "tags").await;
        let mut tags: Vec<String> = serde_json::from_value(tags).unwrap();
        tags.sort();
        assert_eq!(tags, ["late", "mine", "theirs"], "{strategy:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_mine_keeps_my_delete_against_an_edit() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let (a, b, id) = shared_offline(
        &server,
        &token,
        Strategy::Local,
        EntityType::Logbook,
        entry_state("base"),
    )
    .await;
    b.patch(EntityType::Logbook, &id, json!({"notes": "theirs"}))
        .await;
    a.delete(EntityType::Logbook, &id).await;
    b_first_then_a(&a, &b).await;
    eventually("the entry is deleted on both devices", || async {
        let gone_a = a
            .get(EntityType::Logbook, &id)
            .await
            .is_none_or(|e| e.deleted);
        let gone_b = b
            .get(EntityType::Logbook, &id)
            .await
            .is_none_or(|e| e.deleted);
        (gone_a && gone_b && a.pending().await == 0).then_some(())
    })
    .await;
    assert!(a.everything().await.is_empty());
    assert!(b.everything().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_keeps_an_entry_deleted_against_an_edit_and_says_so() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let (mut a, b, id) = shared_offline(
        &server,
        &token,
        Strategy::Merge,
        EntityType::Logbook,
        entry_state("base"),
    )
    .await;
    b.patch(EntityType::Logbook, &id, json!({"notes": "theirs"}))
        .await;
    a.delete(EntityType::Logbook, &id).await;
    b_first_then_a(&a, &b).await;
    let kept = a
        .next_event("the user is told the delete was overruled", |e| match e {
            SyncEvent::DeleteOverruled { entity_id, .. } => Some(entity_id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(kept, id);
    let notes = agreed(&a, &b, EntityType::Logbook, &id, "notes").await;
    assert_eq!(notes, json!("theirs"), "the other device's edit stands");
    assert!(!a.get(EntityType::Logbook, &id).await.unwrap().deleted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_lets_the_edit_win_over_my_delete() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let (a, b, id) = shared_offline(
        &server,
        &token,
        Strategy::Remote,
        EntityType::Logbook,
        entry_state("base"),
    )
    .await;
    b.patch(EntityType::Logbook, &id, json!({"notes": "theirs"}))
        .await;
    a.delete(EntityType::Logbook, &id).await;
    b_first_then_a(&a, &b).await;
    let notes = agreed(&a, &b, EntityType::Logbook, &id, "notes").await;
    assert_eq!(notes, json!("theirs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_strategy_merges_edits_of_different_fields_without_asking() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let (a, b, id) = shared_offline(
        &server,
        &token,
        Strategy::Manual,
        EntityType::Logbook,
        entry_state("base"),
    )
    .await;
    a.patch(EntityType::Logbook, &id, json!({"notes": "mine"}))
        .await;
    b.patch(EntityType::Logbook, &id, json!({"duration": 55}))
        .await;
    b_first_then_a(&a, &b).await;
    assert_eq!(
        agreed(&a, &b, EntityType::Logbook, &id, "notes").await,
        json!("mine")
    );
    assert_eq!(
        agreed(&a, &b, EntityType::Logbook, &id, "duration").await,
        json!(55)
    );
    assert_eq!(a.status().conflicts, 0, "nothing for the user to decide");
}

/// Device A's data dir is copied to A2 (a backup restored on a new machine). A watches; A2
/// adds an entry; a third device C adds one; every device ends with all three entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_restored_from_a_copy_misses_nothing() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let a = Device::connected(&server, &token).await;
    a.entry("before the copy").await;
    a.sync.sync_now().await.unwrap();
    // An edit the copy also carries, not yet sent when the copy is taken.
    a.sync.pause().await.unwrap();
    let pending = a.entry("pending at the copy").await;
    let dir = a.close().await;
    let copy = tempfile::tempdir().unwrap();
    for name in ["device.db", "device.db-wal", "device.db-shm"] {
        let from = dir.path().join(name);
        if from.exists() {
            std::fs::copy(&from, copy.path().join(name)).unwrap();
        }
    }
    let a = Device::in_dir(dir, test_config(&server.url(), &token)).await;
    a.sync.sync_now().await.unwrap();
    let a2 = Device::in_dir(copy, test_config(&server.url(), &token)).await;
    // The copy edits the entry that was pending at the copy: its own edit, not A's.
    a2.patch(EntityType::Logbook, &pending, json!({"duration": 77}))
        .await;
    a2.entry("made on the copy").await;
    a2.sync.sync_now().await.unwrap();
    let c = Device::connected(&server, &token).await;
    c.entry("made on C").await;
    c.sync.sync_now().await.unwrap();
    a.sync.sync_now().await.unwrap();
    a2.sync.sync_now().await.unwrap();

    let everything = eventually("every device has all entries", || async {
        let (on_a, on_a2, on_c) = (
            a.everything().await,
            a2.everything().await,
            c.everything().await,
        );
        (on_a.len() == 4 && on_a == on_a2 && on_a == on_c).then_some(on_a)
    })
    .await;
    let notes: Vec<&Value> = everything.iter().map(|(_, _, s)| &s["notes"]).collect();
    for expected in [
        "before the copy",
        "pending at the copy",
        "made on the copy",
        "made on C",
    ] {
        assert!(
            notes.contains(&&json!(expected)),
            "{expected} missing: {notes:?}"
        );
    }
    assert_eq!(
        a.field(EntityType::Logbook, &pending, "duration").await,
        json!(77)
    );
    let client_ids = [
        a.store
            .call(|s| Ok(s.client_id().to_owned()))
            .await
            .unwrap(),
        a2.store
            .call(|s| Ok(s.client_id().to_owned()))
            .await
            .unwrap(),
    ];
    assert_ne!(
        client_ids[0], client_ids[1],
        "the copy took a client id of its own"
    );
}

/// Two devices under one client id (a copy the store could not recognise): the server never
/// sends one the other's changes live. The next live update shows a gap in the seqs, and the
/// device catches up instead of stepping its cursor over the change it never got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_update_after_a_gap_catches_up_instead_of_stepping_over_it() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let a = Device::connected(&server, &token).await;
    let a_id = a
        .store
        .call(|s| Ok(s.client_id().to_owned()))
        .await
        .unwrap();
    let twin_dir = tempfile::tempdir().unwrap();
    {
        let store = legato_store::Store::open(twin_dir.path().join("device.db")).unwrap();
        store
            .connection()
            .execute(
                "UPDATE meta SET value = ?1 WHERE key = 'client_id'",
                [&a_id],
            )
            .unwrap();
    }
    let twin = Device::in_dir(twin_dir, test_config(&server.url(), &token)).await;
    twin.sync.sync_now().await.unwrap();
    assert_eq!(
        twin.store
            .call(|s| Ok(s.client_id().to_owned()))
            .await
            .unwrap(),
        a_id
    );
    let unseen = twin.entry("from the twin").await;
    twin.sync.sync_now().await.unwrap();
    let c = Device::connected(&server, &token).await;
    c.entry("from C").await;
    c.sync.sync_now().await.unwrap();
    eventually("A has the twin's entry too", || async {
        a.get(EntityType::Logbook, &unseen).await.map(|_| ())
    })
    .await;
    assert_eq!(a.everything().await.len(), 2);
}

/// An entry deleted on one device while two others edit it: both keep their edit by
/// re-creating it, under the same successor id, so it exists once, not twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_keeping_an_entry_deleted_elsewhere_recreate_it_once() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let (a, b, id) = shared_offline(
        &server,
        &token,
        Strategy::Merge,
        EntityType::Logbook,
        entry_state("base"),
    )
    .await;
    let c = Device::connected(&server, &token).await;
    eventually("C has the entry", || async {
        c.get(EntityType::Logbook, &id).await.map(|_| ())
    })
    .await;
    c.delete(EntityType::Logbook, &id).await;
    c.sync.sync_now().await.unwrap();
    a.patch(EntityType::Logbook, &id, json!({"notes": "from A"}))
        .await;
    b.patch(EntityType::Logbook, &id, json!({"duration": 75}))
        .await;
    b_first_then_a(&a, &b).await;
    c.sync.sync_now().await.unwrap();
    let everything = eventually("all three agree", || async {
        let (on_a, on_b, on_c) = (
            a.everything().await,
            b.everything().await,
            c.everything().await,
        );
        (on_a == on_b && on_a == on_c && a.pending().await == 0 && b.pending().await == 0)
            .then_some(on_a)
    })
    .await;
    assert_eq!(everything.len(), 1, "{everything:?}");
    let state = &everything[0].2;
    assert_eq!(state["notes"], json!("from A"));
    assert_eq!(state["duration"], json!(75));
}

/// Caps B's database a few pages above its size (SQLite's `max_page_count`: the same
/// `SQLITE_FULL` path as a full disk) and returns the old cap.
async fn fill_disk(device: &Device, spare_pages: i64) {
    device
        .store
        .call(move |store| {
            let conn = store.connection();
            let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            conn.execute_batch(&format!("PRAGMA max_page_count = {}", pages + spare_pages))?;
            Ok(())
        })
        .await
        .unwrap();
}

async fn free_disk(device: &Device) {
    device
        .store
        .call(|store| {
            store
                .connection()
                .execute_batch("PRAGMA max_page_count = 1073741823")?;
            Ok(())
        })
        .await
        .unwrap();
}

/// A device whose disk fills up while other devices' entries arrive: the sync stops with a
/// clear, retryable error, the cursor never passes what was stored, the database stays
/// sound, local edits fail cleanly instead of half-saving, and once space returns the
/// device catches up with every entry, and its own queued entry goes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_sync_cleanly_and_it_resumes_when_space_returns() {
    let server = TestServer::start().await;
    let token = server.register().await;
    let a = Device::connected(&server, &token).await;
    let b = Device::connected(&server, &token).await;
    let mine = b.entry("queued on B before the disk filled").await;
    b.sync.pause().await.unwrap();
    fill_disk(&b, 2).await;

    let notes = "scales in thirds, ".repeat(250);
    let mut sent = Vec::new();
    for n in 0..40 {
        sent.push(a.entry(&format!("{n}: {notes}")).await);
    }
    a.sync.sync_now().await.unwrap();

    b.sync.resume().await.unwrap();
    let err = b.sync.sync_now().await.expect_err("B's disk is full");
    assert!(err.is_retryable(), "{err:?}");
    let status = b
        .wait_status("the full disk shown", |s| {
            s.last_error.as_ref().is_some_and(|e| {
                e.kind == ProblemKind::Storage && e.detail.contains("disk is full")
            })
        })
        .await;
    let stored = b.everything().await.len();
    assert!(stored < 41, "the cap never hit: {stored} entries stored");
    let head = a.cursor().await;
    assert!(status.cursor < head, "{status:?}, A at {head}");
    assert_eq!(b.cursor().await, status.cursor);
    let edit = b
        .store
        .call(|store| {
            store.create(
                EntityType::Logbook,
                fields(entry_state(&"x".repeat(9000))),
                now_ms(),
            )
        })
        .await;
    assert!(
        matches!(edit, Err(legato_store::StoreError::DiskFull)),
        "{edit:?}"
    );
    let check = b.store.call(|store| store.integrity_check()).await.unwrap();
    assert_eq!(check, "ok");

    free_disk(&b).await;
    b.sync.sync_now().await.unwrap();
    let on_b = eventually("B caught up", || async {
        let all = b.everything().await;
        (all.len() == 41 && b.pending().await == 0).then_some(all)
    })
    .await;
    for id in sent.iter().chain([&mine]) {
        assert!(
            on_b.iter().any(|(_, e, _)| e == id.as_str()),
            "{id} missing on B"
        );
    }
    eventually("A has B's entry", || async {
        a.get(EntityType::Logbook, &mine).await.map(|_| ())
    })
    .await;
    assert_eq!(b.cursor().await, a.cursor().await);
    let check = b.store.call(|store| store.integrity_check()).await.unwrap();
    assert_eq!(check, "ok");
}

/// An account over its storage quota: the server answers `quota_exceeded`, the entry stays
/// on the device and queued (never a dead letter), and the status says why it waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_over_the_quota_waits_queued_and_the_status_says_why() {
    let server = TestServer::start_with(|s| s.user_quota_bytes = Some(10_000)).await;
    let token = server.register().await;
    let device = Device::connected(&server, &token).await;
    let id = device.entry(&"long practice notes ".repeat(700)).await;
    let status = device
        .wait_status("the quota refusal shown", |s| {
            s.pending_refusal
                .as_ref()
                .is_some_and(|r| r.code == legato_protocol::ErrorCode::QuotaExceeded)
        })
        .await;
    assert_eq!((status.pending, status.dead_letters), (1, 0), "{status:?}");
    assert!(device.get(EntityType::Logbook, &id).await.is_some());
}
