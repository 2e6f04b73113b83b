//! The base a conflict is merged against is the one the change was made on, not a base a
//! live update moved to the server's state in the meantime (else the other device's edit
//! looks "unchanged" and is silently lost).

use legato_core::Strategy;
use legato_protocol::{ConflictData, EntityId, EntityType, Fields};
use legato_store::{ConflictOutcome, Store};
use serde_json::{Value, json};

use crate::support::*;

/// An entry synced at version 1 with this device's notes edit pending (not yet sent).
fn pending_notes_edit(store: &mut Store) -> (EntityId, String, Fields) {
    let id = synced_entry(store, "base notes");
    let base = store.get(EntityType::Logbook, &id).unwrap().unwrap().state;
    let change = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "my notes"})),
            NOW + MINUTE,
        )
        .unwrap()
        .unwrap();
    (id, change, base)
}

/// Another device's edit, applied here as a live update at `version`.
fn remote_edit(store: &mut Store, id: &EntityId, data: Value, version: u64) {
    let outcome = store
        .apply_remote_batch(&[update(id, data, version, version, false)], Some(version))
        .unwrap();
    assert_eq!(outcome.applied, 1);
}

/// Sends the pending change and builds the server's `conflict` answer with `remote`.
fn send_and_conflict(
    store: &mut Store,
    id: &EntityId,
    change: &str,
    remote: Fields,
    remote_version: u64,
    conflicting: &[&str],
) -> ConflictData {
    let item = outbox_item(store, change);
    store.mark_in_flight(&[change]).unwrap();
    ConflictData {
        change_id: change.to_owned(),
        entity_type: EntityType::Logbook,
        entity_id: id.clone(),
        base_version: item.change.base_version,
        remote_version,
        remote_deleted: false,
        local: item.change.data,
        remote,
        fields: conflicting.iter().map(|f| (*f).to_owned()).collect(),
    }
}

/// A change in flight, another device's notes applied meanwhile, then a later local edit of
/// the notes and the duration (made without seeing theirs in the local view, where ours
/// overlay them); the server's `conflict` answer on the notes.
fn conflict_with_a_later_edit(store: &mut Store) -> (EntityId, ConflictData) {
    let (id, first, base) = pending_notes_edit(store);
    let theirs = json!({"notes": "their notes", "updatedAt": "2025-11-25T18:30:30.000Z"});
    store.mark_in_flight(&[&first]).unwrap();
    remote_edit(store, &id, theirs.clone(), 2);
    let later = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "my notes, more", "duration": 35})),
            NOW + 2 * MINUTE,
        )
        .unwrap()
        .unwrap();
    assert_eq!(outbox_item(store, &later).change.base_version, 2);
    let conflict = ConflictData {
        change_id: first.clone(),
        entity_type: EntityType::Logbook,
        entity_id: id.clone(),
        base_version: 1,
        remote_version: 2,
        remote_deleted: false,
        local: outbox_item(store, &first).change.data,
        remote: with(base, theirs),
        fields: vec!["notes".into(), "updatedAt".into()],
    };
    (id, conflict)
}

fn with(mut state: Fields, data: Value) -> Fields {
    state.extend(fields(data));
    state
}

#[test]
fn a_remote_edit_applied_while_the_change_waited_is_not_lost_in_the_merge() {
    let mut store = store();
    let (id, change, base) = pending_notes_edit(&mut store);
    // The other device changed the notes too; its update arrives before ours is sent.
    let theirs = json!({"notes": "their notes", "updatedAt": "2025-11-25T18:30:30.000Z"});
    remote_edit(&mut store, &id, theirs.clone(), 2);
    let conflict = send_and_conflict(
        &mut store,
        &id,
        &change,
        with(base, theirs),
        2,
        &["notes", "updatedAt"],
    );
    assert_eq!(conflict.base_version, 1, "the change was made on version 1");
    let outcome = store
        .settle_conflict(&conflict, Strategy::Merge, NOW + 2 * MINUTE)
        .unwrap();
    let ConflictOutcome::Pushed { change_id } = outcome else {
        panic!("{outcome:?}")
    };
    let merged = "my notes\n\n---\n\ntheir notes";
    assert_eq!(outbox_item(&store, &change_id).change.data["notes"], merged);
    assert_eq!(state(&store, EntityType::Logbook, &id)["notes"], merged);
}

