//! Conflicts: stored for the user, resolved, discarded, or settled by a strategy.

use legato_core::Strategy;
use legato_protocol::{ConflictData, EntityId, EntityType, Fields, Operation};
use legato_store::{ConflictOutcome, Store, StoreError, SyncState, UndoDelete};
use serde_json::{Value, json};

use crate::support::*;

/// An entry synced at version 1, a local edit of its notes sent, and the server's answer:
/// someone else changed the notes and the duration at version 2.
fn conflicted(store: &mut Store) -> (EntityId, ConflictData) {
    let id = synced_entry(store, "base notes");
    let change = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "my notes"})),
            NOW + MINUTE,
        )
        .unwrap()
        .unwrap();
    store.mark_in_flight(&[&change]).unwrap();
    let mut remote = store.get(EntityType::Logbook, &id).unwrap().unwrap().state;
    remote.insert("notes".into(), json!("their notes"));
    remote.insert("duration".into(), json!(50));
    remote.insert("updatedAt".into(), json!("2025-11-25T18:30:30.000Z"));
    let conflict = ConflictData {
        change_id: change.clone(),
        entity_type: EntityType::Logbook,
        entity_id: id.clone(),
        base_version: 1,
        remote_version: 2,
        remote_deleted: false,
        local: outbox_item(store, &change).change.data,
        remote,
        // Both sides wrote `updatedAt` as well: the server reports it too.
        fields: vec!["notes".into(), "updatedAt".into()],
    };
    (id, conflict)
}

#[test]
fn a_stored_conflict_keeps_the_users_edit_visible() {
    let mut store = store();
    let (id, conflict) = conflicted(&mut store);
    let outcome = store.store_conflict(&conflict, NOW + 2 * MINUTE).unwrap();
    let ConflictOutcome::Stored { conflict_id } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        store.pending_count().unwrap(),
        0,
        "the change left the outbox"
    );
    let listed = store.conflicts().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, conflict_id);
    assert_eq!(listed[0].conflict, conflict);
    assert_eq!(listed[0].operation, Operation::Update);
    assert_eq!(listed[0].local_timestamp, NOW + MINUTE);

    let local = store.get(EntityType::Logbook, &id).unwrap().unwrap();
    assert_eq!(local.state["notes"], "my notes");
    assert_eq!(
        local.state["duration"], 50,
        "the server's other changes show"
    );
    assert_eq!((local.base_version, local.sync), (2, SyncState::Conflict));
    assert_eq!(
        store.store_conflict(&conflict, NOW).unwrap(),
        ConflictOutcome::Unknown,
        "repeat"
    );
}

#[test]
fn resolving_a_conflict_queues_the_difference_on_the_remote_version() {
    let mut store = store();
    let (id, conflict) = conflicted(&mut store);
    let ConflictOutcome::Stored { conflict_id } = store.store_conflict(&conflict, NOW).unwrap()
    else {
        panic!()
    };
    let mut resolved = conflict.remote.clone();
    resolved.insert("notes".into(), json!("both notes"));
    let outcome = store
        .apply_user_decision(conflict_id, resolved, NOW + 3 * MINUTE)
        .unwrap();
    let ConflictOutcome::Pushed { change_id } = outcome else {
        panic!("{outcome:?}")
    };
    let item = outbox_item(&store, &change_id);
    assert_eq!(item.change.base_version, 2);
    assert_eq!(
        Value::Object(item.change.data),
        json!({"notes": "both notes", "updatedAt": "2025-11-25T18:33:00.000Z"})
    );
    assert!(store.conflicts().unwrap().is_empty());
    let local = store.get(EntityType::Logbook, &id).unwrap().unwrap();
    assert_eq!(
        (local.state["notes"].clone(), local.sync),
        (json!("both notes"), SyncState::Pending)
    );
    assert!(matches!(
        store.apply_user_decision(conflict_id, conflict.remote.clone(), NOW),
        Err(StoreError::ConflictNotFound(_))
    ));
}

