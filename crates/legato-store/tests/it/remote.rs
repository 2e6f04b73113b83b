//! Remote updates and catch-up pages.

use legato_protocol::{EntityId, EntityType, deflate_string};
use legato_store::{RemoteOutcome, Store, StoreError, SyncState};
use serde_json::json;

use crate::support::*;

fn remote_entry(notes: &str) -> serde_json::Value {
    json!({"timestamp": "2025-11-25T08:00:00.000Z", "duration": 20, "notes": notes})
}

#[test]
fn a_full_update_creates_or_replaces_the_base() {
    let mut store = store();
    let id = EntityId::new("remote-1").unwrap();
    let outcome = store
        .apply_remote(&update(&id, remote_entry("from phone"), 3, 10, true))
        .unwrap();
    assert_eq!(outcome, RemoteOutcome::Applied);
    let local = store.get(EntityType::Logbook, &id).unwrap().unwrap();
    assert_eq!(
        serde_json::Value::Object(local.state),
        remote_entry("from phone")
    );
    assert_eq!((local.base_version, local.sync), (3, SyncState::Synced));
    assert_eq!(
        store.pending_count().unwrap(),
        0,
        "remote changes are never queued"
    );
}

#[test]
fn partial_updates_apply_only_on_the_previous_version() {
    let mut store = store();
    let id = EntityId::new("remote-2").unwrap();
    store
        .apply_remote(&update(&id, remote_entry("v3"), 3, 10, true))
        .unwrap();
    let next = update(&id, json!({"notes": "v4"}), 4, 11, false);
    assert_eq!(store.apply_remote(&next).unwrap(), RemoteOutcome::Applied);
    assert_eq!(state(&store, EntityType::Logbook, &id)["notes"], "v4");
    assert_eq!(state(&store, EntityType::Logbook, &id)["duration"], 20);

    assert_eq!(
        store.apply_remote(&next).unwrap(),
        RemoteOutcome::Ignored,
        "repeat"
    );
    let old = update(&id, json!({"notes": "v2"}), 2, 9, false);
    assert_eq!(store.apply_remote(&old).unwrap(), RemoteOutcome::Ignored);
    let gap = update(&id, json!({"notes": "v6"}), 6, 13, false);
    assert_eq!(
        store.apply_remote(&gap).unwrap(),
        RemoteOutcome::NeedsCatchUp
    );
    let local = store.get(EntityType::Logbook, &id).unwrap().unwrap();
    assert_eq!(
        (local.state["notes"].clone(), local.base_version),
        (json!("v4"), 4)
    );

    let unknown = EntityId::new("never-seen").unwrap();
    let partial = update(&unknown, json!({"notes": "x"}), 5, 14, false);
    assert_eq!(
        store.apply_remote(&partial).unwrap(),
        RemoteOutcome::NeedsCatchUp
    );
    assert!(store.get(EntityType::Logbook, &unknown).unwrap().is_none());
}

#[test]
fn full_updates_never_go_back_and_refresh_at_the_same_version() {
    let mut store = store();
    let id = EntityId::new("remote-3").unwrap();
    store
        .apply_remote(&update(&id, remote_entry("v5"), 5, 10, true))
        .unwrap();
    let older = update(&id, remote_entry("v4"), 4, 9, true);
    assert_eq!(store.apply_remote(&older).unwrap(), RemoteOutcome::Ignored);
    let same = update(&id, remote_entry("v5"), 5, 10, true);
    assert_eq!(store.apply_remote(&same).unwrap(), RemoteOutcome::Ignored);
    let repaired = update(&id, remote_entry("v5 as the server has it"), 5, 10, true);
    assert_eq!(
        store.apply_remote(&repaired).unwrap(),
        RemoteOutcome::Applied
    );
    assert_eq!(
        state(&store, EntityType::Logbook, &id)["notes"],
        "v5 as the server has it"
    );
}

#[test]
fn pending_edits_survive_remote_updates() {
    let mut store = store();
    let id = synced_entry(&mut store, "mine");
    let change = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"duration": 45})),
            NOW,
        )
        .unwrap()
        .unwrap();
    let remote = update(&id, json!({"notes": "theirs"}), 2, 20, false);
    assert_eq!(store.apply_remote(&remote).unwrap(), RemoteOutcome::Applied);
    let local = store.get(EntityType::Logbook, &id).unwrap().unwrap();
    assert_eq!(
        (
            local.state["notes"].clone(),
            local.state["duration"].clone()
        ),
        (json!("theirs"), json!(45))
    );
    assert_eq!((local.base_version, local.sync), (2, SyncState::Pending));
    let (base_state, _, _) = base(&store, EntityType::Logbook, &id);
    assert_eq!(
        base_state.unwrap()["duration"],
        30,
        "the base is the server's"
    );
    let item = outbox_item(&store, &change);
    assert_eq!(
        item.change.base_version, 1,
        "the edit was made on version 1"
    );
}

#[test]
fn a_remote_delete_hides_the_entity() {
    let mut store = store();
    let id = synced_entry(&mut store, "soon gone");
    let mut delete = update(&id, json!({}), 2, 21, false);
    delete.deleted = true;
    assert_eq!(store.apply_remote(&delete).unwrap(), RemoteOutcome::Applied);
    let local = store.get(EntityType::Logbook, &id).unwrap().unwrap();
    assert!(local.deleted);
    assert!(store.list(EntityType::Logbook).unwrap().is_empty());
}

#[test]
fn compressed_remote_values_are_inflated() {
    let mut store = store();
    let id = EntityId::new("long-notes").unwrap();
    let notes = "legato ".repeat(300);
    let data = json!({"timestamp": "2025-11-25T08:00:00.000Z", "duration": 20,
                      "notes": {"$deflate": deflate_string(&notes)}});
    store.apply_remote(&update(&id, data, 1, 1, true)).unwrap();
    assert_eq!(
        state(&store, EntityType::Logbook, &id)["notes"],
        notes.as_str()
    );
}

