//! Shared fixtures.

use legato_protocol::{EntityId, EntityType, Fields, UpdateData};
use legato_store::{OutboxItem, Store};
use serde_json::{Value, json};

/// 2025-11-25T18:30:00.000Z, a Tuesday.
pub const NOW: i64 = 1_764_095_400_000;
pub const MINUTE: i64 = 60_000;
pub const DAY: i64 = 86_400_000;

pub use legato_testkit::fields;

/// A valid logbook state.
pub fn entry(timestamp: &str, minutes: u32, notes: &str) -> Fields {
    fields(json!({
        "timestamp": timestamp,
        "duration": minutes,
        "type": "practice",
        "notes": notes,
    }))
}

pub fn store() -> Store {
    Store::open_in_memory().unwrap()
}

/// Creates a logbook entry and returns its id and change id.
pub fn create_entry(store: &mut Store, notes: &str) -> (EntityId, String) {
    let edit = store
        .create(
            EntityType::Logbook,
            entry("2025-11-25T18:00:00.000Z", 30, notes),
            NOW,
        )
        .unwrap();
    (edit.entity_id, edit.change_id)
}

/// Creates an entry and has the server acknowledge it at version 1.
pub fn synced_entry(store: &mut Store, notes: &str) -> EntityId {
    let (id, change_id) = create_entry(store, notes);
    store.mark_in_flight(&[&change_id]).unwrap();
    assert!(
        store
            .apply_ack(&change_id, 1, &Fields::new())
            .unwrap()
            .is_acked()
    );
    id
}

/// Creates a goal with `state` and has the server acknowledge it at version 1.
pub fn synced_goal(store: &mut Store, state: Value) -> EntityId {
    let goal = store.create(EntityType::Goals, fields(state), NOW).unwrap();
    store.mark_in_flight(&[&goal.change_id]).unwrap();
    assert!(
        store
            .apply_ack(&goal.change_id, 1, &Fields::new())
            .unwrap()
            .is_acked()
    );
    goal.entity_id
}

/// Every outbox row in order, whatever its state (`next_pending` shows only what is due).
/// Sets the notes of logbook entry `id` at [`NOW`]; the id of the queued change.
pub fn patch_notes(store: &mut Store, id: &EntityId, notes: &str) -> String {
    store
        .patch(
            EntityType::Logbook,
            id,
            fields(serde_json::json!({ "notes": notes })),
            NOW,
        )
        .unwrap()
        .expect("a change was queued")
}

pub fn outbox(store: &Store) -> Vec<OutboxItem> {
    let mut stmt = store
        .connection()
        .prepare("SELECT change_id FROM outbox ORDER BY seq")
        .unwrap();
    let ids: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    ids.iter().map(|id| outbox_item(store, id)).collect()
}

/// One outbox row by change id.
pub fn outbox_item(store: &Store, change_id: &str) -> OutboxItem {
    store
        .connection()
        .query_row(
            "SELECT seq, entity_type, entity_id, operation, data, base_version, timestamp,
                    client_id, attempts, next_attempt_at, last_error, in_flight
             FROM outbox WHERE change_id = ?1",
            [change_id],
            |r| {
                let text = |i: usize| r.get::<_, String>(i);
                Ok(OutboxItem {
                    seq: r.get(0)?,
                    change: legato_protocol::Change {
                        change_id: change_id.to_owned(),
                        entity_type: text(1)?.parse().unwrap(),
                        entity_id: EntityId::new(text(2)?).unwrap(),
                        operation: serde_json::from_value(Value::String(text(3)?)).unwrap(),
                        data: serde_json::from_str(&text(4)?).unwrap(),
                        base_version: r.get(5)?,
                        client_id: text(7)?,
                        timestamp: r.get(6)?,
                    },
                    attempts: r.get(8)?,
                    next_attempt_at: r.get(9)?,
                    last_error: r.get(10)?,
                    in_flight: r.get(11)?,
                })
            },
        )
        .unwrap()
}

/// The transient rejections counted on an outbox row.
pub fn deferrals(store: &Store, change_id: &str) -> u32 {
    store
        .connection()
        .query_row(
            "SELECT deferrals FROM outbox WHERE change_id = ?1",
            [change_id],
            |r| r.get(0),
        )
        .unwrap()
}

/// The SQL expression for an `entities` row's base state (JSON text; NULL: the server never
/// saw the entity). Since migration 4 a base equal to `state` is stored as a flag.
pub const BASE_STATE: &str = "CASE WHEN base_is_state THEN state ELSE base_state END";

/// The stored base of an entity: (state, version, deleted).
pub fn base(store: &Store, entity_type: EntityType, id: &EntityId) -> (Option<Fields>, u64, bool) {
    store
        .connection()
        .query_row(
            &format!(
                "SELECT {BASE_STATE}, base_version, base_deleted FROM entities
                 WHERE entity_type = ?1 AND entity_id = ?2"
            ),
            [entity_type.as_str(), id.as_str()],
            |r| {
                let state: Option<String> = r.get(0)?;
                Ok((
                    state.map(|s| serde_json::from_str(&s).unwrap()),
                    r.get(1)?,
                    r.get(2)?,
                ))
            },
        )
        .unwrap()
}

/// A remote update of a logbook entry.
pub fn update(id: &EntityId, data: Value, version: u64, seq: u64, full: bool) -> UpdateData {
    UpdateData {
        entity_type: EntityType::Logbook,
        entity_id: id.clone(),
        data: fields(data),
        version,
        deleted: false,
        seq,
        timestamp: NOW,
        user_id: "user-1".to_owned(),
        client_id: "other-device".to_owned(),
        change_id: format!("remote-{seq}"),
        full,
    }
}

/// The local state of an entity as a JSON value.
pub fn state(store: &Store, entity_type: EntityType, id: &EntityId) -> Value {
    Value::Object(store.get(entity_type, id).unwrap().unwrap().state)
}
