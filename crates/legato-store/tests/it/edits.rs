//! User edits: validation, the same-transaction outbox, no-op edits, coalescing.

use legato_core::model::PieceStatus;
use legato_core::{LogbookEntry, RepertoireItem};
use legato_protocol::{EntityId, EntityType, Fields, Operation};
use legato_store::{StoreError, SyncState};
use serde_json::json;

use crate::support::*;

#[test]
fn create_writes_the_entity_and_its_outbox_change_together() {
    let mut store = store();
    let edit = store
        .create(
            EntityType::Logbook,
            entry("2025-11-25T18:00:00.000Z", 30, "scales"),
            NOW,
        )
        .unwrap();
    let local = store
        .get(EntityType::Logbook, &edit.entity_id)
        .unwrap()
        .unwrap();
    assert_eq!(local.state["notes"], "scales");
    assert_eq!(local.state["createdAt"], "2025-11-25T18:30:00.000Z");
    assert_eq!(local.state["updatedAt"], "2025-11-25T18:30:00.000Z");
    assert_eq!(
        (local.base_version, local.deleted, local.sync),
        (0, false, SyncState::Pending)
    );

    let pending = store.next_pending(10, NOW).unwrap();
    assert_eq!(pending.len(), 1);
    let change = &pending[0].change;
    assert_eq!(change.change_id, edit.change_id);
    assert_eq!(change.operation, Operation::Create);
    assert_eq!(change.data, local.state);
    assert_eq!((change.base_version, change.timestamp), (0, NOW));
    assert_eq!(change.client_id, store.client_id());
    let version = uuid::Uuid::parse_str(&edit.change_id)
        .unwrap()
        .get_version_num();
    assert_eq!(version, 7);
}

#[test]
fn a_failing_outbox_write_leaves_no_entity_behind() {
    let mut store = store();
    store
        .connection()
        .execute_batch(
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON outbox
             BEGIN SELECT RAISE(ABORT, 'outbox refused'); END;",
        )
        .unwrap();
    let err = store
        .create(
            EntityType::Logbook,
            entry("2025-11-25T18:00:00.000Z", 30, "lost?"),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlite(_)), "{err:?}");
    assert!(store.list(EntityType::Logbook).unwrap().is_empty());

    store
        .connection()
        .execute_batch("DROP TRIGGER refuse")
        .unwrap();
    let (id, _) = create_entry(&mut store, "kept");
    store
        .connection()
        .execute_batch(
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON outbox
             BEGIN SELECT RAISE(ABORT, 'outbox refused'); END;",
        )
        .unwrap();
    store
        .mark_in_flight(&[&outbox(&store)[0].change.change_id])
        .unwrap();
    let edited = fields(json!({"notes": "edited"}));
    assert!(
        store
            .patch(EntityType::Logbook, &id, edited, NOW + 1)
            .is_err()
    );
    assert_eq!(
        state(&store, EntityType::Logbook, &id)["notes"],
        "kept",
        "entity write rolled back"
    );
}

#[test]
fn invalid_states_are_refused_naming_the_field() {
    let mut store = store();
    let mut missing = entry("2025-11-25T18:00:00.000Z", 30, "x");
    missing.remove("duration");
    match store.create(EntityType::Logbook, missing, NOW) {
        Err(StoreError::Validation(err)) => assert_eq!(err.field, "duration"),
        other => panic!("expected a validation error, got {other:?}"),
    }
    let (id, _) = create_entry(&mut store, "ok");
    let mut bad = store.get(EntityType::Logbook, &id).unwrap().unwrap().state;
    bad.insert("duration".into(), json!(5000));
    match store.update(EntityType::Logbook, &id, bad, NOW) {
        Err(StoreError::Validation(err)) => assert_eq!(err.field, "duration"),
        other => panic!("expected a validation error, got {other:?}"),
    }
    assert_eq!(store.pending_count().unwrap(), 1);
    assert_eq!(state(&store, EntityType::Logbook, &id)["duration"], 30);
}

#[test]
fn an_edit_that_changes_nothing_queues_nothing() {
    let mut store = store();
    let id = synced_entry(&mut store, "same");
    let current = store.get(EntityType::Logbook, &id).unwrap().unwrap().state;
    assert_eq!(
        store
            .update(EntityType::Logbook, &id, current.clone(), NOW + 1)
            .unwrap(),
        None
    );
    let patch = fields(json!({"notes": "same", "tags": {"$pull": ["absent"]}}));
    assert_eq!(
        store
            .patch(EntityType::Logbook, &id, patch, NOW + 1)
            .unwrap(),
        None
    );
    assert_eq!(store.pending_count().unwrap(), 0);
    assert_eq!(
        store.get(EntityType::Logbook, &id).unwrap().unwrap().state,
        current
    );
}