#[test]
fn discarding_a_conflict_takes_the_servers_state() {
    let mut store = store();
    let (id, conflict) = conflicted(&mut store);
    let ConflictOutcome::Stored { conflict_id } = store.store_conflict(&conflict, NOW).unwrap()
    else {
        panic!()
    };
    store
        .discard_conflict(conflict_id, NOW + 5 * MINUTE)
        .unwrap();
    let local = store.get(EntityType::Logbook, &id).unwrap().unwrap();
    assert_eq!(local.state, conflict.remote);
    assert_eq!(local.sync, SyncState::Synced);
}

#[test]
fn the_merge_strategy_pushes_the_merged_fields() {
    let mut store = store();
    let (id, conflict) = conflicted(&mut store);
    let outcome = store
        .settle_conflict(&conflict, Strategy::Merge, NOW + 2 * MINUTE)
        .unwrap();
    let ConflictOutcome::Pushed { change_id } = outcome else {
        panic!("{outcome:?}")
    };
    let item = outbox_item(&store, &change_id);
    assert_eq!(item.change.base_version, 2);
    assert_eq!(item.change.data["notes"], "my notes\n\n---\n\ntheir notes");
    assert!(
        !item.change.data.contains_key("duration"),
        "only the remote side changed it"
    );
    let local = state(&store, EntityType::Logbook, &id);
    assert_eq!(local["notes"], "my notes\n\n---\n\ntheir notes");
    assert_eq!(local["duration"], 50);
}

#[test]
fn the_remote_strategy_accepts_the_servers_state() {
    let mut store = store();
    let (id, conflict) = conflicted(&mut store);
    let outcome = store
        .settle_conflict(&conflict, Strategy::Remote, NOW)
        .unwrap();
    assert_eq!(outcome, ConflictOutcome::AcceptedRemote);
    assert_eq!(
        store.get(EntityType::Logbook, &id).unwrap().unwrap().state,
        conflict.remote
    );
    assert_eq!(store.pending_count().unwrap(), 0);
}

#[test]
fn an_edit_of_a_remotely_deleted_entity_lives_on_under_a_new_id() {
    let mut store = store();
    let (id, mut conflict) = conflicted(&mut store);
    conflict.remote_deleted = true;
    let outcome = store
        .settle_conflict(&conflict, Strategy::Merge, NOW + 2 * MINUTE)
        .unwrap();
    let ConflictOutcome::Recreated {
        entity_id,
        change_id,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_ne!(entity_id, id);
    assert!(
        store
            .get(EntityType::Logbook, &id)
            .unwrap()
            .unwrap()
            .deleted
    );
    let copy = store.get(EntityType::Logbook, &entity_id).unwrap().unwrap();
    assert_eq!(copy.state["notes"], "my notes");
    assert_eq!(
        outbox_item(&store, &change_id).change.operation,
        Operation::Create
    );
    let live: Vec<_> = store
        .list(EntityType::Logbook)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(live, [entity_id]);
}

#[test]
fn a_resolution_keeps_its_place_unless_a_later_change_was_sent() {
    // Nothing later was sent: the resolution takes the conflicted change's place. The later
    // edit only set a conflicting field, which the decision covers: it goes.
    let mut store = store();
    let (id, conflict) = conflicted(&mut store);
    let later = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "newer"})),
            NOW + 2 * MINUTE,
        )
        .unwrap()
        .unwrap();
    let ConflictOutcome::Stored { conflict_id } = store.store_conflict(&conflict, NOW).unwrap()
    else {
        panic!()
    };
    let mut resolved = conflict.remote.clone();
    resolved.insert("notes".into(), json!("resolved"));
    let ConflictOutcome::Pushed { change_id } = store
        .apply_user_decision(conflict_id, resolved, NOW)
        .unwrap()
    else {
        panic!()
    };
    let order: Vec<_> = outbox(&store)
        .into_iter()
        .map(|i| i.change.change_id)
        .collect();
    assert_eq!(
        order,
        std::slice::from_ref(&change_id),
        "the later edit {later} is covered by the decision"
    );
    assert_eq!(
        outbox_item(&store, &change_id).change.data["notes"],
        "resolved"
    );
    assert_eq!(state(&store, EntityType::Logbook, &id)["notes"], "resolved");

    // The later edit went out first: the resolution follows it, without the field the
    // later edit set (the user's newer value must not be overwritten on the server).
    let mut store = crate::support::store();
    let (id, conflict) = conflicted(&mut store);
    let later = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "newer"})),
            NOW + 2 * MINUTE,
        )
        .unwrap()
        .unwrap();
    let ConflictOutcome::Stored { conflict_id } = store.store_conflict(&conflict, NOW).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        store.next_pending(10, NOW).unwrap()[0].change.change_id,
        later
    );
    store.mark_in_flight(&[&later]).unwrap();
    let mut resolved = conflict.remote.clone();
    resolved.insert("notes".into(), json!("resolved"));
    resolved.insert("duration".into(), json!(55));
    let ConflictOutcome::Pushed { change_id } = store
        .apply_user_decision(conflict_id, resolved, NOW)
        .unwrap()
    else {
        panic!()
    };
    let order: Vec<_> = outbox(&store)
        .into_iter()
        .map(|i| i.change.change_id)
        .collect();
    assert_eq!(order, [later, change_id.clone()]);
    let data = outbox_item(&store, &change_id).change.data;
    assert!(!data.contains_key("notes"));
    assert_eq!(data["duration"], 55);
    let local = state(&store, EntityType::Logbook, &id);
    assert_eq!(
        (local["notes"].clone(), local["duration"].clone()),
        (json!("newer"), json!(55))
    );
    assert!(
        store.next_pending(10, NOW).unwrap().is_empty(),
        "one change in flight per entity"
    );
}

