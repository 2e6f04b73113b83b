//! Conflicts waiting for the user: the per-field view (base / mine / theirs / merged) and
//! turning the user's [`ConflictResolution`] into what the store applies. Pure functions,
//! tested here; the merge itself is `legato_core`'s.

use legato_core::merge::BOOKKEEPING_FIELDS;
use legato_core::{decode_deflated, merge_three_way, write_time_ms};
use legato_protocol::{EntityType, Fields};
use legato_store::{ConflictOutcome, Store, StoredConflict};
use serde_json::Value;

use crate::ipc::error::IpcError;
use crate::ipc::types::{
    ConflictField, ConflictId, ConflictResolution, ConflictView, ResolveOutcome, Resolved, Side,
};

/// What the store is asked to do with a stored conflict.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Drop this device's conflicted edit; the server's state stands.
    Discard,
    /// This state becomes the entity's state (pushed on the server's version, or re-created
    /// under a new id when the server deleted the entity).
    Resolve(Fields),
}

/// The three states of a conflict, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Sides {
    /// The common ancestor: the base the conflicted change was made on, when the store knows
    /// it ([`StoredConflict::base`]).
    pub base: Option<Fields>,
    /// This device's current state of the entity (the conflicted edit still applied).
    pub mine: Fields,
    /// The server's state.
    pub theirs: Fields,
    /// The automatic three-way merge.
    pub merged: Fields,
}

impl Sides {
    /// `local`: the entity's local state (`None` if the store has no such entity, then the
    /// server's state with the conflicted change's fields on top stands in for it).
    /// `merge_local`: this device's side for the merge (`Store::conflict_merge_local`: the
    /// base with this device's own edits); `None`: `local`.
    pub fn new(
        conflict: &StoredConflict,
        local: Option<Fields>,
        merge_local: Option<Fields>,
    ) -> Self {
        let data = &conflict.conflict;
        let base = conflict.base.clone();
        // The server may send long strings compressed; what is shown and merged is text.
        let theirs = decode_deflated(&data.remote).unwrap_or_else(|_| data.remote.clone());
        let mine = local.unwrap_or_else(|| {
            let mut state = theirs.clone();
            state.extend(data.local.clone());
            state
        });
        let empty = Fields::new();
        let merged = merge_three_way(
            base.as_ref().unwrap_or(&empty),
            merge_local.as_ref().unwrap_or(&mine),
            &theirs,
            conflict.local_timestamp,
            write_time_ms(&theirs).unwrap_or(i64::MIN),
        );
        Sides {
            base,
            mine,
            theirs,
            merged,
        }
    }
}

pub fn conflict_view(conflict: &StoredConflict, sides: &Sides) -> ConflictView {
    let data = &conflict.conflict;
    let value = |state: Option<&Fields>, field: &str| {
        state
            .and_then(|s| s.get(field))
            .cloned()
            .unwrap_or(Value::Null)
    };
    ConflictView {
        id: ConflictId(conflict.id),
        entity_type: data.entity_type.into(),
        entity_id: data.entity_id.to_string(),
        operation: conflict.operation.into(),
        remote_deleted: data.remote_deleted,
        edited_at: conflict.local_timestamp,
        created_at: conflict.created_at,
        base_known: sides.base.is_some(),
        // `updatedAt` differs in every conflict (each edit stamps it) and is settled without
        // the user; offering it as a choice would only confuse.
        fields: data
            .fields
            .iter()
            .filter(|field| !BOOKKEEPING_FIELDS.contains(&field.as_str()))
            .map(|field| ConflictField {
                field: field.clone(),
                base: value(sides.base.as_ref(), field),
                mine: value(Some(&sides.mine), field),
                theirs: value(Some(&sides.theirs), field),
                merged: value(Some(&sides.merged), field),
            })
            .collect(),
        mine: sides.mine.clone(),
        theirs: sides.theirs.clone(),
        merged: sides.merged.clone(),
    }
}

