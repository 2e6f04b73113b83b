//! The sync-engine primitives: picking changes, in flight, acks, rejections, dead letters.

use legato_protocol::{EntityType, ErrorCode, Fields, Operation};
use legato_store::{
    AckOutcome, RejectionOutcome, RemoteOutcome, RetryPolicy, StoreError, SyncState,
};
use serde_json::json;

use crate::support::*;

#[test]
fn next_pending_sends_in_order_one_change_per_entity_when_due() {
    let mut store = store();
    let (a, a_create) = create_entry(&mut store, "a");
    let (_b, b_create) = create_entry(&mut store, "b");
    store.mark_in_flight(&[&a_create]).unwrap();
    let a_update = store
        .patch(EntityType::Logbook, &a, fields(json!({"notes": "a2"})), NOW)
        .unwrap()
        .unwrap();
    let (_c, c_create) = create_entry(&mut store, "c");

    let ids = |items: Vec<legato_store::OutboxItem>| -> Vec<String> {
        items.into_iter().map(|i| i.change.change_id).collect()
    };
    // `a`'s update waits behind its create, which is in flight.
    assert_eq!(
        ids(store.next_pending(10, NOW).unwrap()),
        [b_create.clone(), c_create.clone()]
    );
    assert_eq!(
        ids(store.next_pending(1, NOW).unwrap()),
        std::slice::from_ref(&b_create)
    );

    store
        .record_rejection(
            &b_create,
            ErrorCode::RateLimited,
            "slow down",
            NOW,
            &RetryPolicy::default(),
        )
        .unwrap();
    assert_eq!(
        ids(store.next_pending(10, NOW).unwrap()),
        std::slice::from_ref(&c_create)
    );
    assert_eq!(
        ids(store.next_pending(10, NOW + 1_000).unwrap()),
        [b_create, c_create]
    );

    store.apply_ack(&a_create, 1, &Fields::new()).unwrap();
    assert!(ids(store.next_pending(10, NOW + 1_000).unwrap()).contains(&a_update));
}

#[test]
fn reset_in_flight_puts_changes_back_without_counting_an_attempt() {
    let mut store = store();
    let (_, change_id) = create_entry(&mut store, "a");
    assert_eq!(
        store
            .mark_in_flight(&[change_id.as_str(), "unknown"])
            .unwrap(),
        1
    );
    assert!(store.next_pending(10, NOW).unwrap().is_empty());
    assert_eq!(store.reset_in_flight().unwrap(), 1);
    let pending = store.next_pending(10, NOW).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].attempts, pending[0].in_flight), (0, false));
}

#[test]
fn an_ack_removes_only_its_change_and_moves_the_base() {
    let mut store = store();
    let (a, a_create) = create_entry(&mut store, "a");
    let (b, _) = create_entry(&mut store, "b");
    store.mark_in_flight(&[&a_create]).unwrap();
    let stored = fields(json!({"updatedAt": "2025-11-25T18:30:00.000Z"}));
    assert_eq!(
        store.apply_ack(&a_create, 1, &stored).unwrap(),
        AckOutcome::Acked
    );

    let local = store.get(EntityType::Logbook, &a).unwrap().unwrap();
    assert_eq!((local.base_version, local.sync), (1, SyncState::Synced));
    let (base_state, version, deleted) = base(&store, EntityType::Logbook, &a);
    assert_eq!(base_state.as_ref(), Some(&local.state));
    assert_eq!((version, deleted), (1, false));
    assert_eq!(
        store.get(EntityType::Logbook, &b).unwrap().unwrap().sync,
        SyncState::Pending
    );
    assert_eq!(store.pending_count().unwrap(), 1);

    assert_eq!(
        store.apply_ack(&a_create, 1, &stored).unwrap(),
        AckOutcome::Unknown,
        "duplicate ack"
    );
    assert_eq!(
        store.apply_ack("never-sent", 9, &stored).unwrap(),
        AckOutcome::Unknown
    );
    assert_eq!(store.pending_count().unwrap(), 1);
}

