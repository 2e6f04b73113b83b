//! Property test: whatever sequence of edits, sends, answers, remote updates, retries and
//! discards happens, every entity's local state equals its base overlaid with its unsettled
//! changes, an entity never has two changes in flight, and `next_pending` never offers two
//! changes of one entity.

use std::collections::HashSet;

use legato_core::apply_patch;
use legato_protocol::{
    ConflictData, EntityId, EntityType, ErrorCode, Fields, Operation, UpdateData,
};
use legato_store::{RetryPolicy, Store, StoreError};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::*;

#[derive(Debug, Clone)]
enum Op {
    Create(usize),
    Notes(usize, u8),
    Duration(usize, u8),
    AddTag(usize, u8),
    Delete(usize),
    Send,
    Ack(u8),
    Reject(u8),
    Conflict(u8),
    Reset,
    Retry,
    Discard,
    Resolve(u8),
    DropConflict,
    Remote(usize, u8),
    RemotePage(usize, u8),
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..3usize;
    prop_oneof![
        slot.clone().prop_map(Op::Create),
        (slot.clone(), any::<u8>()).prop_map(|(s, v)| Op::Notes(s, v)),
        (slot.clone(), any::<u8>()).prop_map(|(s, v)| Op::Duration(s, v)),
        (slot.clone(), any::<u8>()).prop_map(|(s, v)| Op::AddTag(s, v)),
        slot.clone().prop_map(Op::Delete),
        Just(Op::Send),
        Just(Op::Send),
        any::<u8>().prop_map(Op::Ack),
        any::<u8>().prop_map(Op::Ack),
        any::<u8>().prop_map(Op::Reject),
        any::<u8>().prop_map(Op::Conflict),
        Just(Op::Reset),
        Just(Op::Retry),
        Just(Op::Discard),
        any::<u8>().prop_map(Op::Resolve),
        Just(Op::DropConflict),
        (slot, any::<u8>()).prop_map(|(s, v)| Op::Remote(s, v)),
    ]
}

/// [`op`] and remote pages. A separate strategy, so the seeds saved for [`op`] still replay
/// the cases they were saved for.
fn op_or_page() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => op(),
        1 => (0..3usize, any::<u8>()).prop_map(|(s, v)| Op::RemotePage(s, v)),
    ]
}

fn slot_id(slot: usize) -> EntityId {
    EntityId::new(format!("slot-{slot}")).unwrap()
}

/// Errors an op may legitimately meet (editing what is gone, creating what exists).
fn tolerated(result: Result<impl Sized, StoreError>) {
    match result {
        Ok(_)
        | Err(
            StoreError::NotFound { .. }
            | StoreError::Deleted { .. }
            | StoreError::AlreadyExists { .. },
        ) => {}
        Err(err) => panic!("unexpected error: {err:?}"),
    }
}