/// An entry synced at version 1; an edit of its notes sent (in flight); then a delete
/// queued behind it. The server answers the edit: another device changed the notes at
/// version 2 (or deleted the entry, with `remote_deleted`).
fn edit_sent_then_deleted(store: &mut Store, remote_deleted: bool) -> (EntityId, ConflictData) {
    let (id, mut conflict) = conflicted(store);
    let delete = store
        .delete(EntityType::Logbook, &id, NOW + 2 * MINUTE)
        .unwrap()
        .expect("the delete is queued behind the sent edit");
    assert_ne!(delete, conflict.change_id, "not folded into a sent change");
    if remote_deleted {
        conflict.remote_deleted = true;
        conflict.fields = vec!["notes".into(), "updatedAt".into()];
    }
    (id, conflict)
}

#[test]
fn a_queued_delete_behind_a_conflicted_edit_is_kept_under_keep_mine() {
    let mut store = store();
    let (id, conflict) = edit_sent_then_deleted(&mut store, false);
    let outcome = store
        .settle_conflict(&conflict, Strategy::Local, NOW + 3 * MINUTE)
        .unwrap();
    let ConflictOutcome::Pushed { change_id } = outcome else {
        panic!("{outcome:?}")
    };
    let queued = outbox(&store);
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].change.change_id, change_id);
    assert_eq!(queued[0].change.operation, Operation::Delete);
    assert_eq!(
        queued[0].change.base_version, 2,
        "made on the remote version"
    );
    assert!(
        store
            .get(EntityType::Logbook, &id)
            .unwrap()
            .unwrap()
            .deleted
    );
}

#[test]
fn a_queued_delete_behind_a_conflicted_edit_is_overruled_openly_under_merge() {
    let mut store = store();
    let (id, conflict) = edit_sent_then_deleted(&mut store, false);
    let outcome = store
        .settle_conflict(&conflict, Strategy::Merge, NOW + 3 * MINUTE)
        .unwrap();
    assert!(
        matches!(
            outcome,
            ConflictOutcome::DeleteOverruled { pushed: Some(_) }
        ),
        "{outcome:?}"
    );
    let local = store.get(EntityType::Logbook, &id).unwrap().unwrap();
    assert!(!local.deleted);
    assert_eq!(
        local.state["notes"],
        json!("my notes\n\n---\n\ntheir notes")
    );
    assert!(
        outbox(&store)
            .iter()
            .all(|item| item.change.operation == Operation::Update)
    );
}