#[test]
fn local_edit_of_a_and_remote_edit_of_b_are_both_kept() {
    let mut store = store();
    let (id, change, base) = pending_notes_edit(&mut store);
    // Field B: the instrument, set to "piano" by another device (applied here), then to
    // "violin" (not received yet) before our change reached the server.
    remote_edit(
        &mut store,
        &id,
        json!({"instrument": "piano", "updatedAt": "2025-11-25T18:29:00.000Z"}),
        2,
    );
    let remote = with(
        base,
        json!({"instrument": "violin", "updatedAt": "2025-11-25T18:29:30.000Z"}),
    );
    let conflict = send_and_conflict(&mut store, &id, &change, remote, 3, &["updatedAt"]);
    let outcome = store
        .settle_conflict(&conflict, Strategy::Merge, NOW + 2 * MINUTE)
        .unwrap();
    let ConflictOutcome::Pushed { change_id } = outcome else {
        panic!("{outcome:?}")
    };
    let data = outbox_item(&store, &change_id).change.data;
    assert_eq!(data["notes"], "my notes");
    assert!(
        !data.contains_key("instrument"),
        "this device never touched the instrument: {data:?}"
    );
    let local = state(&store, EntityType::Logbook, &id);
    assert_eq!(
        (local["notes"].clone(), local["instrument"].clone()),
        (json!("my notes"), json!("violin"))
    );
}

#[test]
fn the_remote_and_local_strategies_are_unchanged_by_a_moved_base() {
    let mut store = store();
    let (id, change, base) = pending_notes_edit(&mut store);
    let theirs = json!({"notes": "their notes", "updatedAt": "2025-11-25T18:30:30.000Z"});
    remote_edit(&mut store, &id, theirs.clone(), 2);
    let conflict = send_and_conflict(
        &mut store,
        &id,
        &change,
        with(base, theirs),
        2,
        &["notes", "updatedAt"],
    );
    let outcome = store
        .settle_conflict(&conflict, Strategy::Local, NOW + 2 * MINUTE)
        .unwrap();
    let ConflictOutcome::Pushed { change_id } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        outbox_item(&store, &change_id).change.data["notes"],
        "my notes"
    );
}

#[test]
fn a_stored_conflict_keeps_the_base_the_change_was_made_on() {
    let mut store = store();
    let (id, change, base) = pending_notes_edit(&mut store);
    let theirs = json!({"notes": "their notes", "updatedAt": "2025-11-25T18:30:30.000Z"});
    remote_edit(&mut store, &id, theirs.clone(), 2);
    // Further edits fold into the unsent change and keep its base.
    store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"duration": 35})),
            NOW + MINUTE,
        )
        .unwrap();
    let conflict = send_and_conflict(
        &mut store,
        &id,
        &change,
        with(base.clone(), theirs),
        2,
        &["notes", "updatedAt"],
    );
    let ConflictOutcome::Stored { .. } = store.store_conflict(&conflict, NOW).unwrap() else {
        panic!()
    };
    let stored = store.conflicts().unwrap().remove(0);
    assert_eq!(stored.base.as_ref(), Some(&base));
    assert_eq!(stored.base.as_ref().unwrap()["notes"], "base notes");
    // `merge` on the stored conflict with that base joins both notes.
    let merged = legato_core::merge_three_way(
        stored.base.as_ref().unwrap(),
        &store.get(EntityType::Logbook, &id).unwrap().unwrap().state,
        &stored.conflict.remote,
        stored.local_timestamp,
        legato_core::write_time_ms(&stored.conflict.remote).unwrap(),
    );
    assert_eq!(merged["notes"], "my notes\n\n---\n\ntheir notes");
    assert_eq!(merged["duration"], 35);
}

#[test]
fn an_ack_moves_the_base_of_the_later_changes_it_rebases() {
    let mut store = store();
    let (id, first, _) = pending_notes_edit(&mut store);
    store.mark_in_flight(&[&first]).unwrap();
    let second = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"duration": 35})),
            NOW + 2 * MINUTE,
        )
        .unwrap()
        .unwrap();
    store.apply_ack(&first, 2, &Fields::new()).unwrap();
    assert_eq!(outbox_item(&store, &second).change.base_version, 2);
    // Someone else then changes the notes: our second change conflicts on `updatedAt` only,
    // and the merge must not see our own acknowledged notes as a change of ours.
    let theirs = json!({"notes": "their notes", "updatedAt": "2025-11-25T18:40:00.000Z"});
    let acked = store.get(EntityType::Logbook, &id).unwrap().unwrap().state;
    let mut acked_base = acked.clone();
    acked_base.insert("duration".into(), json!(30));
    let conflict = send_and_conflict(
        &mut store,
        &id,
        &second,
        with(acked_base, theirs),
        3,
        &["updatedAt"],
    );
    let outcome = store
        .settle_conflict(&conflict, Strategy::Merge, NOW + 3 * MINUTE)
        .unwrap();
    let ConflictOutcome::Pushed { change_id } = outcome else {
        panic!("{outcome:?}")
    };
    let data = outbox_item(&store, &change_id).change.data;
    assert_eq!(data["duration"], 35);
    assert!(!data.contains_key("notes"), "{data:?}");
}