fn in_flight(store: &Store) -> Vec<(String, String)> {
    let mut stmt = store
        .connection()
        .prepare("SELECT change_id, entity_id FROM outbox WHERE in_flight = 1 ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn pick<T: Clone>(items: &[T], n: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[usize::from(n) % items.len()].clone())
}

fn apply(store: &mut Store, op: &Op, step: i64) {
    let now = NOW + step * MINUTE;
    let policy = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let logbook = EntityType::Logbook;
    match op {
        Op::Create(s) => tolerated(store.create_with_id(
            logbook,
            slot_id(*s),
            entry("2025-11-25T18:00:00.000Z", 30, "new"),
            now,
        )),
        Op::Notes(s, v) => tolerated(store.patch(
            logbook,
            &slot_id(*s),
            fields(json!({"notes": format!("n{v}")})),
            now,
        )),
        Op::Duration(s, v) => tolerated(store.patch(
            logbook,
            &slot_id(*s),
            fields(json!({"duration": 1 + u32::from(*v)})),
            now,
        )),
        Op::AddTag(s, v) => tolerated(store.patch(
            logbook,
            &slot_id(*s),
            fields(json!({"tags": {"$addToSet": [format!("t{}", v % 4)]}})),
            now,
        )),
        Op::Delete(s) => tolerated(store.delete(logbook, &slot_id(*s), now)),
        Op::Send => {
            if let Some(item) = store.next_pending(1, i64::MAX).unwrap().pop() {
                store.mark_in_flight(&[&item.change.change_id]).unwrap();
            }
        }
        Op::Ack(n) => {
            if let Some((change_id, entity_id)) = pick(&in_flight(store), *n) {
                let id = EntityId::new(entity_id).unwrap();
                let known = store.get(logbook, &id).unwrap().unwrap().base_version;
                let is_create =
                    outbox_item(store, &change_id).change.operation == Operation::Create;
                if known == 0 && !is_create {
                    // The server never applied this entity's create: `not_found`.
                    store
                        .record_rejection(&change_id, ErrorCode::NotFound, "unknown", now, &policy)
                        .unwrap();
                } else {
                    store
                        .apply_ack(&change_id, known + 1, &Fields::new())
                        .unwrap();
                }
            }
        }
        Op::Reject(n) => {
            if let Some((change_id, _)) = pick(&in_flight(store), *n) {
                store
                    .record_rejection(&change_id, ErrorCode::Invalid, "no", now, &policy)
                    .unwrap();
            }
        }
        Op::Conflict(n) => {
            if let Some((change_id, entity_id)) = pick(&in_flight(store), *n) {
                let id = EntityId::new(entity_id).unwrap();
                let local = store.get(logbook, &id).unwrap().unwrap();
                let (base_state, _, _) = base(store, logbook, &id);
                let mut remote =
                    base_state.unwrap_or_else(|| entry("2025-11-25T18:00:00.000Z", 30, ""));
                remote.insert("notes".into(), json!("remote"));
                let conflict = ConflictData {
                    change_id,
                    entity_type: logbook,
                    entity_id: id,
                    base_version: local.base_version,
                    remote_version: local.base_version + 1,
                    remote_deleted: n % 5 == 0,
                    local: Fields::new(),
                    remote,
                    fields: vec!["notes".into()],
                };
                store.store_conflict(&conflict, now).unwrap();
            }
        }
        Op::Reset => {
            store.reset_in_flight().unwrap();
        }
        Op::Retry => {
            if let Some(letter) = store.dead_letters().unwrap().first() {
                store.retry_dead_letter(&letter.change.change_id).unwrap();
            }
        }
        Op::Discard => {
            if let Some(letter) = store.dead_letters().unwrap().first() {
                store.discard_dead_letter(&letter.change.change_id).unwrap();
            }
        }
        Op::Resolve(v) => {
            if let Some(stored) = store.conflicts().unwrap().first() {
                let mut resolved = stored.conflict.remote.clone();
                resolved.insert("duration".into(), json!(1 + u32::from(*v)));
                tolerated(store.apply_user_decision(stored.id, resolved, now));
            }
        }
        Op::DropConflict => {
            if let Some(stored) = store.conflicts().unwrap().first() {
                store.discard_conflict(stored.id, now).unwrap();
            }
        }
        Op::Remote(s, v) => {
            let update = remote_update(store, *s, *v, step, now);
            store.apply_remote(&update).unwrap();
        }
        Op::RemotePage(s, v) => {
            // Two entities in one page: with nothing unsettled anywhere, full updates take
            // the store's fast path.
            let page = [
                remote_update(store, *s, *v, step, now),
                remote_update(store, (s + 1) % 3, v.wrapping_add(1), step, now),
            ];
            store.apply_remote_batch(&page, None).unwrap();
        }
    }
}

/// The next server change of slot `s`: its full state if this device does not know the
/// entity, else a partial update on the known version.
fn remote_update(store: &Store, s: usize, v: u8, step: i64, now: i64) -> UpdateData {
    let id = slot_id(s);
    let version = store
        .get(EntityType::Logbook, &id)
        .unwrap()
        .map_or(0, |e| e.base_version);
    let full = version == 0;
    let data = if full {
        json!({"timestamp": "2025-11-25T07:00:00.000Z", "duration": 5, "mood": "neutral"})
    } else {
        json!({"mood": if v.is_multiple_of(2) { "neutral" } else { "excited" }})
    };
    UpdateData {
        entity_type: EntityType::Logbook,
        entity_id: id,
        data: fields(data),
        version: version + 1,
        deleted: v.is_multiple_of(11),
        seq: u64::try_from(step).unwrap(),
        timestamp: now,
        user_id: "u".into(),
        client_id: "other".into(),
        change_id: format!("remote-{step}-{s}"),
        full,
    }
}

/// The store's invariant, recomputed from scratch with SQL and `legato_core`.
fn check_invariant(store: &Store) {
    let conn = store.connection();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT entity_id, state, deleted, {BASE_STATE}, base_deleted FROM entities"
        ))
        .unwrap();
    let rows: Vec<(String, String, bool, Option<String>, bool)> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, state, deleted, base_state, base_deleted) in rows {
        let mut changes = conn
            .prepare(
                "SELECT seq, operation, data FROM outbox WHERE entity_id = ?1
                 UNION ALL SELECT seq, operation, data FROM dead_letters WHERE entity_id = ?1
                 UNION ALL SELECT seq, operation, local FROM conflicts WHERE entity_id = ?1
                 ORDER BY 1",
            )
            .unwrap();
        let changes: Vec<(String, String)> = changes
            .query_map([&id], |r| Ok((r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            base_state.is_some() || base_deleted || !changes.is_empty(),
            "{id}: an entity the server never saw, with nothing unsettled, must be gone"
        );
        let mut expected: Fields = base_state
            .map(|s| serde_json::from_str(&s).unwrap())
            .unwrap_or_default();
        let mut expected_deleted = base_deleted;
        for (operation, data) in changes {
            if operation == "delete" {
                expected_deleted = true;
            } else {
                let data: Fields = serde_json::from_str(&data).unwrap();
                let mut next = expected.clone();
                if apply_patch(&mut next, &data).is_ok() {
                    expected = next;
                }
            }
        }
        let state: Fields = serde_json::from_str(&state).unwrap();
        assert_eq!(
            Value::Object(state),
            Value::Object(expected),
            "{id}: local state"
        );
        assert_eq!(deleted, expected_deleted, "{id}: deleted");
    }
    let flying: Vec<String> = in_flight(store).into_iter().map(|(_, e)| e).collect();
    let distinct: HashSet<&String> = flying.iter().collect();
    assert_eq!(
        flying.len(),
        distinct.len(),
        "two changes of one entity in flight"
    );
    let offered: Vec<String> = store
        .next_pending(100, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|i| i.change.entity_id.to_string())
        .collect();
    let distinct: HashSet<&String> = offered.iter().collect();
    assert_eq!(
        offered.len(),
        distinct.len(),
        "two changes of one entity offered"
    );
    assert!(
        offered.iter().all(|e| !flying.contains(e)),
        "offered while in flight"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn local_state_is_always_base_plus_unsettled_changes(ops in prop::collection::vec(op(), 1..60)) {
        let mut store = store();
        for (step, op) in ops.iter().enumerate() {
            apply(&mut store, op, i64::try_from(step).unwrap() + 1);
            check_invariant(&store);
        }
    }

    #[test]
    fn remote_pages_keep_the_invariant(ops in prop::collection::vec(op_or_page(), 1..60)) {
        let mut store = store();
        for (step, op) in ops.iter().enumerate() {
            apply(&mut store, op, i64::try_from(step).unwrap() + 1);
            check_invariant(&store);
        }
    }
}