#[test]
fn an_entry_deleted_on_both_sides_is_not_recreated() {
    for strategy in [Strategy::Merge, Strategy::Local] {
        let mut store = store();
        let (id, conflict) = edit_sent_then_deleted(&mut store, true);
        let outcome = store
            .settle_conflict(&conflict, strategy, NOW + 3 * MINUTE)
            .unwrap();
        assert_eq!(outcome, ConflictOutcome::AcceptedRemote, "{strategy:?}");
        assert!(outbox(&store).is_empty(), "{strategy:?}");
        assert!(
            store.list(EntityType::Logbook).unwrap().is_empty(),
            "{strategy:?}"
        );
        assert!(
            store
                .get(EntityType::Logbook, &id)
                .unwrap()
                .is_none_or(|e| e.deleted)
        );
    }
}

#[test]
fn a_recreation_after_a_catch_up_tombstone_keeps_the_servers_fields() {
    let mut store = store();
    let id = synced_entry(&mut store, "base notes");
    let change = patch_notes(&mut store, &id, "my notes");
    // A catch-up brings the tombstone: `data: {}`, deleted at version 2.
    let mut tombstone = update(&id, json!({}), 2, 2, true);
    tombstone.deleted = true;
    store.apply_remote(&tombstone).unwrap();
    store.mark_in_flight(&[&change]).unwrap();
    let mut remote = entry("2025-11-25T18:00:00.000Z", 30, "base notes");
    remote.insert("mood".into(), json!("satisfied"));
    let conflict = ConflictData {
        change_id: change.clone(),
        entity_type: EntityType::Logbook,
        entity_id: id.clone(),
        base_version: 1,
        remote_version: 2,
        remote_deleted: true,
        local: outbox_item(&store, &change).change.data,
        remote,
        fields: vec!["notes".into(), "updatedAt".into()],
    };
    let outcome = store
        .settle_conflict(&conflict, Strategy::Merge, NOW + MINUTE)
        .unwrap();
    let ConflictOutcome::Recreated { entity_id, .. } = outcome else {
        panic!("{outcome:?}")
    };
    let recreated = store.get(EntityType::Logbook, &entity_id).unwrap().unwrap();
    assert_eq!(recreated.state["notes"], json!("my notes"));
    assert_eq!(
        recreated.state["duration"],
        json!(30),
        "the server's fields"
    );
    assert_eq!(recreated.state["mood"], json!("satisfied"));
}