#[test]
fn an_ack_rebases_the_entitys_later_changes() {
    let mut store = store();
    let (id, create) = create_entry(&mut store, "a");
    store.mark_in_flight(&[&create]).unwrap();
    let update = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "b"})),
            NOW + 1,
        )
        .unwrap()
        .unwrap();
    assert_eq!(outbox_item(&store, &update).change.base_version, 0);
    store.apply_ack(&create, 1, &Fields::new()).unwrap();
    assert_eq!(outbox_item(&store, &update).change.base_version, 1);
    let (base_state, _, _) = base(&store, EntityType::Logbook, &id);
    assert_eq!(base_state.unwrap()["notes"], "a");
    assert_eq!(state(&store, EntityType::Logbook, &id)["notes"], "b");
}

#[test]
fn an_ack_takes_the_servers_resolved_operator_values() {
    let mut store = store();
    let goal = store
        .create(
            EntityType::Goals,
            fields(json!({"title": "Daily", "progress": 0})),
            NOW,
        )
        .unwrap();
    store.mark_in_flight(&[&goal.change_id]).unwrap();
    store.apply_ack(&goal.change_id, 1, &Fields::new()).unwrap();
    let inc = store
        .patch(
            EntityType::Goals,
            &goal.entity_id,
            fields(json!({"progress": {"$inc": 2}})),
            NOW,
        )
        .unwrap()
        .unwrap();
    store.mark_in_flight(&[&inc]).unwrap();
    // Another device had added 5 meanwhile: the server's stored value is 7.
    let outcome = store
        .apply_ack(&inc, 3, &fields(json!({"progress": 7})))
        .unwrap();
    assert_eq!(
        outcome,
        AckOutcome::AckedWithGap,
        "version 2 was never seen here"
    );
    assert_eq!(
        state(&store, EntityType::Goals, &goal.entity_id)["progress"],
        7
    );
    let (base_state, version, _) = base(&store, EntityType::Goals, &goal.entity_id);
    assert_eq!(
        (base_state.unwrap()["progress"].clone(), version),
        (json!(7), 3)
    );
}

#[test]
fn a_delete_ack_makes_the_base_a_tombstone() {
    let mut store = store();
    let id = synced_entry(&mut store, "gone");
    let delete = store
        .delete(EntityType::Logbook, &id, NOW)
        .unwrap()
        .unwrap();
    store.mark_in_flight(&[&delete]).unwrap();
    store.apply_ack(&delete, 2, &Fields::new()).unwrap();
    let local = store.get(EntityType::Logbook, &id).unwrap().unwrap();
    assert!(local.deleted);
    assert_eq!((local.base_version, local.sync), (2, SyncState::Synced));
    assert!(base(&store, EntityType::Logbook, &id).2);
}

#[test]
fn rejections_back_off_then_dead_letter_on_the_third_attempt() {
    let mut store = store();
    let id = synced_entry(&mut store, "fine");
    let change = patch_notes(&mut store, &id, "refused");
    let policy = RetryPolicy::default();
    let mut now = NOW;
    for expected_delay in [1_000, 2_000] {
        store.mark_in_flight(&[&change]).unwrap();
        let outcome = store
            .record_rejection(&change, ErrorCode::Invalid, "bad notes", now, &policy)
            .unwrap();
        assert_eq!(outcome, RejectionOutcome::RetryAt(now + expected_delay));
        assert!(
            store
                .next_pending(10, now + expected_delay - 1)
                .unwrap()
                .is_empty()
        );
        now += expected_delay;
        let item = store.next_pending(10, now).unwrap().remove(0);
        assert_eq!(item.last_error.as_deref(), Some("invalid: bad notes"));
    }
    store.mark_in_flight(&[&change]).unwrap();
    let outcome = store
        .record_rejection(&change, ErrorCode::Invalid, "bad notes", now, &policy)
        .unwrap();
    assert_eq!(outcome, RejectionOutcome::DeadLettered);
    assert_eq!(
        (
            store.pending_count().unwrap(),
            store.dead_letter_count().unwrap()
        ),
        (0, 1)
    );

    let letters = store.dead_letters().unwrap();
    assert_eq!(letters[0].change.change_id, change);
    assert_eq!(letters[0].change.data["notes"], "refused");
    assert_eq!(
        (
            letters[0].attempts,
            letters[0].error_code,
            letters[0].failed_at
        ),
        (3, ErrorCode::Invalid, now)
    );
    let local = store.get(EntityType::Logbook, &id).unwrap().unwrap();
    assert_eq!(
        local.state["notes"], "refused",
        "a dead letter stays applied locally"
    );
    assert_eq!(local.sync, SyncState::Failed);
    assert_eq!(
        store
            .record_rejection(&change, ErrorCode::Invalid, "again", now, &policy)
            .unwrap(),
        RejectionOutcome::Unknown
    );
}