#[test]
fn an_update_carries_only_the_changed_fields_on_the_base_version() {
    let mut store = store();
    let id = synced_entry(&mut store, "before");
    let mut edited = store.get(EntityType::Logbook, &id).unwrap().unwrap().state;
    edited.insert("notes".into(), json!("after"));
    edited.remove("type");
    let change_id = store
        .update(EntityType::Logbook, &id, edited, NOW + MINUTE)
        .unwrap()
        .unwrap();
    let item = outbox_item(&store, &change_id);
    assert_eq!(item.change.operation, Operation::Update);
    assert_eq!(item.change.base_version, 1);
    assert_eq!(
        serde_json::Value::Object(item.change.data),
        json!({"notes": "after", "type": null, "updatedAt": "2025-11-25T18:31:00.000Z"})
    );
    let local = state(&store, EntityType::Logbook, &id);
    assert_eq!(
        (local["notes"].clone(), local["type"].clone()),
        (json!("after"), json!(null))
    );
}

#[test]
fn create_then_update_folds_into_the_create() {
    let mut store = store();
    let (id, create_id) = create_entry(&mut store, "first");
    let patch = fields(json!({"notes": "second", "duration": 45}));
    let folded = store
        .patch(EntityType::Logbook, &id, patch, NOW + 1)
        .unwrap();
    assert_eq!(folded.as_deref(), Some(create_id.as_str()));
    let rows = outbox(&store);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].change.operation, Operation::Create);
    assert_eq!(
        rows[0].change.data,
        store.get(EntityType::Logbook, &id).unwrap().unwrap().state
    );
    assert_eq!(rows[0].change.data["duration"], 45);
    assert_eq!(rows[0].change.timestamp, NOW + 1);
}

#[test]
fn consecutive_updates_fold_later_wins() {
    let mut store = store();
    let id = synced_entry(&mut store, "v1");
    let first = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "a", "duration": 40})),
            NOW + 1,
        )
        .unwrap()
        .unwrap();
    let second = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "b", "mood": "neutral"})),
            NOW + 2,
        )
        .unwrap()
        .unwrap();
    assert_eq!(first, second);
    let rows = outbox(&store);
    assert_eq!(rows.len(), 1);
    let data = &rows[0].change.data;
    assert_eq!(
        (
            data["notes"].clone(),
            data["duration"].clone(),
            data["mood"].clone()
        ),
        (json!("b"), json!(40), json!("neutral"))
    );
    assert_eq!(rows[0].change.base_version, 1);
}

#[test]
fn create_then_delete_leaves_no_trace() {
    let mut store = store();
    let (id, _) = create_entry(&mut store, "oops");
    assert_eq!(
        store.delete(EntityType::Logbook, &id, NOW + 1).unwrap(),
        None
    );
    assert!(store.get(EntityType::Logbook, &id).unwrap().is_none());
    assert_eq!(store.pending_count().unwrap(), 0);
}

#[test]
fn update_then_delete_folds_into_a_delete() {
    let mut store = store();
    let id = synced_entry(&mut store, "v1");
    let update = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "v2"})),
            NOW + 1,
        )
        .unwrap();
    let delete = store.delete(EntityType::Logbook, &id, NOW + 2).unwrap();
    assert_eq!(update, delete);
    let rows = outbox(&store);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].change.operation, Operation::Delete);
    assert!(rows[0].change.data.is_empty());
    assert_eq!(rows[0].change.base_version, 1);
    let local = store.get(EntityType::Logbook, &id).unwrap().unwrap();
    assert!(local.deleted);
    assert!(store.list(EntityType::Logbook).unwrap().is_empty());
}

#[test]
fn nothing_folds_into_a_change_in_flight_or_ever_sent() {
    let mut store = store();
    let (id, create_id) = create_entry(&mut store, "a");
    store.mark_in_flight(&[&create_id]).unwrap();
    let second = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "b"})),
            NOW + 1,
        )
        .unwrap()
        .unwrap();
    assert_ne!(second, create_id);
    // While the create is in flight, even the unsent newest change takes no more edits.
    let third = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "c"})),
            NOW + 2,
        )
        .unwrap()
        .unwrap();
    assert_ne!(third, second);

    // The connection dropped: the create goes back to pending, but the server may have
    // recorded its change id, so its content is frozen.
    assert_eq!(store.reset_in_flight().unwrap(), 1);
    let rows = outbox(&store);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].change.data["notes"], "a");
    let fourth = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "d"})),
            NOW + 3,
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        fourth, third,
        "the newest change was never sent: it takes the edit"
    );
    assert_eq!(outbox_item(&store, &create_id).change.data["notes"], "a");
    assert_eq!(state(&store, EntityType::Logbook, &id)["notes"], "d");
}