#[test]
fn an_undone_delete_that_loses_to_an_edit_leaves_one_entry_with_both_edits() {
    for strategy in [Strategy::Remote, Strategy::Merge] {
        let mut store = store();
        let id = synced_entry(&mut store, "base notes");
        let delete = store
            .delete(EntityType::Logbook, &id, NOW + MINUTE)
            .unwrap()
            .unwrap();
        store.mark_in_flight(&[&delete]).unwrap();
        // The user undoes the delete while it is in flight, then edits the copy.
        let undone = store
            .undo_delete(EntityType::Logbook, &id, NOW + 2 * MINUTE)
            .unwrap();
        let copy = undone.entity_id().clone();
        assert_ne!(copy, id);
        store
            .patch(
                EntityType::Logbook,
                &copy,
                fields(json!({"duration": 99})),
                NOW + 3 * MINUTE,
            )
            .unwrap();
        // The server answers the delete: another device changed the notes meanwhile.
        let mut remote = entry("2025-11-25T18:00:00.000Z", 30, "their notes");
        remote.insert("updatedAt".into(), json!("2025-11-25T18:31:00.000Z"));
        let conflict = ConflictData {
            change_id: delete.clone(),
            entity_type: EntityType::Logbook,
            entity_id: id.clone(),
            base_version: 1,
            remote_version: 2,
            remote_deleted: false,
            local: Default::default(),
            remote,
            fields: vec!["notes".into(), "updatedAt".into()],
        };
        let outcome = store
            .settle_conflict(&conflict, strategy, NOW + 4 * MINUTE)
            .unwrap();
        assert!(
            matches!(outcome, ConflictOutcome::DeleteOverruled { .. }),
            "{strategy:?}: {outcome:?}"
        );
        let live = store.list(EntityType::Logbook).unwrap();
        assert_eq!(live.len(), 1, "{strategy:?}: one entry, not two");
        assert_eq!(live[0].id, id);
        assert_eq!(live[0].state["notes"], json!("their notes"), "{strategy:?}");
        assert_eq!(
            live[0].state["duration"],
            json!(99),
            "{strategy:?}: the edit after the undo"
        );
        assert!(
            outbox(&store)
                .iter()
                .all(|item| item.change.entity_id == id),
            "{strategy:?}: nothing of the copy is sent"
        );
    }
}

/// Under `manual` the delete's conflict waits for the user, and the user may undo the
/// delete meanwhile (before the answer came, or after it was stored): the undo re-creates
/// the entry under its successor id. Taking the server's version then overrules the delete
/// like any strategy does, and the copy folds back: one entry, not two (sim seed 203).
#[test]
fn an_undone_delete_whose_stored_conflict_the_user_discards_leaves_one_entry() {
    for undo_first in [true, false] {
        let mut store = store();
        let id = synced_entry(&mut store, "base notes");
        let delete = store
            .delete(EntityType::Logbook, &id, NOW + MINUTE)
            .unwrap()
            .unwrap();
        store.mark_in_flight(&[&delete]).unwrap();
        let undo = |store: &mut Store| {
            let copy = store
                .undo_delete(EntityType::Logbook, &id, NOW + 2 * MINUTE)
                .unwrap()
                .entity_id()
                .clone();
            store
                .patch(
                    EntityType::Logbook,
                    &copy,
                    fields(json!({"duration": 99})),
                    NOW + 3 * MINUTE,
                )
                .unwrap();
        };
        if undo_first {
            undo(&mut store);
        }
        let mut remote = entry("2025-11-25T18:00:00.000Z", 30, "their notes");
        remote.insert("updatedAt".into(), json!("2025-11-25T18:31:00.000Z"));
        let conflict = ConflictData {
            change_id: delete.clone(),
            entity_type: EntityType::Logbook,
            entity_id: id.clone(),
            base_version: 1,
            remote_version: 2,
            remote_deleted: false,
            local: Default::default(),
            remote,
            fields: vec!["notes".into(), "updatedAt".into()],
        };
        let outcome = store
            .settle_conflict(&conflict, Strategy::Manual, NOW + 4 * MINUTE)
            .unwrap();
        let ConflictOutcome::Stored { conflict_id } = outcome else {
            panic!("{outcome:?}")
        };
        if !undo_first {
            undo(&mut store);
        }
        store
            .discard_conflict(conflict_id, NOW + 5 * MINUTE)
            .unwrap();
        let live = store.list(EntityType::Logbook).unwrap();
        let live: Vec<_> = live.iter().filter(|e| !e.deleted).collect();
        assert_eq!(live.len(), 1, "undo first {undo_first}: one entry, not two");
        assert_eq!(live[0].id, id);
        assert_eq!(live[0].state["notes"], json!("their notes"));
        assert_eq!(
            live[0].state["duration"],
            json!(99),
            "undo first {undo_first}: the edit after the undo"
        );
    }
}

