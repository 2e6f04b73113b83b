//! User edits: create, update (full state or patch), delete. Each validates the resulting
//! state and writes the entity and its outbox change in one transaction, folding the edit
//! into the entity's last change when that change has never been sent.

use legato_core::fields::same_value;
use legato_core::{apply_patch, diff_fields, validate_state};
use legato_protocol::{Change, EntityId, EntityType, FieldValue, Fields, Operation};
use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;

use crate::entity::{self, Base, EntityRow};
use crate::error::{Result, StoreError};
use crate::outbox::{self, OutboxRow};
use crate::store::{Store, write_tx};
use crate::time::rfc3339_ms;

/// A saved edit: the entity it touched and the outbox change that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub entity_id: EntityId,
    pub change_id: String,
}

/// A fresh id for an entity or a change: UUID v7 (time-ordered, so the server's indexes and
/// the outbox stay in roughly insertion order).
pub(crate) fn new_uuid() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Store {
    /// Creates an entity with a fresh id. `createdAt`/`updatedAt` are set to `now_ms` when
    /// absent.
    pub fn create(&mut self, entity_type: EntityType, state: Fields, now_ms: i64) -> Result<Edit> {
        let id = EntityId::new(new_uuid())?;
        self.create_with_id(entity_type, id, state, now_ms)
    }

    /// Creates an entity with an id chosen by the caller (imports, re-created conflicts).
    /// An id that exists, even as a tombstone, is [`StoreError::AlreadyExists`].
    pub fn create_with_id(
        &mut self,
        entity_type: EntityType,
        id: EntityId,
        mut state: Fields,
        now_ms: i64,
    ) -> Result<Edit> {
        stamp_created(&mut state, now_ms);
        validate_state(entity_type, &state)?;
        let tx = write_tx(&mut self.conn)?;
        let change_id = insert_create(&tx, entity_type, &id, state, &self.client_id, now_ms)?;
        tx.commit()?;
        Ok(Edit {
            entity_id: id,
            change_id,
        })
    }

    /// Replaces the entity's state with `new_state`. The change carries only the fields that
    /// differ (a field missing from `new_state` is cleared to `null`). Returns the change id
    /// that carries the edit, or `None` when nothing changed (nothing is queued).
    pub fn update(
        &mut self,
        entity_type: EntityType,
        id: &EntityId,
        new_state: Fields,
        now_ms: i64,
    ) -> Result<Option<String>> {
        self.edit(entity_type, id, now_ms, |current| {
            Ok(overlay_diff(current, current, &new_state))
        })
    }

    /// Applies a patch: plain values and the commutative operators `$inc`, `$addToSet`,
    /// `$pull` (which never conflict on the server). Fields whose value the patch does not
    /// change are left out of the change; `None` when nothing changed.
    pub fn patch(
        &mut self,
        entity_type: EntityType,
        id: &EntityId,
        patch: Fields,
        now_ms: i64,
    ) -> Result<Option<String>> {
        self.edit(entity_type, id, now_ms, |current| {
            let mut next = current.clone();
            apply_patch(&mut next, &patch)?;
            let data = patch
                .into_iter()
                .filter(|(k, _)| !same_value(next.get(k), current.get(k)))
                .collect();
            Ok((data, next))
        })
    }

    /// Deletes an entity (a tombstone that syncs like any change). Deleting a deleted
    /// entity changes nothing; deleting one the server never saw, whose create is still
    /// unsent, removes it and its create without a trace. Returns the change id, or `None`
    /// when nothing is left to send. The tombstone keeps the base's state overlaid with the
    /// changes still to be sent (an unsent update folded into the delete is gone).
    pub fn delete(
        &mut self,
        entity_type: EntityType,
        id: &EntityId,
        now_ms: i64,
    ) -> Result<Option<String>> {
        let tx = write_tx(&mut self.conn)?;
        let queued = delete_in(&tx, &self.client_id, entity_type, id, now_ms)?;
        tx.commit()?;
        Ok(queued)
    }

    /// The shared update path: `make` turns the current local state into (change data, new
    /// local state). An empty change queues nothing.
    pub(crate) fn edit(
        &mut self,
        entity_type: EntityType,
        id: &EntityId,
        now_ms: i64,
        make: impl FnOnce(&Fields) -> Result<(Fields, Fields)>,
    ) -> Result<Option<String>> {
        let tx = write_tx(&mut self.conn)?;
        let queued = edit_in(&tx, &self.client_id, entity_type, id, now_ms, make)?;
        tx.commit()?;
        Ok(queued)
    }
}