#[test]
fn operators_apply_locally_and_keep_changes_of_their_own() {
    let mut store = store();
    let goal = store
        .create(
            EntityType::Goals,
            fields(json!({"title": "Practise daily", "progress": 0})),
            NOW,
        )
        .unwrap();
    store.mark_in_flight(&[&goal.change_id]).unwrap();
    store.apply_ack(&goal.change_id, 1, &Fields::new()).unwrap();
    let inc = |n: i64| fields(json!({"progress": {"$inc": n}}));
    let first = store
        .patch(EntityType::Goals, &goal.entity_id, inc(2), NOW + 1)
        .unwrap();
    let second = store
        .patch(EntityType::Goals, &goal.entity_id, inc(3), NOW + 2)
        .unwrap();
    assert_ne!(
        first, second,
        "never folded: a copy of the data dir may send it too"
    );
    let rows = outbox(&store);
    assert_eq!(rows[0].change.data["progress"], json!({"$inc": 2}));
    assert_eq!(rows[1].change.data["progress"], json!({"$inc": 3}));
    assert_eq!(
        state(&store, EntityType::Goals, &goal.entity_id)["progress"],
        5
    );
    let err = store
        .patch(
            EntityType::Goals,
            &goal.entity_id,
            fields(json!({"title": {"$inc": 1}})),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Validation(_)), "{err:?}");
}

#[test]
fn edits_of_missing_or_deleted_entities_are_typed_errors() {
    let mut store = store();
    let ghost = EntityId::new("ghost").unwrap();
    let err = store
        .patch(
            EntityType::Logbook,
            &ghost,
            fields(json!({"notes": "x"})),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let id = synced_entry(&mut store, "x");
    assert!(
        store
            .delete(EntityType::Logbook, &id, NOW)
            .unwrap()
            .is_some()
    );
    assert_eq!(store.delete(EntityType::Logbook, &id, NOW).unwrap(), None);
    let err = store
        .patch(EntityType::Logbook, &id, fields(json!({"notes": "y"})), NOW)
        .unwrap_err();
    assert!(matches!(err, StoreError::Deleted { .. }), "{err:?}");
    let err = store
        .create_with_id(
            EntityType::Logbook,
            id.clone(),
            entry("2025-11-25T18:00:00.000Z", 5, ""),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
}

#[test]
fn typed_entries_save_their_canonical_difference() {
    let mut store = store();
    let id = EntityId::new("entry-1").unwrap();
    let at = chrono::DateTime::from_timestamp_millis(NOW).unwrap();
    let mut entry = LogbookEntry::new(id.clone(), at, 25);
    assert!(store.save_logbook(&entry, NOW).unwrap().is_some());
    let loaded: LogbookEntry = store.load(&id).unwrap().unwrap();
    assert_eq!(loaded.duration, 25);
    assert!(loaded.created_at.is_some());
    let change_id = outbox(&store)[0].change.change_id.clone();
    store.mark_in_flight(&[&change_id]).unwrap();
    store.apply_ack(&change_id, 1, &Fields::new()).unwrap();

    assert_eq!(
        store.save_logbook(&loaded, NOW + 1).unwrap(),
        None,
        "unchanged"
    );
    entry = loaded;
    entry.notes = Some("legato passages".into());
    let change_id = store.save_logbook(&entry, NOW + 2).unwrap().unwrap();
    let data = outbox_item(&store, &change_id).change.data;
    let mut keys: Vec<_> = data.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["notes", "updatedAt"]);
}

#[test]
fn a_differently_spelled_stored_state_is_not_an_edit() {
    let mut store = store();
    let id = EntityId::new("spelled").unwrap();
    let stored = fields(json!({"timestamp": "2025-11-25T18:00:00Z", "duration": 30}));
    store
        .create_with_id(EntityType::Logbook, id.clone(), stored, NOW)
        .unwrap();
    let loaded: LogbookEntry = store.load(&id).unwrap().unwrap();
    let before = outbox(&store);
    assert_eq!(store.save_logbook(&loaded, NOW + 1).unwrap(), None);
    assert_eq!(outbox(&store), before);
}

#[test]
fn piece_status_moves_are_recorded_as_history_values() {
    let mut store = store();
    let id = EntityId::new("ballade").unwrap();
    store
        .save(&RepertoireItem::new(id.clone(), "Ballade No. 1"), NOW)
        .unwrap();
    let change = store
        .set_piece_status(&id, PieceStatus::Learning, NOW + MINUTE)
        .unwrap();
    assert!(change.is_some());
    assert_eq!(
        store
            .set_piece_status(&id, PieceStatus::Learning, NOW + 2 * MINUTE)
            .unwrap(),
        None
    );
    let item: RepertoireItem = store.load(&id).unwrap().unwrap();
    assert_eq!(item.status, PieceStatus::Learning);
    assert_eq!(item.status_history.len(), 1);
    assert_eq!(item.status_history[0].from, Some(PieceStatus::Planned));
    assert_eq!(item.status_history[0].to, PieceStatus::Learning);
    assert_eq!(item.notes, None, "history is data, never text in the notes");
}