/// The copy an undo re-created can be deleted in turn, and that delete can lose too: here the
/// user deletes the entry, undoes it (the copy), deletes the copy, and then takes the
/// server's version of both stored conflicts, because other devices edited the entry and the
/// copy meanwhile. When the entry comes back the copy is still deleted here (nothing to fold
/// yet); when the copy comes back as well, it folds into the entry: one entry, holding both
/// other devices' edits, not two (sim seed 1725).
#[test]
fn a_deleted_copy_that_comes_back_folds_into_its_entry() {
    let mut store = store();
    let id = synced_entry(&mut store, "base notes");
    let delete = store
        .delete(EntityType::Logbook, &id, NOW + MINUTE)
        .unwrap()
        .unwrap();
    store.mark_in_flight(&[&delete]).unwrap();
    let UndoDelete::Recreated {
        entity_id: copy,
        change_id: create,
    } = store
        .undo_delete(EntityType::Logbook, &id, NOW + 2 * MINUTE)
        .unwrap()
    else {
        panic!("the delete was sent: a copy")
    };
    store.mark_in_flight(&[&create]).unwrap();
    assert!(
        store
            .apply_ack(&create, 1, &Fields::new())
            .unwrap()
            .is_acked()
    );
    // Another device edited the entry's notes: the delete's conflict waits for the user.
    let mut remote = entry("2025-11-25T18:00:00.000Z", 30, "their notes");
    remote.insert("updatedAt".into(), json!("2025-11-25T18:31:00.000Z"));
    let conflict = ConflictData {
        change_id: delete.clone(),
        entity_type: EntityType::Logbook,
        entity_id: id.clone(),
        base_version: 1,
        remote_version: 2,
        remote_deleted: false,
        local: Default::default(),
        remote,
        fields: vec!["notes".into(), "updatedAt".into()],
    };
    let ConflictOutcome::Stored { conflict_id: first } = store
        .settle_conflict(&conflict, Strategy::Manual, NOW + 3 * MINUTE)
        .unwrap()
    else {
        panic!("manual: stored")
    };
    // The user deletes the copy too; a third device edited the copy's duration meanwhile.
    let delete_copy = store
        .delete(EntityType::Logbook, &copy, NOW + 4 * MINUTE)
        .unwrap()
        .unwrap();
    store.mark_in_flight(&[&delete_copy]).unwrap();
    store.discard_conflict(first, NOW + 5 * MINUTE).unwrap();
    let copy_state = store
        .get(EntityType::Logbook, &copy)
        .unwrap()
        .unwrap()
        .state;
    let mut remote = copy_state.clone();
    remote.insert("duration".into(), json!(77));
    remote.insert("updatedAt".into(), json!("2025-11-25T18:32:00.000Z"));
    let conflict = ConflictData {
        change_id: delete_copy.clone(),
        entity_type: EntityType::Logbook,
        entity_id: copy.clone(),
        base_version: 1,
        remote_version: 2,
        remote_deleted: false,
        local: Default::default(),
        remote,
        fields: vec!["duration".into(), "updatedAt".into()],
    };
    let ConflictOutcome::Stored {
        conflict_id: second,
    } = store
        .settle_conflict(&conflict, Strategy::Manual, NOW + 6 * MINUTE)
        .unwrap()
    else {
        panic!("manual: stored")
    };
    store.discard_conflict(second, NOW + 7 * MINUTE).unwrap();

    let live = store.list(EntityType::Logbook).unwrap();
    let live: Vec<_> = live.iter().filter(|e| !e.deleted).collect();
    assert_eq!(live.len(), 1, "one entry, not two: {live:?}");
    assert_eq!(live[0].id, id, "the entry lives on under its own id");
    assert_eq!(live[0].state["notes"], json!("their notes"));
    assert_eq!(
        live[0].state["duration"],
        json!(77),
        "the edit another device made to the copy joins the entry"
    );
    assert!(
        outbox(&store).iter().any(|item| item.change.entity_id == copy
            && item.change.operation == Operation::Delete),
        "the copy's delete is queued for the other devices"
    );
}