/// [`Store::delete`] inside the caller's transaction.
pub(crate) fn delete_in(
    tx: &Connection,
    client_id: &str,
    entity_type: EntityType,
    id: &EntityId,
    now_ms: i64,
) -> Result<Option<String>> {
    let current =
        entity::load(tx, entity_type, id.as_str())?.ok_or_else(|| not_found(entity_type, id))?;
    if current.deleted {
        return Ok(None);
    }
    let change = new_change(
        entity_type,
        id,
        Operation::Delete,
        Fields::new(),
        current.base.version,
        client_id,
        now_ms,
    );
    let queued = queue(tx, change, &current.state, &current.base)?;
    crate::undo::keep(tx, entity_type, id.as_str(), &current.state, now_ms)?;
    // Recomputed rather than flagged: a delete may have absorbed a pending update, whose
    // values then no longer belong in the tombstone; a cancelled create leaves nothing,
    // and the recompute removes the row.
    entity::write_with_base(tx, entity_type, id.as_str(), current.base)?;
    Ok(queued.into_change_id())
}

/// The shared update path inside the caller's transaction (see [`Store::edit`]).
pub(crate) fn edit_in(
    tx: &Connection,
    client_id: &str,
    entity_type: EntityType,
    id: &EntityId,
    now_ms: i64,
    make: impl FnOnce(&Fields) -> Result<(Fields, Fields)>,
) -> Result<Option<String>> {
    let current = load_live(tx, entity_type, id)?;
    let (mut data, mut state) = make(&current.state)?;
    if data.is_empty() {
        return Ok(None);
    }
    stamp_updated(&mut data, &mut state, now_ms);
    validate_state(entity_type, &state)?;
    let change = new_change(
        entity_type,
        id,
        Operation::Update,
        data,
        current.base.version,
        client_id,
        now_ms,
    );
    let queued = queue(tx, change, &state, &current.base)?;
    entity::write(
        tx,
        entity_type,
        id.as_str(),
        &EntityRow {
            state,
            deleted: false,
            base: current.base,
        },
    )?;
    Ok(queued.into_change_id())
}

/// The change from `old` to `new` and the local state after it: `current` overlaid with the
/// differing fields. `old` is `current` itself, or its canonical form when a typed model
/// rewrote it (so spelling differences are not pushed as edits). The overlay rather than
/// `new` itself: a field missing from `new` becomes `null`, exactly as the server and a
/// later recompute will see it.
pub(crate) fn overlay_diff(current: &Fields, old: &Fields, new: &Fields) -> (Fields, Fields) {
    let data = diff_fields(old, new);
    let mut state = current.clone();
    state.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
    (data, state)
}

/// The fixed namespace of re-creation ids (UUID v5).
const RECREATION_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6c65_6761_746f_4000_8000_7265_6372_6561);

/// The id an entity deleted under `from` is re-created under: the same on every device
/// (UUID v5 of `from`), so two devices that each keep their edit of an entry deleted
/// elsewhere, or undo its delete, re-create one entity, not two.
pub(crate) fn successor_id(from: &EntityId) -> EntityId {
    let id = uuid::Uuid::new_v5(&RECREATION_NAMESPACE, from.as_str().as_bytes());
    EntityId::new(id.to_string()).expect("a UUID is a valid entity id")
}

/// The fixed namespace of resolution change ids (UUID v5).
const RESOLUTION_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6c65_6761_746f_4000_8000_7265_736f_6c76);

/// The change id of the change that settles the conflict of change `conflicted`: a function
/// of it, so every copy of a device (a restored backup holds the same unsent changes) that
/// settles the same conflict pushes under the same id. The server applies it once, and a
/// copy whose settlement differs is told `change_id_reused` instead of applying it again
/// (an increment counted twice).
pub(crate) fn resolution_id(conflicted: &str) -> String {
    uuid::Uuid::new_v5(&RESOLUTION_NAMESPACE, conflicted.as_bytes()).to_string()
}