#[test]
fn the_cursor_advances_only_with_the_batch_it_covers() {
    let mut store = store();
    let page: Vec<_> = (1..=3)
        .map(|n| {
            update(
                &EntityId::new(format!("e{n}")).unwrap(),
                remote_entry("p1"),
                1,
                n,
                true,
            )
        })
        .collect();
    let outcome = store.apply_remote_batch(&page, Some(3)).unwrap();
    assert_eq!((outcome.applied, outcome.cursor), (3, 3));
    assert_eq!(store.cursor().unwrap(), 3);

    // A page that fails half-way writes nothing, and the cursor stays.
    let bad = vec![
        update(
            &EntityId::new("e4").unwrap(),
            remote_entry("ok"),
            1,
            4,
            true,
        ),
        update(
            &EntityId::new("e5").unwrap(),
            json!({"notes": {"$deflate": "***"}}),
            1,
            5,
            true,
        ),
    ];
    assert!(matches!(
        store.apply_remote_batch(&bad, Some(5)),
        Err(StoreError::Validation(_))
    ));
    assert_eq!(store.cursor().unwrap(), 3);
    assert!(
        store
            .get(EntityType::Logbook, &EntityId::new("e4").unwrap())
            .unwrap()
            .is_none()
    );

    // A gap stops the cursor before the update that could not be applied.
    let gappy = vec![
        update(
            &EntityId::new("e1").unwrap(),
            json!({"notes": "e1 v2"}),
            2,
            6,
            false,
        ),
        update(
            &EntityId::new("e2").unwrap(),
            json!({"notes": "e2 v3"}),
            3,
            7,
            false,
        ),
        update(
            &EntityId::new("e3").unwrap(),
            json!({"notes": "e3 v2"}),
            2,
            8,
            false,
        ),
    ];
    let outcome = store.apply_remote_batch(&gappy, Some(8)).unwrap();
    assert_eq!(
        (outcome.applied, outcome.needs_catch_up, outcome.cursor),
        (2, 1, 6)
    );

    // The cursor never moves back, and only moves as far as the caller vouches for.
    let outcome = store.apply_remote_batch(&[], Some(2)).unwrap();
    assert_eq!(outcome.cursor, 6);
    let live = update(
        &EntityId::new("e1").unwrap(),
        json!({"notes": "e1 v3"}),
        3,
        9,
        false,
    );
    let outcome = store.apply_remote_batch(&[live], None).unwrap();
    assert_eq!((outcome.applied, outcome.cursor), (1, 6));
}

#[test]
fn a_catch_up_page_of_a_thousand_is_one_transaction() {
    let mut store = store();
    let page: Vec<_> = (1..=1000)
        .map(|n| {
            update(
                &EntityId::new(format!("bulk-{n}")).unwrap(),
                remote_entry("bulk"),
                1,
                n,
                true,
            )
        })
        .collect();
    let outcome = store.apply_remote_batch(&page, Some(1000)).unwrap();
    assert_eq!((outcome.applied, outcome.cursor), (1000, 1000));
    assert_eq!(store.list(EntityType::Logbook).unwrap().len(), 1000);
}

fn synchronous(store: &Store) -> i64 {
    store
        .connection()
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn pages_commit_without_an_fsync_and_keep_local_edits_on_top() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("store.db")).unwrap();
    assert_eq!(synchronous(&store), 2, "FULL");
    // Nothing pending anywhere: the page takes the path without per-entity overlay queries.
    let ids: Vec<EntityId> = (0..3)
        .map(|i| EntityId::new(format!("page-{i}")).unwrap())
        .collect();
    let page: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| update(id, remote_entry(&format!("n{i}")), 1, i as u64 + 1, true))
        .collect();
    let outcome = store.apply_remote_batch(&page, Some(3)).unwrap();
    assert_eq!((outcome.applied, outcome.cursor), (3, 3));
    for (i, id) in ids.iter().enumerate() {
        let local = store.get(EntityType::Logbook, id).unwrap().unwrap();
        assert_eq!(
            serde_json::Value::Object(local.state),
            remote_entry(&format!("n{i}"))
        );
        assert_eq!((local.base_version, local.sync), (1, SyncState::Synced));
    }
    // The relaxed commit did not leak into the connection: local edits stay durable.
    assert_eq!(synchronous(&store), 2, "FULL again after the page");

    // A pending local edit: the next page re-overlays it.
    store
        .patch(
            EntityType::Logbook,
            &ids[0],
            fields(json!({"duration": 45})),
            NOW,
        )
        .unwrap()
        .unwrap();
    let page = [
        update(&ids[0], remote_entry("n0 v2"), 2, 4, true),
        update(&ids[1], remote_entry("n1 v2"), 2, 5, true),
    ];
    let outcome = store.apply_remote_batch(&page, Some(5)).unwrap();
    assert_eq!((outcome.applied, outcome.cursor), (2, 5));
    let local = state(&store, EntityType::Logbook, &ids[0]);
    assert_eq!(
        (local["notes"].clone(), local["duration"].clone()),
        (json!("n0 v2"), json!(45))
    );
    assert_eq!(
        state(&store, EntityType::Logbook, &ids[1])["notes"],
        json!("n1 v2")
    );
    assert_eq!(synchronous(&store), 2);
    drop(store);
    // Everything is there after reopening.
    let store = Store::open(dir.path().join("store.db")).unwrap();
    assert_eq!(store.cursor().unwrap(), 5);
}