/// A goal synced at version 1 without tags; the user adds tag `t2`, then pulls it again:
/// two changes (a change holding a set operation is never folded into), both sent before
/// any answer. Another device edited the goal meanwhile, so the server answers the add with
/// a conflict on `updatedAt` alone, at version 2. Returns the goal, both change ids and the
/// add's conflict.
fn add_then_pull_both_sent(store: &mut Store) -> (EntityId, String, String, ConflictData) {
    let id = synced_goal(
        store,
        json!({"title": "Practice", "type": "practice_time", "progress": 0, "tags": []}),
    );
    let tags = |op: &str| fields(json!({"tags": {op: ["t2"]}}));
    let add = store
        .patch(EntityType::Goals, &id, tags("$addToSet"), NOW + MINUTE)
        .unwrap()
        .unwrap();
    let pull = store
        .patch(EntityType::Goals, &id, tags("$pull"), NOW + 2 * MINUTE)
        .unwrap()
        .unwrap();
    assert_ne!(add, pull, "set operations do not fold");
    store.mark_in_flight(&[&add, &pull]).unwrap();
    let mut remote = store.get(EntityType::Goals, &id).unwrap().unwrap().state;
    remote.insert("tags".into(), json!([]));
    remote.insert("updatedAt".into(), json!("2025-11-25T18:30:30.000Z"));
    let conflict = ConflictData {
        change_id: add.clone(),
        entity_type: EntityType::Goals,
        entity_id: id.clone(),
        base_version: 1,
        remote_version: 2,
        remote_deleted: false,
        local: outbox_item(store, &add).change.data,
        remote,
        fields: vec!["updatedAt".into()],
    };
    (id, add, pull, conflict)
}

/// The tags the server ends with when it applies what is left in the outbox, in order, to
/// `tags`.
fn tags_after_outbox(store: &Store, tags: Value) -> Value {
    let mut state = fields(json!({ "tags": tags }));
    for item in outbox(store) {
        legato_core::apply_patch(&mut state, &item.change.data).unwrap();
    }
    state["tags"].clone()
}

#[test]
fn a_tag_added_then_pulled_stays_pulled_when_the_add_conflicts() {
    // Seed 2998 of the simulation: the add's settlement had to go behind the pull, which
    // was in flight. The pull applied (nothing to pull yet), then the settlement added the
    // tag: back for good.
    let mut store = store();
    let (id, add, pull, conflict) = add_then_pull_both_sent(&mut store);
    store
        .settle_conflict(&conflict, Strategy::Merge, NOW + 3 * MINUTE)
        .unwrap();
    assert!(
        store
            .apply_ack(&pull, 3, &fields(json!({"tags": []})))
            .unwrap()
            .is_acked()
    );
    assert_eq!(
        tags_after_outbox(&store, json!([])),
        json!([]),
        "the pull came last"
    );
    assert_eq!(state(&store, EntityType::Goals, &id)["tags"], json!([]));
    assert!(outbox(&store).iter().all(|i| i.change.change_id != add));
}

#[test]
fn a_tag_added_then_pulled_stays_pulled_when_both_conflict() {
    // The pull conflicts too: its settlement takes its place, ahead of the add's, which
    // went behind it. The add's settlement must not bring the tag back after it.
    let mut store = store();
    let (id, _, pull, conflict) = add_then_pull_both_sent(&mut store);
    store
        .settle_conflict(&conflict, Strategy::Merge, NOW + 3 * MINUTE)
        .unwrap();
    let mut on_pull = conflict.clone();
    on_pull.change_id = pull.clone();
    on_pull.local =
        fields(json!({"tags": {"$pull": ["t2"]}, "updatedAt": "2025-11-25T18:02:00.000Z"}));
    store
        .settle_conflict(&on_pull, Strategy::Merge, NOW + 3 * MINUTE)
        .unwrap();
    assert_eq!(
        tags_after_outbox(&store, json!([])),
        json!([]),
        "the pull came last"
    );
    assert_eq!(state(&store, EntityType::Goals, &id)["tags"], json!([]));
}
