//! `Store::undo_delete`: cancel an unsent delete, or re-create a sent one under a new id.

use legato_protocol::{EntityType, Operation};
use legato_store::{StoreError, SyncState, TRASH_DEPTH, UndoDelete};
use serde_json::json;

use crate::support::*;

const LOG: EntityType = EntityType::Logbook;

#[test]
fn an_unsent_delete_is_cancelled_under_the_same_id() {
    let mut store = store();
    let id = synced_entry(&mut store, "scales");
    let before = store.get(LOG, &id).unwrap().unwrap();
    store.delete(LOG, &id, NOW + MINUTE).unwrap().unwrap();
    assert_eq!(store.pending_count().unwrap(), 1);

    let outcome = store.undo_delete(LOG, &id, NOW + 2 * MINUTE).unwrap();
    assert_eq!(
        outcome,
        UndoDelete::Cancelled {
            entity_id: id.clone()
        }
    );
    assert!(outcome.same_id());
    assert_eq!(store.pending_count().unwrap(), 0, "the delete never leaves");
    let after = store.get(LOG, &id).unwrap().unwrap();
    assert_eq!(after, before);
    assert_eq!(after.sync, SyncState::Synced);
    assert!(matches!(
        store.undo_delete(LOG, &id, NOW),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn an_unsent_edit_the_delete_absorbed_comes_back_too() {
    let mut store = store();
    let id = synced_entry(&mut store, "scales");
    store
        .patch(
            LOG,
            &id,
            fields(json!({"notes": "arpeggios"})),
            NOW + MINUTE,
        )
        .unwrap();
    store.delete(LOG, &id, NOW + 2 * MINUTE).unwrap();
    let queued = outbox(&store);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].change.operation, Operation::Delete);

    let outcome = store.undo_delete(LOG, &id, NOW + 3 * MINUTE).unwrap();
    assert!(outcome.same_id());
    let queued = outbox(&store);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].change.operation, Operation::Update);
    assert_eq!(queued[0].change.base_version, 1);
    assert_eq!(queued[0].change.data["notes"], "arpeggios");
    let local = store.get(LOG, &id).unwrap().unwrap();
    assert!(!local.deleted);
    assert_eq!(local.state["notes"], "arpeggios");
}

#[test]
fn a_never_synced_entry_comes_back_with_its_create() {
    let mut store = store();
    let (id, _) = create_entry(&mut store, "scales");
    let before = store.get(LOG, &id).unwrap().unwrap().state;
    assert_eq!(store.delete(LOG, &id, NOW + MINUTE).unwrap(), None);
    assert!(store.get(LOG, &id).unwrap().is_none());

    let outcome = store.undo_delete(LOG, &id, NOW + 2 * MINUTE).unwrap();
    assert_eq!(
        outcome,
        UndoDelete::Cancelled {
            entity_id: id.clone()
        }
    );
    let queued = outbox(&store);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].change.operation, Operation::Create);
    assert_eq!(queued[0].change.entity_id, id);
    assert_eq!(store.get(LOG, &id).unwrap().unwrap().state, before);
}

#[test]
fn a_sent_delete_is_undone_by_a_create_under_a_new_id() {
    let mut store = store();
    let id = synced_entry(&mut store, "scales");
    let delete = store.delete(LOG, &id, NOW + MINUTE).unwrap().unwrap();
    store.mark_in_flight(&[&delete]).unwrap();

    let outcome = store.undo_delete(LOG, &id, NOW + 2 * MINUTE).unwrap();
    let UndoDelete::Recreated {
        entity_id,
        change_id,
    } = outcome.clone()
    else {
        panic!("{outcome:?}")
    };
    assert!(!outcome.same_id());
    assert_ne!(entity_id, id);
    assert!(store.get(LOG, &id).unwrap().unwrap().deleted);
    let copy = store.get(LOG, &entity_id).unwrap().unwrap();
    assert_eq!(copy.state["notes"], "scales");
    assert_eq!(copy.state["updatedAt"], "2025-11-25T18:32:00.000Z");
    let create = outbox_item(&store, &change_id);
    assert_eq!(create.change.operation, Operation::Create);
    assert_eq!(
        outbox_item(&store, &delete).change.operation,
        Operation::Delete,
        "the sent delete still waits for its answer"
    );
}

#[test]
fn undo_after_the_tombstone_was_synced_never_resurrects_the_old_id() {
    let mut store = store();
    let id = synced_entry(&mut store, "scales");
    let delete = store.delete(LOG, &id, NOW + MINUTE).unwrap().unwrap();
    store.mark_in_flight(&[&delete]).unwrap();
    store
        .apply_ack(&delete, 2, &legato_protocol::Fields::new())
        .unwrap();
    assert_eq!(store.pending_count().unwrap(), 0);

    let outcome = store.undo_delete(LOG, &id, NOW + 2 * MINUTE).unwrap();
    assert_ne!(outcome.entity_id(), &id);
    let old = store.get(LOG, &id).unwrap().unwrap();
    assert!(old.deleted, "the old id stays a tombstone");
    let queued = outbox(&store);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].change.operation, Operation::Create);
    assert_eq!(&queued[0].change.entity_id, outcome.entity_id());
    assert!(
        queued.iter().all(|item| item.change.entity_id != id),
        "nothing is sent for the old id"
    );
    // A second undo has nothing left to bring back.
    assert!(matches!(
        store.undo_delete(LOG, &id, NOW),
        Err(StoreError::NotFound { .. })
    ));
    let live: Vec<_> = store.list(LOG).unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(live, [outcome.entity_id().clone()]);
}

#[test]
fn only_deleted_entities_and_recent_deletes_can_be_undone() {
    let mut store = store();
    let id = synced_entry(&mut store, "live");
    assert!(matches!(
        store.undo_delete(LOG, &id, NOW),
        Err(StoreError::NotFound { .. })
    ));
    let mut ids = Vec::new();
    for i in 0..=TRASH_DEPTH {
        let id = synced_entry(&mut store, &format!("entry {i}"));
        store.delete(LOG, &id, NOW + i as i64).unwrap();
        ids.push(id);
    }
    assert!(
        matches!(
            store.undo_delete(LOG, &ids[0], NOW + DAY),
            Err(StoreError::NotFound { .. })
        ),
        "the oldest delete beyond the depth is forgotten"
    );
    assert!(
        store
            .undo_delete(LOG, &ids[1], NOW + DAY)
            .unwrap()
            .same_id()
    );
}