/// A database at schema version 2 with an acknowledged entry and a pending notes edit, as
/// the previous release left it.
fn version_2_database(path: &std::path::Path) -> EntityId {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    legato_store::configure_connection(&conn, &legato_store::StoreOptions::default()).unwrap();
    legato_store::MIGRATIONS.to_version(&mut conn, 2).unwrap();
    let base = json!({
        "timestamp": "2025-11-25T18:00:00.000Z", "duration": 30, "type": "practice",
        "notes": "base notes", "updatedAt": "2025-11-25T18:30:00.000Z",
    });
    let mut local = base.clone();
    local["notes"] = json!("my notes");
    local["updatedAt"] = json!("2025-11-25T18:31:00.000Z");
    conn.execute(
        "INSERT INTO entities (entity_type, entity_id, state, base_state, base_version)
         VALUES ('logbook', 'e-old', ?1, ?2, 1)",
        [local.to_string(), base.to_string()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO outbox (change_id, entity_type, entity_id, operation, data, base_version,
                             timestamp, client_id)
         VALUES ('c-old', 'logbook', 'e-old', 'update', ?1, 1, ?2, 'dev-old')",
        rusqlite::params![
            json!({"notes": "my notes", "updatedAt": "2025-11-25T18:31:00.000Z"}).to_string(),
            NOW + MINUTE
        ],
    )
    .unwrap();
    EntityId::new("e-old").unwrap()
}

#[test]
fn rows_queued_before_the_migration_fall_back_to_the_entity_base() {
    for strategy in [Strategy::Merge, Strategy::Manual] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("legato.db");
        let id = version_2_database(&path);
        let mut store = Store::open(&path).unwrap();
        let base_state: Option<String> = store
            .connection()
            .query_row(
                "SELECT base_state FROM outbox WHERE change_id = 'c-old'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(base_state, None, "unknown for an old row");
        let theirs = json!({"duration": 50, "updatedAt": "2025-11-25T18:30:30.000Z"});
        remote_edit(&mut store, &id, theirs.clone(), 2);
        let remote = with(
            store.get(EntityType::Logbook, &id).unwrap().unwrap().state,
            json!({"notes": "base notes", "updatedAt": "2025-11-25T18:30:30.000Z"}),
        );
        let conflict = send_and_conflict(&mut store, &id, "c-old", remote, 2, &["updatedAt"]);
        let outcome = match strategy {
            Strategy::Manual => store.store_conflict(&conflict, NOW).unwrap(),
            other => store.settle_conflict(&conflict, other, NOW).unwrap(),
        };
        match outcome {
            ConflictOutcome::Pushed { change_id } => {
                let data = outbox_item(&store, &change_id).change.data;
                assert_eq!(data["notes"], "my notes");
                assert!(!data.contains_key("duration"), "{data:?}");
            }
            ConflictOutcome::Stored { .. } => {
                assert_eq!(store.conflicts().unwrap()[0].base, None);
            }
            other => panic!("{other:?}"),
        }
        let local = state(&store, EntityType::Logbook, &id);
        assert_eq!(
            (local["notes"].clone(), local["duration"].clone()),
            (json!("my notes"), json!(50))
        );
        // New edits made after the migration carry their base.
        store
            .patch(
                EntityType::Logbook,
                &id,
                fields(json!({"mood": "excited"})),
                NOW + 5 * MINUTE,
            )
            .unwrap();
        let with_base: i64 = store
            .connection()
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE base_state IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(with_base >= 1);
    }
}

#[test]
fn a_remotely_deleted_entity_is_recreated_with_the_whole_local_state() {
    let mut store = store();
    let (id, change, base) = pending_notes_edit(&mut store);
    remote_edit(
        &mut store,
        &id,
        json!({"duration": 50, "updatedAt": "2025-11-25T18:30:30.000Z"}),
        2,
    );
    let mut conflict = send_and_conflict(
        &mut store,
        &id,
        &change,
        with(base, json!({"duration": 50})),
        3,
        &["notes"],
    );
    conflict.remote_deleted = true;
    let outcome = store
        .settle_conflict(&conflict, Strategy::Merge, NOW + 2 * MINUTE)
        .unwrap();
    let ConflictOutcome::Recreated { entity_id, .. } = outcome else {
        panic!("{outcome:?}")
    };
    let copy = state(&store, EntityType::Logbook, &entity_id);
    assert_eq!(
        (copy["notes"].clone(), copy["duration"].clone()),
        (json!("my notes"), json!(50))
    );
}

/// The merge carries the later edit too; sent after the merge it would overwrite the joined
/// notes with its own, so it is folded into the resolution.
#[test]
fn later_unsent_edits_fold_into_a_merged_resolution() {
    let mut store = store();
    let (id, conflict) = conflict_with_a_later_edit(&mut store);
    let outcome = store
        .settle_conflict(&conflict, Strategy::Merge, NOW + 3 * MINUTE)
        .unwrap();
    let ConflictOutcome::Pushed { change_id } = outcome else {
        panic!("{outcome:?}")
    };
    let queued: Vec<_> = outbox(&store)
        .into_iter()
        .map(|i| i.change.change_id)
        .collect();
    assert_eq!(
        queued,
        std::slice::from_ref(&change_id),
        "the later edit is in the resolution"
    );
    let data = outbox_item(&store, &change_id).change.data;
    let joined = "my notes, more\n\n---\n\ntheir notes";
    assert_eq!(
        (data["notes"].clone(), data["duration"].clone()),
        (json!(joined), json!(35))
    );
    assert_eq!(state(&store, EntityType::Logbook, &id)["notes"], joined);
}

/// An ack that arrives after a catch-up already moved the base past its version rebases the
/// later changes' version, but not their base state onto that newer state (its edits would
/// look unchanged in a merge).
#[test]
fn an_ack_behind_the_base_keeps_the_older_base_state() {
    let mut store = store();
    let (id, first, _) = pending_notes_edit(&mut store);
    store.mark_in_flight(&[&first]).unwrap();
    let second = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"duration": 35})),
            NOW + 2 * MINUTE,
        )
        .unwrap()
        .unwrap();
    let mut newer = store.get(EntityType::Logbook, &id).unwrap().unwrap().state;
    newer.insert("notes".into(), json!("their notes"));
    store
        .apply_remote_batch(&[update(&id, Value::Object(newer), 3, 3, true)], Some(3))
        .unwrap();
    store.apply_ack(&first, 2, &Fields::new()).unwrap();
    assert_eq!(outbox_item(&store, &second).change.base_version, 2);
    let base_state: String = store
        .connection()
        .query_row(
            "SELECT base_state FROM outbox WHERE change_id = ?1",
            [&second],
            |r| r.get(0),
        )
        .unwrap();
    let base_state: Value = serde_json::from_str(&base_state).unwrap();
    assert_eq!(base_state["notes"], "base notes");
}