/// The user's choice as a store decision. Per-field choices may name only the conflicting
/// fields.
pub fn decide(
    conflict: &StoredConflict,
    sides: &Sides,
    resolution: ConflictResolution,
) -> Result<Decision, IpcError> {
    Ok(match resolution {
        ConflictResolution::KeepTheirs => Decision::Discard,
        ConflictResolution::KeepMine => Decision::Resolve(sides.mine.clone()),
        ConflictResolution::Merge => Decision::Resolve(sides.merged.clone()),
        ConflictResolution::Edited { state } => Decision::Resolve(state),
        ConflictResolution::Fields { choices } => {
            let conflicting = &conflict.conflict.fields;
            if let Some(unknown) = choices.keys().find(|f| !conflicting.contains(f)) {
                return Err(IpcError::invalid(
                    "choices",
                    format!("`{unknown}` is not one of the conflicting fields"),
                ));
            }
            let mut state = sides.mine.clone();
            for (field, side) in choices {
                if side == Side::Theirs {
                    match sides.theirs.get(&field) {
                        Some(value) => state.insert(field, value.clone()),
                        None => state.remove(&field),
                    };
                }
            }
            Decision::Resolve(state)
        }
    })
}

// ---------------------------------------------------------------------------------------
// Store-thread operations of the conflict commands (run inside `StoreHandle::call`).

/// The sides of a stored conflict as the store holds them: the entity's local state and,
/// for the merge, the conflict's base with this device's own edits.
fn sides(store: &Store, conflict: &StoredConflict) -> legato_store::Result<Sides> {
    let data = &conflict.conflict;
    let local = store
        .get(data.entity_type, &data.entity_id)?
        .map(|entity| entity.state);
    let merge_local = store.conflict_merge_local(conflict)?;
    Ok(Sides::new(conflict, local, merge_local))
}

/// Every conflict waiting for the user, oldest first.
pub fn list(store: &Store) -> legato_store::Result<Vec<ConflictView>> {
    store
        .conflicts()?
        .into_iter()
        .map(|conflict| Ok(conflict_view(&conflict, &sides(store, &conflict)?)))
        .collect()
}

/// What resolving did: the entity type, the ids that changed, and the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub entity_type: EntityType,
    /// The conflicted entity, then the new one after a re-creation.
    pub changed: Vec<String>,
    pub resolved: Resolved,
}

/// Reads conflict `id`, turns `resolution` into a decision and applies it, in one job.
/// Fails with the user's input (`not_found`, `invalid`) or the store's error.
pub fn resolve(
    store: &mut Store,
    id: ConflictId,
    resolution: ConflictResolution,
    now_ms: i64,
) -> Result<Applied, IpcError> {
    let ConflictId(id) = id;
    let Some(conflict) = store.conflicts()?.into_iter().find(|c| c.id == id) else {
        return Err(IpcError::not_found(format!(
            "no conflict {id} waits for a decision"
        )));
    };
    let sides = sides(store, &conflict)?;
    let decision = decide(&conflict, &sides, resolution)?;
    let outcome = match decision {
        Decision::Discard => {
            store.discard_conflict(id, now_ms)?;
            ConflictOutcome::AcceptedRemote
        }
        Decision::Resolve(state) => store.apply_user_decision(id, state, now_ms)?,
    };
    let data = conflict.conflict;
    let entity_id = data.entity_id.to_string();
    let (outcome, result_id) = match outcome {
        ConflictOutcome::Pushed { .. } | ConflictOutcome::DeleteOverruled { pushed: Some(_) } => {
            (ResolveOutcome::Pushed, entity_id.clone())
        }
        ConflictOutcome::AcceptedRemote
        | ConflictOutcome::Unknown
        | ConflictOutcome::DeleteOverruled { pushed: None } => {
            (ResolveOutcome::AcceptedRemote, entity_id.clone())
        }
        ConflictOutcome::Recreated { entity_id: new, .. } => {
            (ResolveOutcome::Recreated, new.to_string())
        }
        ConflictOutcome::Stored { .. } => {
            return Err(IpcError::internal("a resolved conflict was stored again"));
        }
    };
    let mut changed = vec![entity_id];
    if result_id != changed[0] {
        changed.push(result_id.clone());
    }
    Ok(Applied {
        entity_type: data.entity_type,
        changed,
        resolved: Resolved {
            outcome,
            entity_id: result_id,
        },
    })
}