/// Re-creates `state` (a deleted entity's) under its successor id. If that entity is here
/// already (another device re-created it first), `state`'s differing fields join it as an
/// edit; if it was deleted in turn, the next successor is taken. Returns the id and the
/// change that carries it (`None`: nothing differed).
pub(crate) fn recreate_as(
    conn: &Connection,
    entity_type: EntityType,
    from: &EntityId,
    state: Fields,
    origin: Option<&Fields>,
    client_id: &str,
    now_ms: i64,
) -> Result<(EntityId, Option<String>)> {
    let mut id = successor_id(from);
    loop {
        let Some(row) = entity::load(conn, entity_type, id.as_str())? else {
            let change_id =
                insert_create_from(conn, entity_type, &id, state, origin, client_id, now_ms)?;
            return Ok((id, Some(change_id)));
        };
        if row.deleted {
            id = successor_id(&id);
            continue;
        }
        let data: Fields = state
            .into_iter()
            .filter(|(name, value)| !same_value(row.state.get(name), Some(value)))
            .collect();
        if data.is_empty() {
            return Ok((id, None));
        }
        let mut local_after = row.state.clone();
        local_after.extend(data.clone());
        let change = new_change(
            entity_type,
            &id,
            Operation::Update,
            data,
            row.base.version,
            client_id,
            now_ms,
        );
        let queued = queue(conn, change, &local_after, &row.base)?;
        entity::write(
            conn,
            entity_type,
            id.as_str(),
            &EntityRow {
                state: local_after,
                deleted: false,
                base: row.base,
            },
        )?;
        return Ok((id, queued.into_change_id()));
    }
}

/// Writes a new entity and its `create` change (inside the caller's transaction). An id
/// that exists, even as a tombstone, is [`StoreError::AlreadyExists`].
pub(crate) fn insert_create(
    conn: &Connection,
    entity_type: EntityType,
    id: &EntityId,
    state: Fields,
    client_id: &str,
    now_ms: i64,
) -> Result<String> {
    insert_create_from(conn, entity_type, id, state, None, client_id, now_ms)
}

/// [`insert_create`] of an entity whose state grew from `origin` (a re-creation: the deleted
/// entity's last state). The create's merge base is `origin`, so when another device
/// re-created the same entity first, only what each side changed since counts.
pub(crate) fn insert_create_from(
    conn: &Connection,
    entity_type: EntityType,
    id: &EntityId,
    state: Fields,
    origin: Option<&Fields>,
    client_id: &str,
    now_ms: i64,
) -> Result<String> {
    let state_json = entity::to_json(&state);
    if !entity::insert_new(conn, entity_type, id.as_str(), &state, &state_json)? {
        return Err(StoreError::AlreadyExists {
            entity_type,
            id: id.to_string(),
        });
    }
    // The create's data is the full state: stored from the same serialization.
    let change = new_change(
        entity_type,
        id,
        Operation::Create,
        Fields::new(),
        0,
        client_id,
        now_ms,
    );
    // Made on nothing: the server has never seen this entity (or on the state it grew from).
    let base = origin.map_or_else(|| "{}".to_owned(), entity::to_json);
    outbox::insert_json(conn, None, &change, &state_json, false, Some(&base))?;
    if origin.is_some() {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO recreations (entity_type, entity_id, origin)
             VALUES (?1, ?2, ?3)",
        )?
        .execute(rusqlite::params![entity_type.as_str(), id.as_str(), base])?;
    }
    Ok(change.change_id)
}

/// The state this device re-created the copy `id` with (kept past the create's ack, so a
/// later fold knows what the copy's own edits are).
pub(crate) fn recreation_origin(
    conn: &Connection,
    entity_type: EntityType,
    id: &EntityId,
) -> Result<Option<Fields>> {
    let origin: Option<String> = conn
        .prepare_cached("SELECT origin FROM recreations WHERE entity_type = ?1 AND entity_id = ?2")?
        .query_row(rusqlite::params![entity_type.as_str(), id.as_str()], |r| {
            r.get(0)
        })
        .optional()?;
    origin.as_deref().map(entity::parse_fields).transpose()
}

/// Forgets the kept origin of a copy that has folded back.
pub(crate) fn forget_recreation(
    conn: &Connection,
    entity_type: EntityType,
    id: &EntityId,
) -> Result<()> {
    conn.prepare_cached("DELETE FROM recreations WHERE entity_type = ?1 AND entity_id = ?2")?
        .execute(rusqlite::params![entity_type.as_str(), id.as_str()])?;
    Ok(())
}

pub(crate) fn new_change(
    entity_type: EntityType,
    id: &EntityId,
    operation: Operation,
    data: Fields,
    base_version: u64,
    client_id: &str,
    now_ms: i64,
) -> Change {
    Change {
        change_id: new_uuid(),
        entity_type,
        entity_id: id.clone(),
        operation,
        data,
        base_version,
        client_id: client_id.to_owned(),
        timestamp: now_ms,
    }
}

fn not_found(entity_type: EntityType, id: &EntityId) -> StoreError {
    StoreError::NotFound {
        entity_type,
        id: id.to_string(),
    }
}