#[test]
fn transient_rejections_never_dead_letter() {
    let mut store = store();
    let (_, change) = create_entry(&mut store, "busy server");
    let policy = RetryPolicy::default();
    for attempt in 1..=10 {
        let outcome = store
            .record_rejection(&change, ErrorCode::RateLimited, "slow down", NOW, &policy)
            .unwrap();
        assert_eq!(
            outcome,
            RejectionOutcome::RetryAt(NOW + policy.delay_ms(attempt))
        );
    }
    assert_eq!(store.dead_letter_count().unwrap(), 0);
    let item = &outbox(&store)[0];
    assert_eq!(item.attempts, 0, "transient rejections are not attempts");
    assert_eq!(deferrals(&store, &change), 10);
    assert_eq!(item.last_error.as_deref(), Some("rate_limited: slow down"));
}

#[test]
fn transient_rejections_back_off_exponentially_on_their_own_count() {
    let mut store = store();
    let (_, change) = create_entry(&mut store, "busy server");
    let policy = RetryPolicy::default();
    let mut delays = Vec::new();
    for code in [
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::Unknown,
        ErrorCode::RateLimited,
    ] {
        store.mark_in_flight(&[&change]).unwrap();
        match store
            .record_rejection(&change, code, "later", NOW, &policy)
            .unwrap()
        {
            RejectionOutcome::RetryAt(at) => delays.push(at - NOW),
            other => panic!("{code}: {other:?}"),
        }
        assert!(!outbox(&store)[0].in_flight);
    }
    assert_eq!(delays, [1_000, 2_000, 4_000, 8_000]);

    // A permanent refusal backs off on the attempts (its first), not on the deferrals.
    let outcome = store
        .record_rejection(&change, ErrorCode::Invalid, "no", NOW, &policy)
        .unwrap();
    assert_eq!(outcome, RejectionOutcome::RetryAt(NOW + 1_000));
    // And the deferrals keep growing after it.
    let outcome = store
        .record_rejection(&change, ErrorCode::Internal, "oops", NOW, &policy)
        .unwrap();
    assert_eq!(outcome, RejectionOutcome::RetryAt(NOW + 16_000));
    assert_eq!(outbox(&store)[0].attempts, 1);
}

#[test]
fn only_permanent_rejections_count_towards_the_dead_letters() {
    let mut store = store();
    let id = synced_entry(&mut store, "fine");
    let change = patch_notes(&mut store, &id, "refused");
    let policy = RetryPolicy::default();
    for code in [ErrorCode::RateLimited, ErrorCode::Internal] {
        let outcome = store
            .record_rejection(&change, code, "later", NOW, &policy)
            .unwrap();
        assert!(matches!(outcome, RejectionOutcome::RetryAt(_)), "{code}");
    }
    // Two transient rejections and one permanent one: a single real refusal.
    let outcome = store
        .record_rejection(&change, ErrorCode::Invalid, "bad notes", NOW, &policy)
        .unwrap();
    assert_eq!(outcome, RejectionOutcome::RetryAt(NOW + 1_000));
    assert_eq!(store.dead_letter_count().unwrap(), 0);
    assert_eq!(outbox(&store)[0].attempts, 1);
    assert_eq!(deferrals(&store, &change), 2);

    let outcome = store
        .record_rejection(&change, ErrorCode::Invalid, "bad notes", NOW, &policy)
        .unwrap();
    assert_eq!(outcome, RejectionOutcome::RetryAt(NOW + 2_000));
    let outcome = store
        .record_rejection(&change, ErrorCode::Invalid, "bad notes", NOW, &policy)
        .unwrap();
    assert_eq!(outcome, RejectionOutcome::DeadLettered);
    let letters = store.dead_letters().unwrap();
    assert_eq!(
        (letters[0].attempts, letters[0].error_code),
        (3, ErrorCode::Invalid)
    );

    // Retried, it starts over: attempts and deferrals both at 0.
    store.retry_dead_letter(&change).unwrap();
    let item = outbox_item(&store, &change);
    assert_eq!((item.attempts, item.next_attempt_at), (0, 0));
    assert_eq!(deferrals(&store, &change), 0);
    let outcome = store
        .record_rejection(&change, ErrorCode::RateLimited, "slow down", NOW, &policy)
        .unwrap();
    assert_eq!(outcome, RejectionOutcome::RetryAt(NOW + 1_000));
    let outcome = store
        .record_rejection(&change, ErrorCode::Invalid, "bad notes", NOW, &policy)
        .unwrap();
    assert_eq!(outcome, RejectionOutcome::RetryAt(NOW + 1_000));
}

