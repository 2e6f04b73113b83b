//! Reopening, and a full disk.

use legato_core::Strategy;
use legato_protocol::{EntityType, ErrorCode};
use legato_store::{ConflictOutcome, RetryPolicy, Store, StoreError};
use serde_json::json;

use crate::support::*;

#[test]
fn everything_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legato.db");
    let (client_id, pending, letters, conflicts, cursor, listed) = {
        let mut store = Store::open(&path).unwrap();
        let synced = synced_entry(&mut store, "synced");
        create_entry(&mut store, "pending");
        let (_, dead) = create_entry(&mut store, "dead");
        let policy = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        };
        store
            .record_rejection(&dead, ErrorCode::Invalid, "no", NOW, &policy)
            .unwrap();
        let change = patch_notes(&mut store, &synced, "mine");
        store.mark_in_flight(&[&change]).unwrap();
        let conflict = legato_protocol::ConflictData {
            change_id: change,
            entity_type: EntityType::Logbook,
            entity_id: synced.clone(),
            base_version: 1,
            remote_version: 2,
            remote_deleted: false,
            local: fields(json!({"notes": "mine"})),
            remote: entry("2025-11-25T18:00:00.000Z", 30, "theirs"),
            fields: vec!["notes".into()],
        };
        let outcome = store
            .settle_conflict(&conflict, Strategy::Manual, NOW)
            .unwrap();
        assert!(matches!(outcome, ConflictOutcome::Stored { .. }));
        store.apply_remote_batch(&[], Some(42)).unwrap();
        (
            store.client_id().to_owned(),
            outbox(&store),
            store.dead_letters().unwrap(),
            store.conflicts().unwrap(),
            store.cursor().unwrap(),
            store.list(EntityType::Logbook).unwrap(),
        )
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.client_id(), client_id);
    assert_eq!(outbox(&store), pending);
    assert_eq!(store.dead_letters().unwrap(), letters);
    assert_eq!(store.conflicts().unwrap(), conflicts);
    assert_eq!(store.cursor().unwrap(), cursor);
    assert_eq!(cursor, 42);
    assert_eq!(store.list(EntityType::Logbook).unwrap(), listed);
    assert_eq!(listed.len(), 3);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn a_full_disk_fails_the_save_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("full.db")).unwrap();
    let (first, _) = create_entry(&mut store, "before the disk filled up");
    let pages: i64 = store
        .connection()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    store
        .connection()
        .execute_batch(&format!("PRAGMA max_page_count = {}", pages + 2))
        .unwrap();

    let big = "x".repeat(15_000);
    let mut saved = vec![first];
    let err = loop {
        match store.create(
            EntityType::Logbook,
            entry("2025-11-25T18:00:00.000Z", 30, &big),
            NOW,
        ) {
            Ok(edit) => saved.push(edit.entity_id),
            Err(err) => break err,
        }
        assert!(saved.len() < 100, "the page limit never hit");
    };
    assert!(matches!(err, StoreError::DiskFull), "{err:?}");
    assert!(err.is_retryable());
    for id in &saved {
        assert!(store.get(EntityType::Logbook, id).unwrap().is_some());
    }
    assert_eq!(store.pending_count().unwrap(), saved.len() as u64);

    store
        .connection()
        .execute_batch("PRAGMA max_page_count = 1073741823")
        .unwrap();
    let (after, _) = create_entry(&mut store, "after space was freed");
    assert!(store.get(EntityType::Logbook, &after).unwrap().is_some());
    assert_eq!(store.pending_count().unwrap(), saved.len() as u64 + 1);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

/// `mark_in_flight` commits without an fsync, so a power loss may roll a mark back after
/// the change id reached the server. Simulated here by clearing the mark behind the store's
/// back (what the rolled-back database looks like): at open the store treats the oldest
/// change of each entity as possibly sent and never folds into it; later changes, which
/// were never sendable, still take edits.
#[test]
fn a_mark_lost_to_a_power_loss_still_freezes_the_change_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legato.db");
    let (id, create_id, second) = {
        let mut store = Store::open(&path).unwrap();
        let (id, create_id) = create_entry(&mut store, "a");
        assert_eq!(store.mark_in_flight(&[&create_id]).unwrap(), 1);
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
        (id, create_id, second)
    };
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute("UPDATE outbox SET sent = 0, in_flight = 0", [])
            .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    let sent: Vec<(String, bool)> = store
        .connection()
        .prepare("SELECT change_id, sent FROM outbox ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        sent,
        vec![(create_id.clone(), true), (second.clone(), false)]
    );
    // Never sendable before the create's answer: it still takes edits.
    let third = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "c"})),
            NOW + 2,
        )
        .unwrap()
        .unwrap();
    assert_eq!(third, second);
    assert_eq!(outbox_item(&store, &create_id).change.data["notes"], "a");
    assert_eq!(state(&store, EntityType::Logbook, &id)["notes"], "c");

    // An entity whose only change is unsent at open: that change may have been sent.
    let (other, other_create) = create_entry(&mut store, "x");
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute("UPDATE outbox SET sent = 0", []).unwrap();
    }
    drop(store);
    let mut store = Store::open(&path).unwrap();
    let next = store
        .patch(
            EntityType::Logbook,
            &other,
            fields(json!({"notes": "y"})),
            NOW + 3,
        )
        .unwrap()
        .unwrap();
    assert_ne!(
        next, other_create,
        "never folded into a possibly sent change"
    );
    assert_eq!(outbox_item(&store, &other_create).change.data["notes"], "x");
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

/// The relaxed commit of `mark_in_flight` (and of `apply_remote_batch`) leaves the
/// connection at `FULL` for the next edit, also when it marked nothing.
#[test]
fn marks_and_remote_applies_restore_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("legato.db")).unwrap();
    let level = |store: &Store| -> i64 {
        store
            .connection()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    };
    let (id, create_id) = create_entry(&mut store, "a");
    let second = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "b"})),
            NOW + 1,
        )
        .unwrap()
        .unwrap();
    assert_eq!(store.mark_in_flight(&[&create_id]).unwrap(), 1);
    assert_eq!(level(&store), 2, "FULL after a relaxed mark");
    // Not the oldest change of its entity: marked at the connection's own level.
    assert_eq!(store.mark_in_flight(&[&second]).unwrap(), 1);
    assert_eq!(level(&store), 2);
    assert_eq!(store.mark_in_flight(&["unknown"]).unwrap(), 0);
    assert_eq!(level(&store), 2);
    store.apply_remote_batch(&[], Some(3)).unwrap();
    assert_eq!(level(&store), 2);
}