/// The entity's row, which must exist and not be deleted.
fn load_live(conn: &Connection, entity_type: EntityType, id: &EntityId) -> Result<EntityRow> {
    let row =
        entity::load(conn, entity_type, id.as_str())?.ok_or_else(|| not_found(entity_type, id))?;
    if row.deleted {
        return Err(StoreError::Deleted {
            entity_type,
            id: id.to_string(),
        });
    }
    Ok(row)
}

/// `createdAt` and `updatedAt` are "set by the client" (PROTOCOL.md 1.1): this is where.
pub(crate) fn stamp_created(state: &mut Fields, now_ms: i64) {
    let now = Value::String(rfc3339_ms(now_ms));
    for field in ["createdAt", "updatedAt"] {
        if state.get(field).is_none_or(Value::is_null) {
            state.insert(field.to_owned(), now.clone());
        }
    }
}

/// Sets `updatedAt` on a real change, unless the caller set it explicitly.
fn stamp_updated(data: &mut Fields, state: &mut Fields, now_ms: i64) {
    if data.get("updatedAt").is_some_and(|v| !v.is_null()) {
        return;
    }
    let now = Value::String(rfc3339_ms(now_ms));
    data.insert("updatedAt".to_owned(), now.clone());
    state.insert("updatedAt".to_owned(), now);
}

/// What queueing an edit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Queued {
    /// The edit travels in this change (new, or an unsent one it was folded into).
    Change(String),
    /// A delete cancelled an unsent create: nothing is left to send.
    Cancelled,
}

impl Queued {
    fn into_change_id(self) -> Option<String> {
        match self {
            Queued::Change(id) => Some(id),
            Queued::Cancelled => None,
        }
    }
}

/// Queues `change`, folding it into the entity's newest outbox change when that one was never
/// sent and nothing of the entity is in flight. `local_after` is the local state with the
/// edit applied. A cancelled create leaves the entity row for the caller to remove.
pub(crate) fn queue(
    conn: &Connection,
    change: Change,
    local_after: &Fields,
    base: &Base,
) -> Result<Queued> {
    if let Some((tail, any_in_flight)) =
        outbox::newest_for_entity(conn, change.entity_type, change.entity_id.as_str())?
        && !tail.sent
        && !any_in_flight
    {
        match fold(&tail, &change, local_after) {
            Fold::Into { operation, data } => {
                let id = tail.item.change.change_id;
                outbox::rewrite(conn, &id, operation, &data, change.timestamp)?;
                return Ok(Queued::Change(id));
            }
            Fold::Cancel if base.state.is_none() && only_unsettled_change(conn, &change)? => {
                outbox::remove(conn, &tail.item.change.change_id)?;
                return Ok(Queued::Cancelled);
            }
            Fold::Cancel | Fold::Append => {}
        }
    }
    // A folded edit keeps the base of the change it joined (its first unsent edit's); a
    // new change is made on the entity's base as it stands.
    outbox::insert(conn, None, &change, false, Some(&outbox::base_json(base)))?;
    Ok(Queued::Change(change.change_id))
}

fn only_unsettled_change(conn: &Connection, change: &Change) -> Result<bool> {
    Ok(entity::unsettled_changes(conn, change.entity_type, change.entity_id.as_str())?.len() == 1)
}

/// How a new edit combines with the entity's unsent newest change.
#[derive(Debug, Clone, PartialEq)]
enum Fold {
    /// Rewrite the unsent change as this.
    Into { operation: Operation, data: Fields },
    /// create + delete: the server never saw the entity; both disappear.
    Cancel,
    /// Keep the unsent change and append the new one.
    Append,
}

fn fold(tail: &OutboxRow, new: &Change, local_after: &Fields) -> Fold {
    let old = &tail.item.change;
    // A change that holds a commutative operation is never folded into, nor is one folded
    // into another change: its content stays what it was when the user made it. A copy of
    // the data dir (a restored backup) may send the same change id too, and the server
    // applies whichever arrives first; with fixed content both are the same edit, and a
    // device told `change_id_reused` knows the operations went through
    // (`Store::settle_reused`). Plain values fold as before.
    let has_op = |data: &Fields| data.values().any(legato_core::merge::is_commutative);
    if old.operation != Operation::Create && (has_op(&old.data) || has_op(&new.data)) {
        return Fold::Append;
    }
    match (old.operation, new.operation) {
        // The create carries the full state, so it simply carries the newest one.
        (Operation::Create, Operation::Update) => Fold::Into {
            operation: Operation::Create,
            data: local_after.clone(),
        },
        (Operation::Update, Operation::Update) => {
            match merge_updates(&old.data, &new.data, local_after) {
                Some(data) => Fold::Into {
                    operation: Operation::Update,
                    data,
                },
                None => Fold::Append,
            }
        }
        (Operation::Create, Operation::Delete) => Fold::Cancel,
        (Operation::Update, Operation::Delete) => Fold::Into {
            operation: Operation::Delete,
            data: Fields::new(),
        },
        _ => Fold::Append,
    }
}