fn dead_letter(store: &mut legato_store::Store, change_id: &str) {
    let policy = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let outcome = store
        .record_rejection(change_id, ErrorCode::NotFound, "gone", NOW, &policy)
        .unwrap();
    assert_eq!(outcome, RejectionOutcome::DeadLettered);
}

#[test]
fn a_retried_dead_letter_returns_with_its_change_id_in_its_place() {
    let mut store = store();
    let id = synced_entry(&mut store, "v1");
    let first = patch_notes(&mut store, &id, "v2");
    store.mark_in_flight(&[&first]).unwrap();
    let later = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"duration": 50})),
            NOW + 1,
        )
        .unwrap()
        .unwrap();
    dead_letter(&mut store, &first);
    assert_eq!(
        store.next_pending(10, NOW).unwrap()[0].change.change_id,
        later
    );

    store.retry_dead_letter(&first).unwrap();
    assert_eq!(store.dead_letter_count().unwrap(), 0);
    let pending = store.next_pending(10, NOW).unwrap();
    assert_eq!(
        pending[0].change.change_id, first,
        "back ahead of the entity's later change"
    );
    assert_eq!((pending[0].attempts, pending[0].next_attempt_at), (0, 0));
    assert!(matches!(
        store.retry_dead_letter(&first),
        Err(StoreError::DeadLetterNotFound(_))
    ));
    let still = outbox_item(&store, &first);
    store.mark_in_flight(&[&first]).unwrap();
    let folded = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "v3"})),
            NOW + 2,
        )
        .unwrap();
    assert_ne!(folded.as_deref(), Some(first.as_str()));
    assert_eq!(
        outbox_item(&store, &first).change.data,
        still.change.data,
        "a sent change is frozen"
    );
}

#[test]
fn discarding_a_dead_letter_recomputes_the_local_state() {
    let mut store = store();
    let id = synced_entry(&mut store, "v1");
    let first = patch_notes(&mut store, &id, "v2");
    store.mark_in_flight(&[&first]).unwrap();
    store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"duration": 50})),
            NOW + 1,
        )
        .unwrap();
    dead_letter(&mut store, &first);
    store.discard_dead_letter(&first).unwrap();
    let local = state(&store, EntityType::Logbook, &id);
    assert_eq!(
        (local["notes"].clone(), local["duration"].clone()),
        (json!("v1"), json!(50))
    );
    assert!(matches!(
        store.discard_dead_letter(&first),
        Err(StoreError::DeadLetterNotFound(_))
    ));
}

#[test]
fn discarding_a_dead_create_removes_the_entity() {
    let mut store = store();
    let (id, create) = create_entry(&mut store, "never accepted");
    dead_letter(&mut store, &create);
    assert!(store.get(EntityType::Logbook, &id).unwrap().is_some());
    store.discard_dead_letter(&create).unwrap();
    assert!(store.get(EntityType::Logbook, &id).unwrap().is_none());
}

#[test]
fn counts_and_oldest_pending() {
    let mut store = store();
    assert_eq!(store.oldest_pending_ms().unwrap(), None);
    create_entry(&mut store, "a");
    store
        .create(
            EntityType::Logbook,
            entry("2025-11-25T10:00:00.000Z", 5, "b"),
            NOW + 5,
        )
        .unwrap();
    assert_eq!(store.pending_count().unwrap(), 2);
    assert_eq!(store.oldest_pending_ms().unwrap(), Some(NOW));
    assert_eq!(store.dead_letter_count().unwrap(), 0);
    assert_eq!(outbox(&store)[1].change.operation, Operation::Create);
}