/// The same history under `manual`: the dialog shows the local state, later unsent edit
/// included, and the user takes their notes. The later edit must not be sent after the
/// decision and put back the notes the user turned down.
#[test]
fn later_unsent_edits_do_not_undo_a_manual_decision() {
    let mut store = store();
    let (id, conflict) = conflict_with_a_later_edit(&mut store);
    let ConflictOutcome::Stored { conflict_id } = store.store_conflict(&conflict, NOW).unwrap()
    else {
        panic!("not stored")
    };
    // Mine, as the dialog shows it: the later edit is part of it.
    let mine = state(&store, EntityType::Logbook, &id);
    assert_eq!(
        (mine["notes"].clone(), mine["duration"].clone()),
        (json!("my notes, more"), json!(35))
    );
    let mut decided = mine.as_object().unwrap().clone();
    decided.insert("notes".into(), json!("their notes"));
    let ConflictOutcome::Pushed { change_id } = store
        .apply_user_decision(conflict_id, decided, NOW + 3 * MINUTE)
        .unwrap()
    else {
        panic!("nothing pushed")
    };
    // The later edit keeps its duration and loses the decided notes.
    let queued = outbox(&store);
    assert_eq!(queued[0].change.change_id, change_id);
    assert!(
        queued.iter().all(|i| !i.change.data.contains_key("notes")),
        "{queued:?}"
    );
    assert!(
        queued
            .iter()
            .any(|i| i.change.data.get("duration") == Some(&json!(35)))
    );
    let now = state(&store, EntityType::Logbook, &id);
    assert_eq!(
        (now["notes"].clone(), now["duration"].clone()),
        (json!("their notes"), json!(35))
    );
}