#[cfg(test)]
mod tests {
    use legato_protocol::{ConflictData, EntityId, Operation};
    use serde_json::json;

    use super::*;

    use legato_testkit::fields;

    fn stored() -> StoredConflict {
        StoredConflict {
            id: 7,
            conflict: ConflictData {
                change_id: "c1".into(),
                entity_type: EntityType::Logbook,
                entity_id: EntityId::new("e1").unwrap(),
                base_version: 1,
                remote_version: 2,
                remote_deleted: false,
                local: fields(json!({"notes": "mine", "duration": 30})),
                remote: fields(json!({
                    "timestamp": "2026-11-25T10:00:00.000Z", "duration": 45, "notes": "theirs",
                    "tags": ["a"], "updatedAt": "2026-11-25T11:00:00.000Z",
                })),
                fields: vec!["notes".into(), "duration".into()],
            },
            operation: Operation::Update,
            local_timestamp: 1_795_604_400_000, // 2026-11-25T11:00:00Z
            created_at: 1_795_604_500_000,
            base: None,
        }
    }

    fn local() -> Fields {
        fields(json!({
            "timestamp": "2026-11-25T10:00:00.000Z", "duration": 30, "notes": "mine",
            "tags": ["a"], "updatedAt": "2026-11-25T11:00:00.000Z",
        }))
    }

