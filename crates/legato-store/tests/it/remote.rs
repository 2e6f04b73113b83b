//! Remote updates and catch-up pages.

use legato_protocol::{EntityId, EntityType, Fields, UpdateData, deflate_string};
use legato_store::{RemoteOutcome, Store, StoreError, SyncState};
use proptest::prelude::*;
use serde_json::{Value, json};

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

// A page of more than one update for a device with nothing unsettled takes the fast path for
// full updates (one upsert, no read). The tests below pin it to the same rules as the
// update-by-update path.

/// `(applied, ignored, needs_catch_up)` of a page.
fn page(store: &mut Store, updates: &[UpdateData]) -> (usize, usize, usize) {
    let outcome = store.apply_remote_batch(updates, None).unwrap();
    (outcome.applied, outcome.ignored, outcome.needs_catch_up)
}

/// The derived query columns of an entity row: (ts_ms, duration_min, search_text).
fn derived(store: &Store, id: &EntityId) -> (Option<i64>, Option<i64>, Option<String>) {
    store
        .connection()
        .query_row(
            "SELECT ts_ms, duration_min, search_text FROM entities WHERE entity_id = ?1",
            [id.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

#[test]
fn settled_pages_never_take_an_older_full_state_and_refresh_at_the_same_version() {
    let mut store = store();
    let (a, b) = (
        EntityId::new("fast-a").unwrap(),
        EntityId::new("fast-b").unwrap(),
    );
    let first = [
        update(&a, remote_entry("a v5"), 5, 1, true),
        update(&b, remote_entry("b v1"), 1, 2, true),
    ];
    assert_eq!(page(&mut store, &first), (2, 0, 0));
    assert_eq!(
        derived(&store, &a),
        (Some(1_764_057_600_000), Some(20), Some("a v5".to_owned()))
    );

    let second = [
        // Older: ignored, also within one page.
        update(&a, remote_entry("a v4"), 4, 3, true),
        // The same version and state: ignored.
        update(&b, remote_entry("b v1"), 1, 4, true),
    ];
    assert_eq!(page(&mut store, &second), (0, 2, 0));
    assert_eq!(state(&store, EntityType::Logbook, &a)["notes"], "a v5");

    let third = [
        // The same version with another state: the server's word wins.
        update(&a, remote_entry("a v5 as the server has it"), 5, 5, true),
        update(&b, remote_entry("b v2"), 2, 6, true),
        // Two updates of one entity in one page: the later one counts.
        update(&b, remote_entry("b v3"), 3, 7, true),
        update(&b, remote_entry("b v2 again"), 2, 8, true),
    ];
    assert_eq!(page(&mut store, &third), (3, 1, 0));
    assert_eq!(
        base(&store, EntityType::Logbook, &a),
        (
            Some(fields(remote_entry("a v5 as the server has it"))),
            5,
            false
        )
    );
    assert_eq!(
        derived(&store, &a).2.as_deref(),
        Some("a v5 as the server has it")
    );
    let b_now = store.get(EntityType::Logbook, &b).unwrap().unwrap();
    assert_eq!(
        (b_now.state["notes"].clone(), b_now.base_version, b_now.sync),
        (json!("b v3"), 3, SyncState::Synced)
    );
}

#[test]
fn settled_pages_bury_and_revive_entities() {
    let mut store = store();
    let (a, b) = (
        EntityId::new("tomb-a").unwrap(),
        EntityId::new("tomb-b").unwrap(),
    );
    let mut buried = update(&a, json!({}), 2, 2, true);
    buried.deleted = true;
    let first = [
        update(&a, remote_entry("alive"), 1, 1, true),
        buried.clone(),
        update(&b, remote_entry("b"), 1, 3, true),
    ];
    assert_eq!(page(&mut store, &first), (3, 0, 0));
    let local = store.get(EntityType::Logbook, &a).unwrap().unwrap();
    assert!(local.deleted);
    assert_eq!(
        base(&store, EntityType::Logbook, &a),
        (Some(Fields::new()), 2, true)
    );
    assert_eq!(
        derived(&store, &a),
        (None, None, None),
        "a tombstone is in no query"
    );
    assert_eq!(store.list(EntityType::Logbook).unwrap().len(), 1);
    assert!(store.search("alive").unwrap().is_empty());

    // The same tombstone again is known; the live state at the same version is not.
    let mut revived = update(&a, remote_entry("revived"), 2, 5, true);
    revived.deleted = false;
    assert_eq!(page(&mut store, &[buried, revived]), (1, 1, 0));
    let local = store.get(EntityType::Logbook, &a).unwrap().unwrap();
    assert!(!local.deleted);
    assert_eq!(store.search("revived").unwrap().len(), 1);
}

#[test]
fn local_edits_and_partial_updates_build_on_a_settled_page() {
    let mut store = store();
    let (a, b) = (
        EntityId::new("on-a").unwrap(),
        EntityId::new("on-b").unwrap(),
    );
    let first = [
        update(&a, remote_entry("a v1"), 1, 1, true),
        update(&b, remote_entry("b v1"), 1, 2, true),
    ];
    assert_eq!(page(&mut store, &first), (2, 0, 0));

    // Partial updates on top of the fast path's rows, in a settled page too: one follows,
    // one repeats, one leaves a gap.
    let partials = [
        update(&a, json!({"notes": "a v2"}), 2, 3, false),
        update(&b, json!({"notes": "b v1 again"}), 1, 4, false),
        update(&b, json!({"notes": "b v3"}), 3, 5, false),
    ];
    assert_eq!(page(&mut store, &partials), (1, 1, 1));
    assert_eq!(
        base(&store, EntityType::Logbook, &a),
        (
            Some(fields(json!({"timestamp": "2025-11-25T08:00:00.000Z",
                              "duration": 20, "notes": "a v2"}))),
            2,
            false
        )
    );
    assert_eq!(derived(&store, &a).2.as_deref(), Some("a v2"));
    assert_eq!(state(&store, EntityType::Logbook, &b)["notes"], "b v1");

    // A local edit on a row written by the fast path: queued on the right version, with the
    // base untouched.
    let change = store
        .patch(
            EntityType::Logbook,
            &a,
            fields(json!({"duration": 45})),
            NOW,
        )
        .unwrap()
        .unwrap();
    assert_eq!(outbox_item(&store, &change).change.base_version, 2);
    let local = store.get(EntityType::Logbook, &a).unwrap().unwrap();
    assert_eq!(
        (local.state["duration"].clone(), local.sync),
        (json!(45), SyncState::Pending)
    );
    assert_eq!(derived(&store, &a).1, Some(45));
    assert_eq!(
        base(&store, EntityType::Logbook, &a).0.unwrap()["duration"],
        20,
        "the base is still the server's"
    );

    // Something is unsettled now: the next page takes the overlaying path and keeps the
    // edit on top.
    let next = [
        update(&a, remote_entry("a v3"), 3, 6, true),
        update(&b, remote_entry("b v3"), 3, 7, true),
    ];
    assert_eq!(page(&mut store, &next), (2, 0, 0));
    let local = state(&store, EntityType::Logbook, &a);
    assert_eq!(
        (local["notes"].clone(), local["duration"].clone()),
        (json!("a v3"), json!(45))
    );
    assert_eq!(
        base(&store, EntityType::Logbook, &a).0.unwrap()["duration"],
        20
    );

    // Acknowledged: settled again, and the base is the acknowledged state.
    store.mark_in_flight(&[&change]).unwrap();
    assert!(
        store
            .apply_ack(&change, 4, &Fields::new())
            .unwrap()
            .is_acked()
    );
    let local = store.get(EntityType::Logbook, &a).unwrap().unwrap();
    assert_eq!((local.base_version, local.sync), (4, SyncState::Synced));
    assert_eq!(
        base(&store, EntityType::Logbook, &a).0.map(Value::Object),
        Some(Value::Object(local.state))
    );
}

#[test]
fn settled_pages_inflate_compressed_values() {
    let mut store = store();
    let notes = "legato ".repeat(300);
    let data = json!({"timestamp": "2025-11-25T08:00:00.000Z", "duration": 20,
                      "notes": {"$deflate": deflate_string(&notes)}});
    let (a, b) = (EntityId::new("z-a").unwrap(), EntityId::new("z-b").unwrap());
    let first = [
        update(&a, data.clone(), 1, 1, true),
        update(&b, remote_entry("plain"), 1, 2, true),
    ];
    assert_eq!(page(&mut store, &first), (2, 0, 0));
    assert_eq!(
        state(&store, EntityType::Logbook, &a)["notes"],
        notes.as_str()
    );
    assert_eq!(
        derived(&store, &a).2.as_deref(),
        Some(notes.to_lowercase().as_str())
    );
    // The inflated text is what is compared: the same compressed state again is known.
    assert_eq!(page(&mut store, &first), (0, 2, 0));
}

/// Every column of every entity row, in a stable order.
fn raw_rows(store: &Store) -> Vec<Vec<rusqlite::types::Value>> {
    let mut stmt = store
        .connection()
        .prepare(
            "SELECT entity_type, entity_id, state, deleted, base_state, base_is_state,
                    base_version, base_deleted, ts_ms, duration_min, search_text
             FROM entities ORDER BY entity_type, entity_id",
        )
        .unwrap();
    stmt.query_map([], |r| (0..11).map(|i| r.get(i)).collect())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn remote_update() -> impl Strategy<Value = UpdateData> {
    (0..2usize, 1..6u64, any::<bool>(), 0..8u8, 0..3u8).prop_map(
        |(slot, version, full, deleted, notes)| {
            let id = EntityId::new(format!("diff-{slot}")).unwrap();
            let data = match (full, notes) {
                (true, _) => json!({"timestamp": "2025-11-25T08:00:00.000Z",
                                    "duration": 10 + u64::from(notes), "notes": format!("n{notes}")}),
                (false, 0) => json!({"duration": 40}),
                (false, _) => json!({"notes": format!("p{notes}")}),
            };
            let mut update = update(&id, data, version, 0, full);
            update.deleted = deleted == 0;
            update
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Settled pages (the fast path for full updates) end in the same rows, column for
    /// column, and the same counts as the same updates applied one by one.
    #[test]
    fn settled_pages_match_updates_applied_one_by_one(
        updates in prop::collection::vec(remote_update(), 1..24),
        page_len in 2..5usize,
    ) {
        let (mut paged, mut single) = (store(), store());
        let mut counts = (0, 0, 0);
        for chunk in updates.chunks(page_len) {
            let (a, i, n) = page(&mut paged, chunk);
            counts = (counts.0 + a, counts.1 + i, counts.2 + n);
        }
        let mut expected = (0, 0, 0);
        for update in &updates {
            match single.apply_remote(update).unwrap() {
                RemoteOutcome::Applied => expected.0 += 1,
                RemoteOutcome::Ignored => expected.1 += 1,
                RemoteOutcome::NeedsCatchUp => expected.2 += 1,
            }
        }
        prop_assert_eq!(counts, expected);
        prop_assert_eq!(raw_rows(&paged), raw_rows(&single));
    }
}