/// Merges two consecutive update datas into one with the same effect: later plain values
/// win; an operator after a plain value becomes the resulting plain value; `$inc` after
/// `$inc` adds up. Other operator sequences (`$addToSet` then `$pull` of the same field…)
/// do not fold: `None`, and the edit gets its own change.
fn merge_updates(older: &Fields, newer: &Fields, local_after: &Fields) -> Option<Fields> {
    let mut merged = older.clone();
    for (field, value) in newer {
        let combined = match (
            older.get(field).map(FieldValue::classify),
            FieldValue::classify(value),
        ) {
            (_, FieldValue::Plain(_))
            | (None, FieldValue::Inc(_) | FieldValue::AddToSet(_) | FieldValue::Pull(_)) => {
                value.clone()
            }
            (
                Some(FieldValue::Plain(_)),
                FieldValue::Inc(_) | FieldValue::AddToSet(_) | FieldValue::Pull(_),
            ) => local_after.get(field).cloned().unwrap_or(Value::Null),
            (Some(FieldValue::Inc(a)), FieldValue::Inc(b)) => {
                serde_json::json!({ "$inc": a.checked_add(b)? })
            }
            _ => return None,
        };
        merged.insert(field.clone(), combined);
    }
    Some(merged)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    use legato_testkit::fields;

    #[test]
    fn later_plain_values_win() {
        let merged = merge_updates(
            &fields(json!({"notes": "a", "duration": 10})),
            &fields(json!({"notes": "b", "mood": "neutral"})),
            &Fields::new(),
        );
        assert_eq!(
            merged.map(Value::Object),
            Some(json!({"notes": "b", "duration": 10, "mood": "neutral"}))
        );
    }

    #[test]
    fn operators_fold_when_the_result_is_exact() {
        let after = fields(json!({"progress": 7, "tags": ["a", "b"]}));
        let merged = merge_updates(
            &fields(json!({"progress": 5, "tags": {"$addToSet": ["a"]}})),
            &fields(json!({"progress": {"$inc": 2}})),
            &after,
        );
        assert_eq!(
            merged.map(Value::Object),
            Some(json!({"progress": 7, "tags": {"$addToSet": ["a"]}}))
        );
        let incs = merge_updates(
            &fields(json!({"progress": {"$inc": 2}})),
            &fields(json!({"progress": {"$inc": 3}})),
            &after,
        );
        assert_eq!(
            incs.map(Value::Object),
            Some(json!({"progress": {"$inc": 5}}))
        );
    }

    #[test]
    fn ambiguous_operator_sequences_do_not_fold() {
        let merged = merge_updates(
            &fields(json!({"tags": {"$addToSet": ["a"]}})),
            &fields(json!({"tags": {"$pull": ["a"]}})),
            &Fields::new(),
        );
        assert_eq!(merged, None);
        let overflow = merge_updates(
            &fields(json!({"progress": {"$inc": i64::MAX}})),
            &fields(json!({"progress": {"$inc": 1}})),
            &Fields::new(),
        );
        assert_eq!(overflow, None);
    }

    #[test]
    fn created_and_updated_at_are_stamped_once() {
        let mut state = fields(json!({"createdAt": "2020-01-01T00:00:00.000Z"}));
        stamp_created(&mut state, 1_764_095_400_000);
        assert_eq!(state["createdAt"], "2020-01-01T00:00:00.000Z");
        assert_eq!(state["updatedAt"], "2025-11-25T18:30:00.000Z");

        let mut data = fields(json!({"notes": "x"}));
        let mut state = Fields::new();
        stamp_updated(&mut data, &mut state, 0);
        assert_eq!(data["updatedAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(state["updatedAt"], data["updatedAt"]);
        let mut explicit = fields(json!({"updatedAt": "2020-01-01T00:00:00.000Z"}));
        stamp_updated(&mut explicit, &mut Fields::new(), 0);
        assert_eq!(explicit["updatedAt"], "2020-01-01T00:00:00.000Z");
    }
}