    #[test]
    fn the_view_shows_each_conflicting_field_from_every_side() {
        let conflict = stored();
        let sides = Sides::new(&conflict, Some(local()), None);
        let view = conflict_view(&conflict, &sides);
        assert!(!view.base_known);
        assert_eq!(view.id, ConflictId(7));
        let notes = &view.fields[0];
        assert_eq!(notes.field, "notes");
        assert_eq!(
            (&notes.base, &notes.mine, &notes.theirs),
            (&Value::Null, &json!("mine"), &json!("theirs"))
        );
        // Section 4: notes concatenated, duration the larger.
        assert_eq!(notes.merged, json!("mine\n\n---\n\ntheirs"));
        assert_eq!(view.fields[1].merged, json!(45));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["entityType"], json!("logbook"));
        assert_eq!(json["operation"], json!("update"));
        assert_eq!(json["fields"][1]["field"], json!("duration"));
    }

    #[test]
    fn resolutions_become_store_decisions() {
        let conflict = stored();
        let sides = Sides::new(&conflict, Some(local()), None);
        assert_eq!(
            decide(&conflict, &sides, ConflictResolution::KeepTheirs).unwrap(),
            Decision::Discard
        );
        assert_eq!(
            decide(&conflict, &sides, ConflictResolution::KeepMine).unwrap(),
            Decision::Resolve(local())
        );
        let Decision::Resolve(merged) =
            decide(&conflict, &sides, ConflictResolution::Merge).unwrap()
        else {
            panic!("merge resolves");
        };
        assert_eq!(merged["duration"], json!(45));

        let choices = [("duration".to_owned(), Side::Theirs)].into();
        let Decision::Resolve(state) =
            decide(&conflict, &sides, ConflictResolution::Fields { choices }).unwrap()
        else {
            panic!("fields resolve");
        };
        assert_eq!(
            (&state["duration"], &state["notes"]),
            (&json!(45), &json!("mine"))
        );

        let choices = [("tags".to_owned(), Side::Theirs)].into();
        let err = decide(&conflict, &sides, ConflictResolution::Fields { choices }).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("choices"));

        let edited = fields(json!({"timestamp": "2026-11-25T10:00:00.000Z", "duration": 50}));
        assert_eq!(
            decide(
                &conflict,
                &sides,
                ConflictResolution::Edited {
                    state: edited.clone()
                }
            )
            .unwrap(),
            Decision::Resolve(edited)
        );
    }

    #[test]
    fn resolutions_deserialize_from_the_ts_shape() {
        let r: ConflictResolution =
            serde_json::from_value(json!({"kind": "fields", "choices": {"notes": "theirs"}}))
                .unwrap();
        assert_eq!(
            r,
            ConflictResolution::Fields {
                choices: [("notes".to_owned(), Side::Theirs)].into()
            }
        );
        let r: ConflictResolution = serde_json::from_value(json!({"kind": "keepMine"})).unwrap();
        assert_eq!(r, ConflictResolution::KeepMine);
    }

    #[test]
    fn without_a_local_entity_the_change_on_the_server_state_stands_in() {
        let conflict = stored();
        let sides = Sides::new(&conflict, None, None);
        assert_eq!(sides.mine["notes"], json!("mine"));
        assert_eq!(sides.mine["tags"], json!(["a"]));
    }

    /// A stored conflict in a real store: an acknowledged entry whose notes this device
    /// changed while the server got other notes (strategy `manual`).
    fn store_with_conflict() -> (Store, EntityId) {
        let mut store = Store::open_in_memory().unwrap();
        let state = fields(json!({
            "timestamp": "2026-11-25T10:00:00.000Z", "duration": 30, "notes": "base",
            "tags": ["a"],
        }));
        let edit = store.create(EntityType::Logbook, state, 1).unwrap();
        let id = edit.entity_id;
        let sent = |store: &mut Store| {
            let item = store.next_pending(1, i64::MAX).unwrap().remove(0);
            store.mark_in_flight(&[&item.change.change_id]).unwrap();
            item.change
        };
        let create = sent(&mut store);
        store.apply_ack(&create.change_id, 1, &create.data).unwrap();
        let mut patch = Fields::new();
        patch.insert("notes".into(), json!("mine"));
        store.patch(EntityType::Logbook, &id, patch, 2).unwrap();
        let update = sent(&mut store);
        let mut remote = store.get(EntityType::Logbook, &id).unwrap().unwrap().state;
        remote.insert("notes".into(), json!("theirs"));
        remote.insert("duration".into(), json!(50));
        let conflict = ConflictData {
            change_id: update.change_id,
            entity_type: EntityType::Logbook,
            entity_id: id.clone(),
            base_version: 1,
            remote_version: 2,
            remote_deleted: false,
            local: update.data,
            remote,
            fields: vec!["notes".into()],
        };
        store.store_conflict(&conflict, 3).unwrap();
        (store, id)
    }

    #[test]
    fn stored_conflicts_are_listed_and_resolved_per_field() {
        let (mut store, id) = store_with_conflict();
        let views = list(&store).unwrap();
        assert_eq!(views.len(), 1);
        let view = &views[0];
        assert_eq!(view.entity_id, id.as_str());
        assert!(view.base_known);
        assert_eq!(view.fields[0].base, json!("base"));
        assert_eq!(
            (&view.fields[0].mine, &view.fields[0].theirs),
            (&json!("mine"), &json!("theirs"))
        );
        assert_eq!(view.theirs["duration"], json!(50));

        let bad = resolve(
            &mut store,
            view.id,
            ConflictResolution::Fields {
                choices: [("duration".to_owned(), Side::Theirs)].into(),
            },
            4,
        )
        .unwrap_err();
        assert_eq!(bad.field.as_deref(), Some("choices"));

        let applied = resolve(
            &mut store,
            view.id,
            ConflictResolution::Fields {
                choices: [("notes".to_owned(), Side::Theirs)].into(),
            },
            4,
        )
        .unwrap();
        assert_eq!(applied.entity_type, EntityType::Logbook);
        assert_eq!(applied.changed, vec![id.to_string()]);
        assert!(list(&store).unwrap().is_empty());
        let state = store.get(EntityType::Logbook, &id).unwrap().unwrap().state;
        assert_eq!(
            (&state["notes"], &state["duration"]),
            (&json!("theirs"), &json!(50))
        );

        let gone = resolve(&mut store, view.id, ConflictResolution::KeepMine, 5).unwrap_err();
        assert_eq!(gone.code, crate::ipc::error::ErrorCode::NotFound);
    }

    #[test]
    fn a_known_base_shows_in_the_view_and_drives_the_merge() {
        let mut conflict = stored();
        conflict.base = Some(fields(json!({
            "timestamp": "2026-11-25T10:00:00.000Z", "duration": 30, "notes": "mine",
            "tags": ["a"], "updatedAt": "2026-11-25T09:00:00.000Z",
        })));
        // Only the server changed the notes since the base: theirs is taken, not joined.
        let sides = Sides::new(&conflict, Some(local()), None);
        let view = conflict_view(&conflict, &sides);
        assert!(view.base_known);
        assert_eq!(view.fields[0].base, json!("mine"));
        assert_eq!(view.fields[0].merged, json!("theirs"));
    }

    /// The manual path after a live update moved the entity's base while this device's edit
    /// waited: the stored conflict still shows (and merges against) the original base.
    #[test]
    fn a_live_update_before_the_conflict_does_not_hide_the_other_edit() {
        let mut store = Store::open_in_memory().unwrap();
        let state = fields(json!({
            "timestamp": "2026-11-25T10:00:00.000Z", "duration": 30, "notes": "base",
        }));
        let id = store
            .create(EntityType::Logbook, state, 1)
            .unwrap()
            .entity_id;
        let create = store.next_pending(1, i64::MAX).unwrap().remove(0).change;
        store.mark_in_flight(&[&create.change_id]).unwrap();
        store
            .apply_ack(&create.change_id, 1, &Fields::new())
            .unwrap();
        let mut patch = Fields::new();
        patch.insert("notes".into(), json!("mine"));
        store.patch(EntityType::Logbook, &id, patch, 2).unwrap();
        let theirs = fields(json!({"notes": "theirs", "updatedAt": "2026-11-25T11:00:00.000Z"}));
        store
            .apply_remote_batch(
                &[legato_protocol::UpdateData {
                    entity_type: EntityType::Logbook,
                    entity_id: id.clone(),
                    data: theirs.clone(),
                    version: 2,
                    deleted: false,
                    seq: 2,
                    timestamp: 2,
                    user_id: "u".into(),
                    client_id: "other".into(),
                    change_id: "r2".into(),
                    full: false,
                }],
                Some(2),
            )
            .unwrap();
        let update = store.next_pending(1, i64::MAX).unwrap().remove(0).change;
        store.mark_in_flight(&[&update.change_id]).unwrap();
        let mut remote = store.get(EntityType::Logbook, &id).unwrap().unwrap().state;
        remote.extend(theirs);
        store
            .store_conflict(
                &ConflictData {
                    change_id: update.change_id,
                    entity_type: EntityType::Logbook,
                    entity_id: id.clone(),
                    base_version: 1,
                    remote_version: 2,
                    remote_deleted: false,
                    local: update.data,
                    remote,
                    fields: vec!["notes".into(), "updatedAt".into()],
                },
                3,
            )
            .unwrap();
        let view = list(&store).unwrap().remove(0);
        assert!(view.base_known);
        assert_eq!(view.fields.len(), 1, "updatedAt is not offered as a choice");
        let notes = &view.fields[0];
        assert_eq!(
            (&notes.base, &notes.mine, &notes.theirs),
            (&json!("base"), &json!("mine"), &json!("theirs"))
        );
        assert_eq!(notes.merged, json!("mine\n\n---\n\ntheirs"));
        resolve(&mut store, view.id, ConflictResolution::Merge, 4).unwrap();
        let state = store.get(EntityType::Logbook, &id).unwrap().unwrap().state;
        assert_eq!(state["notes"], json!("mine\n\n---\n\ntheirs"));
    }

    #[test]
    fn keeping_mine_pushes_and_keeping_theirs_drops_the_edit() {
        let (mut store, id) = store_with_conflict();
        let conflict = list(&store).unwrap()[0].id;
        let applied = resolve(&mut store, conflict, ConflictResolution::KeepMine, 4).unwrap();
        assert_eq!(applied.resolved.outcome, ResolveOutcome::Pushed);
        let state = store.get(EntityType::Logbook, &id).unwrap().unwrap().state;
        assert_eq!(
            (&state["notes"], &state["duration"]),
            (&json!("mine"), &json!(50))
        );

        let (mut store, id) = store_with_conflict();
        let conflict = list(&store).unwrap()[0].id;
        let applied = resolve(&mut store, conflict, ConflictResolution::KeepTheirs, 4).unwrap();
        assert_eq!(applied.resolved.outcome, ResolveOutcome::AcceptedRemote);
        let state = store.get(EntityType::Logbook, &id).unwrap().unwrap().state;
        assert_eq!(state["notes"], json!("theirs"));
    }
}