#[test]
fn discarding_a_dead_create_takes_the_entitys_later_changes_with_it() {
    let mut store = store();
    let (id, create) = create_entry(&mut store, "refused");
    store.mark_in_flight(&[&create]).unwrap();
    let update = store
        .patch(
            EntityType::Logbook,
            &id,
            fields(json!({"notes": "fixed"})),
            NOW + 1,
        )
        .unwrap()
        .unwrap();
    dead_letter(&mut store, &create);
    assert_eq!(
        store.next_pending(10, NOW).unwrap()[0].change.change_id,
        update
    );
    store.discard_dead_letter(&create).unwrap();
    assert!(store.get(EntityType::Logbook, &id).unwrap().is_none());
    assert_eq!(
        (
            store.pending_count().unwrap(),
            store.dead_letter_count().unwrap()
        ),
        (0, 0)
    );
}

#[test]
fn a_retry_wait_does_not_outlast_a_clock_jumping_back() {
    let mut store = store();
    let id = synced_entry(&mut store, "fine");
    let change = patch_notes(&mut store, &id, "refused once");
    let policy = RetryPolicy::default();
    for code in [ErrorCode::Invalid, ErrorCode::RateLimited] {
        store.mark_in_flight(&[&change]).unwrap();
        store
            .record_rejection(&change, code, "not now", NOW, &policy)
            .unwrap();
        assert!(
            store.next_pending(10, NOW + 1).unwrap().is_empty(),
            "{code}"
        );
        // The clock is set back by a day: the wait is over, not a day longer.
        let due = store.next_pending(10, NOW - DAY).unwrap();
        assert_eq!(due.len(), 1, "{code}");
        assert_eq!(due[0].change.change_id, change);
    }
}

#[test]
fn an_unchanged_ack_does_not_claim_another_devices_version() {
    let mut store = store();
    let id = synced_entry(&mut store, "base");
    // This device sets the notes another device set too, a moment earlier, at version 2
    // (with the duration): the server answers `unchanged` at version 2.
    let change = patch_notes(&mut store, &id, "same");
    store.mark_in_flight(&[&change]).unwrap();
    let outcome = store
        .apply_unchanged_ack(&change, 2, &fields(json!({"notes": "same"})))
        .unwrap();
    assert_eq!(
        outcome,
        AckOutcome::AckedWithGap,
        "a catch-up brings version 2"
    );
    assert_eq!(
        base(&store, EntityType::Logbook, &id).1,
        1,
        "version 2 is not ours"
    );
    // The other device's update of version 2 still applies: nothing of it is lost.
    let applied = store
        .apply_remote(&update(
            &id,
            json!({"notes": "same", "duration": 50}),
            2,
            2,
            false,
        ))
        .unwrap();
    assert_eq!(applied, RemoteOutcome::Applied);
    assert_eq!(
        state(&store, EntityType::Logbook, &id)["duration"],
        json!(50)
    );
}

#[test]
fn a_reused_change_id_resends_only_its_own_plain_values() {
    let mut store = store();
    let id = synced_entry(&mut store, "base");
    let change = patch_notes(&mut store, &id, "mine, grown since the copy");
    store.mark_in_flight(&[&change]).unwrap();
    assert!(store.settle_reused(&change, NOW + MINUTE).unwrap());
    let rows = outbox(&store);
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].change.change_id, change, "again, under a new id");
    assert_eq!(
        rows[0].change.data["notes"],
        json!("mine, grown since the copy")
    );
    assert!(
        !store.settle_reused(&change, NOW).unwrap(),
        "settled already"
    );
}

#[test]
fn a_reused_change_id_of_an_inherited_change_or_an_increment_goes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, copy) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let goal = {
        let mut store = legato_store::Store::open(&path).unwrap();
        let goal = store
            .create(
                EntityType::Goals,
                fields(json!({"title": "G", "progress": 0})),
                NOW,
            )
            .unwrap();
        store.mark_in_flight(&[&goal.change_id]).unwrap();
        store.apply_ack(&goal.change_id, 1, &Fields::new()).unwrap();
        goal.entity_id
    };
    let inc = |store: &mut legato_store::Store| {
        store
            .patch(
                EntityType::Goals,
                &goal,
                fields(json!({"progress": {"$inc": 4}})),
                NOW,
            )
            .unwrap()
            .unwrap()
    };
    let own = inc(&mut legato_store::Store::open(&path).unwrap());
    std::fs::copy(&path, &copy).unwrap();
    let mut copied = legato_store::Store::open(&copy).unwrap();
    assert!(copied.settle_reused(&own, NOW).unwrap());
    assert!(
        outbox(&copied).is_empty(),
        "inherited: the original delivers it"
    );
    let mut original = legato_store::Store::open(&path).unwrap();
    assert!(original.settle_reused(&own, NOW).unwrap());
    assert!(
        outbox(&original).is_empty(),
        "the increment went through already"
    );
}

/// What holds the queue up: the latest refusal of a waiting change, by its code (read from
/// its own column, never from the words), and nothing once that change went through.
#[test]
fn the_latest_refusal_of_a_waiting_change_is_kept_with_its_code() {
    let mut store = store();
    let policy = RetryPolicy::default();
    assert_eq!(store.pending_refusal().unwrap(), None);
    let (_a, a_create) = create_entry(&mut store, "a");
    let (_b, b_create) = create_entry(&mut store, "b");
    store
        .record_rejection(&a_create, ErrorCode::RateLimited, "slow down", NOW, &policy)
        .unwrap();
    store
        .record_rejection(
            &b_create,
            ErrorCode::QuotaExceeded,
            "storage full",
            NOW + 1,
            &policy,
        )
        .unwrap();
    let refusal = store.pending_refusal().unwrap().unwrap();
    assert_eq!(refusal.code, ErrorCode::QuotaExceeded);
    assert_eq!(refusal.message, "quota_exceeded: storage full");
    assert_eq!(
        store.pending_count().unwrap(),
        2,
        "transient refusals keep both queued"
    );
}

/// Simulation seed 4275: a copy of a device's data dir (a restored backup) settles the
/// conflict of an increment it inherited. Its settlement must carry the copy's own client
/// id: the server never sends a device a change under that device's own id, so under the
/// original's id the original never learns of it. The original had been answered
/// `change_id_reused` for the increment (the copy's version came first), dropped it as
/// applied, and showed its progress without it for good.
#[test]
fn a_copy_settles_an_inherited_conflict_under_its_own_client_id() {
    let dir = tempfile::tempdir().unwrap();
    let (path, copy) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let (goal, inc) = {
        let mut store = legato_store::Store::open(&path).unwrap();
        let goal = synced_goal(
            &mut store,
            json!({"title": "G", "type": "practice_time", "progress": 0}),
        );
        let inc = store
            .patch(
                EntityType::Goals,
                &goal,
                fields(json!({"progress": {"$inc": 3}})),
                NOW + MINUTE,
            )
            .unwrap()
            .unwrap();
        (goal, inc)
    };
    let original_client = legato_store::Store::open(&path)
        .unwrap()
        .client_id()
        .to_owned();
    std::fs::copy(&path, &copy).unwrap();
    let mut copied = legato_store::Store::open(&copy).unwrap();
    assert_ne!(copied.client_id(), original_client, "a copy takes a new id");
    let mut remote = copied.get(EntityType::Goals, &goal).unwrap().unwrap().state;
    remote.insert("progress".into(), json!(1));
    remote.insert("updatedAt".into(), json!("2025-11-25T18:30:30.000Z"));
    let conflict = legato_protocol::ConflictData {
        change_id: inc.clone(),
        entity_type: EntityType::Goals,
        entity_id: goal.clone(),
        base_version: 1,
        remote_version: 2,
        remote_deleted: false,
        local: outbox_item(&copied, &inc).change.data,
        remote,
        fields: vec!["updatedAt".into()],
    };
    copied
        .settle_conflict(&conflict, legato_core::Strategy::Merge, NOW + 2 * MINUTE)
        .unwrap();
    let rows = outbox(&copied);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let settlement = &rows[0].change;
    assert_eq!(settlement.data["progress"], json!({"$inc": 3}));
    assert_eq!(
        settlement.client_id,
        copied.client_id(),
        "the copy's own decision, sent to every other device, the original included"
    );
}
