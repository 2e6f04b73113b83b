//! Conflicts (PROTOCOL.md section 4): settled automatically by a strategy, or stored until
//! the user decides. Either way the conflicted change leaves the outbox in the same
//! transaction that records what replaces it, so the user's edit is never in limbo.

use legato_core::merge::{is_bookkeeping_only, is_commutative};
use legato_core::{
    DeleteRule, Resolution, Strategy, delete_against_edit, diff_fields, resolve_conflict,
    validate_state,
};
use legato_protocol::{ConflictData, EntityId, EntityType, Fields, Operation};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::edit::{delete_in, edit_in, new_change, recreate_as, resolution_id, successor_id};
use crate::entity::{
    self, Base, decode_remote, parse_entity_type, parse_fields, parse_operation, to_json,
};
use crate::error::{Result, StoreError};
use crate::outbox::{self, OutboxRow};
use crate::store::{Store, write_tx};
use crate::time::rfc3339_ms;

/// A conflict waiting for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConflict {
    pub id: i64,
    pub conflict: ConflictData,
    /// The operation of the conflicted change.
    pub operation: Operation,
    /// When the user made the conflicted edit (ms since the epoch).
    pub local_timestamp: i64,
    pub created_at: i64,
    /// The base state the conflicted change was made on (the common ancestor of a three-way
    /// merge); `None` when unknown (a change queued before the store kept it).
    pub base: Option<Fields>,
}

/// What settling a conflict did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflictOutcome {
    /// No outbox row has the conflict's change id (a repeated answer): nothing was written.
    Unknown,
    /// This new change (on `baseVersion = remoteVersion`) carries the resolution.
    Pushed { change_id: String },
    /// The server's state stands; nothing to send.
    AcceptedRemote,
    /// The entity was deleted on the server; the user's version lives on under a new id.
    Recreated {
        entity_id: EntityId,
        change_id: String,
    },
    /// Stored for the user ([`Store::conflicts`]).
    Stored { conflict_id: i64 },
    /// This device's delete lost to another device's concurrent edit (strategies `remote`
    /// and `merge`): the entity stays, and the user should be told. `pushed`: the change
    /// that carries this device's other edits of the entity, if any.
    DeleteOverruled { pushed: Option<String> },
}

impl Store {
    /// Stores a conflict for the user to decide (strategy `manual`): the conflicted change
    /// leaves the outbox and waits in `conflicts`, still applied to the local state.
    pub fn store_conflict(
        &mut self,
        conflict: &ConflictData,
        now_ms: i64,
    ) -> Result<ConflictOutcome> {
        self.apply_resolution(conflict, Resolution::Manual, now_ms)
    }

    /// Settles a conflict with `strategy` in one transaction: reads the stored base and local
    /// state, asks `legato_core::resolve_conflict` (or, when this device deleted the entity,
    /// `legato_core::delete_against_edit`), and applies the answer.
    pub fn settle_conflict(
        &mut self,
        conflict: &ConflictData,
        strategy: Strategy,
        now_ms: i64,
    ) -> Result<ConflictOutcome> {
        let tx = write_tx(&mut self.conn)?;
        let Some(row) = outbox::by_change_id(&tx, &conflict.change_id)? else {
            return Ok(ConflictOutcome::Unknown);
        };
        let (entity_type, id) = (conflict.entity_type, conflict.entity_id.as_str());
        let later = outbox::later_unsent(&tx, entity_type, id, row.item.seq)?;
        let deletes = row.item.change.operation == Operation::Delete
            || later
                .iter()
                .any(|r| r.item.change.operation == Operation::Delete);
        // Under `manual` the user decides, unless there is nothing to decide: both sides
        // deleted it, or the other side changed nothing but bookkeeping.
        let decided = strategy != Strategy::Manual
            || conflict.remote_deleted
            || is_bookkeeping_only(conflict);
        let overruled = if deletes && decided {
            match settle_delete(&tx, &self.client_id, conflict, &row, strategy, now_ms)? {
                DeleteSettled::Done(outcome) => {
                    if matches!(outcome, ConflictOutcome::DeleteOverruled { .. }) {
                        fold_back(&tx, &self.client_id, conflict, now_ms)?;
                    }
                    tx.commit()?;
                    return Ok(outcome);
                }
                // The delete went; the conflicted update is settled below.
                DeleteSettled::UpdateLeft => true,
            }
        } else {
            false
        };
        let stored = load_entity(&tx, entity_type, id)?;
        let (base, local) = merge_sides(&tx, conflict, &row, &stored)?;
        let merged = strategy == Strategy::Merge || is_bookkeeping_only(conflict);
        // The change as this device sent it (the outbox row is the authority), without the
        // operators that a later unsent plain value of the same field overrides when the
        // resolution folds those values in.
        let mut sent = conflict.clone();
        sent.local = row.item.change.data.clone();
        if merged {
            let later = outbox::later_unsent(&tx, entity_type, id, row.item.seq)?;
            sent.local.retain(|field, value| {
                !is_commutative(value)
                    || !later.iter().any(|after| {
                        after
                            .item
                            .change
                            .data
                            .get(field)
                            .is_some_and(entity::all_plain_value)
                    })
            });
        }
        let resolution = resolve_conflict(
            strategy,
            base.as_ref(),
            &local,
            &sent,
            row.item.change.timestamp,
        );
        match &resolution {
            // Carries the whole local state: the changes of the deleted id go.
            Resolution::Recreate { .. } => {
                outbox::remove_later_unsent(&tx, entity_type, id, row.item.seq)?;
            }
            // The merge was computed from the plain values of the entity's later unsent
            // changes too. Sent after it (and rebased by its ack), they would overwrite the
            // merged values with ones computed before the other device's edit was known
            // here: they keep only their commutative operations.
            Resolution::Push { .. } if merged || conflict.remote_deleted => {
                outbox::absorb_later_unsent(&tx, entity_type, id, row.item.seq)?;
            }
            _ => {}
        }
        let outcome = settle(
            &tx,
            &self.client_id,
            conflict,
            &row,
            stored.base,
            resolution,
            now_ms,
        )?;
        let outcome = match outcome {
            ConflictOutcome::Pushed { change_id } if overruled => {
                ConflictOutcome::DeleteOverruled {
                    pushed: Some(change_id),
                }
            }
            ConflictOutcome::AcceptedRemote if overruled => {
                ConflictOutcome::DeleteOverruled { pushed: None }
            }
            other => other,
        };
        if overruled {
            fold_back(&tx, &self.client_id, conflict, now_ms)?;
        }
        tx.commit()?;
        Ok(outcome)
    }

    /// Applies a resolution computed by the caller, in one transaction (see
    /// [`Store::settle_conflict`] for the usual path).
    pub fn apply_resolution(
        &mut self,
        conflict: &ConflictData,
        resolution: Resolution,
        now_ms: i64,
    ) -> Result<ConflictOutcome> {
        let tx = write_tx(&mut self.conn)?;
        let Some(row) = outbox::by_change_id(&tx, &conflict.change_id)? else {
            return Ok(ConflictOutcome::Unknown);
        };
        let stored = load_entity(&tx, conflict.entity_type, conflict.entity_id.as_str())?;
        let outcome = settle(
            &tx,
            &self.client_id,
            conflict,
            &row,
            stored.base,
            resolution,
            now_ms,
        )?;
        tx.commit()?;
        Ok(outcome)
    }

    /// Conflicts waiting for the user, oldest first.
    pub fn conflicts(&self) -> Result<Vec<StoredConflict>> {
        Ok(load_conflicts(&self.conn, None)?
            .into_iter()
            .map(|row| row.stored)
            .collect())
    }

    /// This device's side of a stored conflict for a three-way merge against
    /// [`StoredConflict::base`]: that base with this device's unsettled changes of the entity
    /// on top (the conflicted edit included), so a field that only other devices changed
    /// since is not mistaken for a local change. Without a known base, or when the server
    /// deleted the entity (nothing to merge; the whole local state lives on): the entity's
    /// local state. `None` when the entity is gone.
    ///
    /// Use it for `merge`; for "keep mine" and re-creations use the entity's local state
    /// ([`Store::get`]), which also holds what other devices changed elsewhere.
    pub fn conflict_merge_local(&self, conflict: &StoredConflict) -> Result<Option<Fields>> {
        let data = &conflict.conflict;
        let Some(stored) = entity::load(&self.conn, data.entity_type, data.entity_id.as_str())?
        else {
            return Ok(None);
        };
        let Some(base) = conflict.base.clone().filter(|_| !data.remote_deleted) else {
            return Ok(Some(stored.state));
        };
        Ok(Some(overlay_unsettled(
            &self.conn,
            data.entity_type,
            data.entity_id.as_str(),
            base,
        )?))
    }

    /// The user's decision on a stored conflict: `resolved_state` becomes the local state and
    /// an update with its differences from the server's state is queued on `remoteVersion`,
    /// in the conflicted change's place. The entity's later unsent changes lose the
    /// conflicting fields (the decision was made on a view that holds them) and keep the
    /// rest. If the server had deleted the entity, the resolved
    /// state is re-created under a new id instead. Nothing differs: nothing is queued.
    pub fn apply_user_decision(
        &mut self,
        conflict_id: i64,
        resolved_state: Fields,
        now_ms: i64,
    ) -> Result<ConflictOutcome> {
        let tx = write_tx(&mut self.conn)?;
        let taken = take_conflict(&tx, conflict_id)?;
        let conflict = &taken.stored.conflict;
        let (entity_type, id) = (conflict.entity_type, &conflict.entity_id);
        // The user decided the conflicting fields on the local state, which shows the
        // entity's later unsent changes too. Sent after the decision, those would put back
        // values the user turned down: they keep only their other fields. (A re-creation
        // carries the whole local state; the changes of the deleted id go.)
        if conflict.remote_deleted {
            outbox::remove_later_unsent(&tx, entity_type, id.as_str(), taken.seq)?;
        } else {
            outbox::strip_later_unsent(&tx, entity_type, id.as_str(), taken.seq, &conflict.fields)?;
        }
        let outcome = if conflict.remote_deleted {
            recreate(&tx, conflict, resolved_state, &self.client_id, now_ms)?
        } else {
            let remote = decode_remote(&conflict.remote)?.into_owned();
            let mut data = diff_fields(&remote, &resolved_state);
            if data.is_empty() {
                ConflictOutcome::AcceptedRemote
            } else {
                if !data.contains_key("updatedAt") {
                    data.insert("updatedAt".to_owned(), Value::String(rfc3339_ms(now_ms)));
                }
                let mut state = remote;
                state.extend(data.clone());
                validate_state(entity_type, &state)?;
                let mut change = new_change(
                    entity_type,
                    id,
                    Operation::Update,
                    data,
                    conflict.remote_version,
                    &self.client_id,
                    now_ms,
                );
                change.change_id = resolution_id(&conflict.change_id);
                let change_id = change.change_id.clone();
                // Made on the server's state the conflict showed.
                let base = to_json(&remote_state(conflict)?);
                outbox::requeue(&tx, taken.seq, change, false, Some(&base))?;
                ConflictOutcome::Pushed { change_id }
            }
        };
        entity::recompute(&tx, entity_type, id.as_str())?;
        tx.commit()?;
        Ok(outcome)
    }

    /// The user keeps their delete of a stored conflict ("keep mine" on a delete): a delete
    /// on `remoteVersion` is queued in the conflicted change's place, and the entity's later
    /// unsent changes go with it. If the server had deleted the entity too, nothing is
    /// queued.
    pub fn keep_delete(&mut self, conflict_id: i64, now_ms: i64) -> Result<ConflictOutcome> {
        let tx = write_tx(&mut self.conn)?;
        let taken = take_conflict(&tx, conflict_id)?;
        let conflict = &taken.stored.conflict;
        let (entity_type, id) = (conflict.entity_type, &conflict.entity_id);
        outbox::remove_later_unsent(&tx, entity_type, id.as_str(), taken.seq)?;
        let outcome = if conflict.remote_deleted {
            ConflictOutcome::AcceptedRemote
        } else {
            let mut change = new_change(
                entity_type,
                id,
                Operation::Delete,
                Fields::new(),
                conflict.remote_version,
                &self.client_id,
                now_ms,
            );
            change.change_id = resolution_id(&conflict.change_id);
            let change_id = change.change_id.clone();
            let base = to_json(&remote_state(conflict)?);
            outbox::requeue(&tx, taken.seq, change, false, Some(&base))?;
            ConflictOutcome::Pushed { change_id }
        };
        entity::recompute(&tx, entity_type, id.as_str())?;
        tx.commit()?;
        Ok(outcome)
    }

    /// The user accepts the server's version: the conflict and the user's conflicted edit
    /// are dropped, and the local state recomputed without it. A dropped delete is
    /// overruled as under the automatic strategies: if the user undid it meanwhile, the
    /// re-created copy folds back into the entity (`fold_back`).
    pub fn discard_conflict(&mut self, conflict_id: i64, now_ms: i64) -> Result<()> {
        let tx = write_tx(&mut self.conn)?;
        let taken = take_conflict(&tx, conflict_id)?;
        let conflict = &taken.stored.conflict;
        entity::recompute(&tx, conflict.entity_type, conflict.entity_id.as_str())?;
        let alive = entity::load(&tx, conflict.entity_type, conflict.entity_id.as_str())?
            .is_some_and(|row| !row.deleted);
        if taken.stored.operation == Operation::Delete && alive {
            fold_back(&tx, &self.client_id, conflict, now_ms)?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// The base and the local state a conflict of `row` is merged with.
///
/// The base is the one the change was made on, not the entity's current base: a live update
/// may have moved that to the server's state while the change waited or was in flight, and
/// against it the other device's edits would look unchanged (and lose to the local values).
/// The local side is that base with this device's unsettled changes on top, so a field only
/// the server changed since is not taken for a local change either. A row without a stored
/// base (queued before schema version 3) falls back to the entity's base and local state.
/// For a conflict with a remote delete nothing is merged: the local side is the server's
/// last state before the delete with this device's unsettled changes on top, the state a
/// re-creation takes.
fn merge_sides(
    conn: &Connection,
    conflict: &ConflictData,
    row: &OutboxRow,
    stored: &entity::EntityRow,
) -> Result<(Option<Fields>, Fields)> {
    let current = || Ok((stored.base.state.clone(), stored.state.clone()));
    let change = &row.item.change;
    if conflict.remote_deleted {
        // The server's last state before the delete is the fullest one there is (the base
        // may be a catch-up tombstone, `{}`): this device's changes go on top of it. A
        // server that pruned the tombstone sends `remote: {}` (docs/PROTOCOL-NOTES.md,
        // "Pruned tombstones"): this device's own last copy of the server's state stands in.
        let mut remote = remote_state(conflict)?;
        if remote.is_empty() {
            remote = stored.base.state.clone().unwrap_or_default();
        }
        let local = overlay_unsettled(conn, change.entity_type, change.entity_id.as_str(), remote)?;
        return Ok((stored.base.state.clone(), local));
    }
    let Some(base) = row.base_state.clone() else {
        return current();
    };
    let local = overlay_plain_later(
        conn,
        change.entity_type,
        change.entity_id.as_str(),
        base.clone(),
        row.item.seq,
    )?;
    Ok((Some(base), local))
}

/// `state` with the entity's unsettled changes applied in overlay order, except that the
/// changes after `seq` count with their plain values only: their commutative operations
/// stay queued and are applied on top of the resolution when they are sent
/// (`outbox::absorb_later_unsent`).
fn overlay_plain_later(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    mut state: Fields,
    seq: i64,
) -> Result<Fields> {
    let mut deleted = false;
    for mut unsettled in entity::unsettled_changes(conn, entity_type, id)? {
        if unsettled.seq > seq {
            unsettled.data.retain(|_, value| !is_commutative(value));
        }
        entity::overlay(&mut state, &mut deleted, &unsettled);
    }
    Ok(state)
}

/// How many copies deep [`live_predecessor`] looks: a copy deleted in turn and re-created
/// again is the copy's copy ([`crate::edit::recreate_as`]).
const COPY_DEPTH: usize = 3;

/// After a delete of `conflict`'s entity lost to an edit, the entity is alive under its own
/// id. It and the copies an undo of a delete re-creates ([`crate::edit::successor_id`]) are
/// never both alive, because the copy was made only to stand in for the deleted entity:
///
/// - if the user undid the delete while it was in flight, the undo re-created the entity as
///   its successor: a second copy, which folds back into the entity;
/// - if the entity is itself such a copy (its own delete lost, and the entity it stood in
///   for is alive again: that delete lost too), it folds into that entity, and so does its
///   own successor.
///
/// Each fold deletes the copy and joins what the copy holds that it did not grow from to
/// the entity as an edit.
fn fold_back(
    conn: &Connection,
    client_id: &str,
    conflict: &ConflictData,
    now_ms: i64,
) -> Result<()> {
    let entity_type = conflict.entity_type;
    let id = &conflict.entity_id;
    let target = match live_predecessor(conn, entity_type, id)? {
        Some(original) => {
            fold_copy(conn, client_id, entity_type, &original, id, now_ms)?;
            original
        }
        None => id.clone(),
    };
    fold_copy(
        conn,
        client_id,
        entity_type,
        &target,
        &successor_id(id),
        now_ms,
    )
}

/// The live entity that `copy` stands in for: `copy` is its successor, or the successor of
/// a successor deleted in turn (at most [`COPY_DEPTH`] deep). The ids are a hash of the
/// original's, so this scans the live entities of the type, without reading their states.
/// Only a delete that lost comes here.
fn live_predecessor(
    conn: &Connection,
    entity_type: EntityType,
    copy: &EntityId,
) -> Result<Option<EntityId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT entity_id, deleted FROM entities WHERE entity_type = ?1 AND entity_id <> ?2",
    )?;
    let mut live = Vec::new();
    let mut deleted = std::collections::HashSet::new();
    for row in stmt.query_map(params![entity_type.as_str(), copy.as_str()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
    })? {
        let (id, is_deleted) = row?;
        if is_deleted {
            deleted.insert(id);
        } else {
            live.push(id);
        }
    }
    for id in live {
        let Ok(original) = EntityId::new(id) else {
            continue;
        };
        let mut next = successor_id(&original);
        for _ in 0..COPY_DEPTH {
            if &next == copy {
                return Ok(Some(original));
            }
            if !deleted.contains(next.as_str()) {
                break;
            }
            next = successor_id(&next);
        }
    }
    Ok(None)
}

/// Folds the live `copy` into `target`: the copy is deleted, and what it holds that differs
/// from what it grew from (edits made to the copy, here or elsewhere) joins `target` as an
/// edit. Nothing happens when the copy is not here or is deleted.
fn fold_copy(
    conn: &Connection,
    client_id: &str,
    entity_type: EntityType,
    target: &EntityId,
    copy_id: &EntityId,
    now_ms: i64,
) -> Result<()> {
    let Some(copy) = entity::load(conn, entity_type, copy_id.as_str())? else {
        return Ok(());
    };
    if copy.deleted {
        return Ok(());
    }
    tracing::info!(%entity_type, id = %target, copy = %copy_id,
        "a re-created copy of an entity that lives on folds back into it");
    let origin = copy_origin(conn, entity_type, copy_id, &copy)?;
    delete_in(conn, client_id, entity_type, copy_id, now_ms)?;
    // Not a delete of the user's: nothing to undo.
    crate::undo::take(conn, entity_type, copy_id.as_str())?;
    crate::edit::forget_recreation(conn, entity_type, copy_id)?;
    let mut own: Fields = copy
        .state
        .into_iter()
        .filter(|(name, value)| !legato_core::same_value(origin.get(name), Some(value)))
        .collect();
    own.remove("createdAt");
    own.remove("updatedAt");
    if own.is_empty() {
        return Ok(());
    }
    edit_in(conn, client_id, entity_type, target, now_ms, |current| {
        Ok(crate::edit::overlay_diff(current, current, &{
            let mut next = current.clone();
            next.extend(own);
            next
        }))
    })?;
    Ok(())
}

/// What a copy grew from: the state it was re-created with, which this device keeps when it
/// made the copy ([`crate::edit::recreation_origin`]); else its create's base while the
/// create is queued; else its acknowledged base (a copy another device made: edits made to
/// it before it reached this device count as its origin). Only what differs from the origin
/// is an edit of the copy; the rest may be older than the edit that won.
fn copy_origin(
    conn: &Connection,
    entity_type: EntityType,
    copy_id: &EntityId,
    copy: &entity::EntityRow,
) -> Result<Fields> {
    if let Some(origin) = crate::edit::recreation_origin(conn, entity_type, copy_id)? {
        return Ok(origin);
    }
    if let Some(base) = copy.base.state.clone() {
        return Ok(base);
    }
    let created: Option<String> = conn
        .prepare_cached(
            "SELECT base_state FROM outbox WHERE entity_type = ?1 AND entity_id = ?2
               AND operation = 'create' ORDER BY seq LIMIT 1",
        )?
        .query_row(params![entity_type.as_str(), copy_id.as_str()], |r| {
            r.get(0)
        })
        .optional()?
        .flatten();
    Ok(created
        .as_deref()
        .map(entity::parse_fields)
        .transpose()?
        .unwrap_or_default())
}

/// How [`settle_delete`] left a conflict.
enum DeleteSettled {
    /// Settled; nothing more to do.
    Done(ConflictOutcome),
    /// The delete was overruled and removed; the conflicted change is an update still to be
    /// settled by the strategy.
    UpdateLeft,
}

/// Settles a conflict where this device deleted the entity: the conflicted change is the
/// delete, or an update with a delete queued after it. The rules are
/// `legato_core::delete_against_edit`'s; a remote delete too means both sides deleted it:
/// nothing to keep, nothing to send (no re-creation of an entity everyone deleted).
fn settle_delete(
    conn: &Connection,
    client_id: &str,
    conflict: &ConflictData,
    row: &OutboxRow,
    strategy: Strategy,
    now_ms: i64,
) -> Result<DeleteSettled> {
    let (entity_type, id) = (conflict.entity_type, conflict.entity_id.as_str());
    let stored = load_entity(conn, entity_type, id)?;
    let rule = if conflict.remote_deleted {
        DeleteRule::DeleteWins
    } else {
        delete_against_edit(strategy, conflict).unwrap_or(DeleteRule::DeleteWins)
    };
    match rule {
        DeleteRule::DeleteWins => {
            // Everything queued for the entity before or as the delete is moot.
            outbox::remove_later_unsent(conn, entity_type, id, row.item.seq)?;
            let resolution = if conflict.remote_deleted {
                Resolution::AcceptRemote
            } else {
                Resolution::Delete
            };
            let outcome = settle(
                conn,
                client_id,
                conflict,
                row,
                stored.base,
                resolution,
                now_ms,
            )?;
            Ok(DeleteSettled::Done(outcome))
        }
        DeleteRule::EditWins => {
            outbox::remove_later_unsent_deletes(conn, entity_type, id, row.item.seq)?;
            if row.item.change.operation == Operation::Update {
                return Ok(DeleteSettled::UpdateLeft);
            }
            tracing::info!(%entity_type, id, "a delete lost to an edit made elsewhere; the entity stays");
            settle(
                conn,
                client_id,
                conflict,
                row,
                stored.base,
                Resolution::AcceptRemote,
                now_ms,
            )?;
            Ok(DeleteSettled::Done(ConflictOutcome::DeleteOverruled {
                pushed: None,
            }))
        }
    }
}

/// `state` with the entity's unsettled changes applied in overlay order.
fn overlay_unsettled(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    mut state: Fields,
) -> Result<Fields> {
    let mut deleted = false;
    for unsettled in entity::unsettled_changes(conn, entity_type, id)? {
        entity::overlay(&mut state, &mut deleted, &unsettled);
    }
    Ok(state)
}

fn load_entity(conn: &Connection, entity_type: EntityType, id: &str) -> Result<entity::EntityRow> {
    entity::load(conn, entity_type, id)?
        .ok_or_else(|| StoreError::Corrupt(format!("outbox row without entity {id}")))
}

/// Replaces the conflicted outbox row by what `resolution` says, refreshes the base with the
/// server's state from the conflict, and recomputes the local state.
fn settle(
    conn: &Connection,
    client_id: &str,
    conflict: &ConflictData,
    row: &OutboxRow,
    base: Base,
    resolution: Resolution,
    now_ms: i64,
) -> Result<ConflictOutcome> {
    let (entity_type, id) = (conflict.entity_type, &conflict.entity_id);
    outbox::remove(conn, &conflict.change_id)?;
    let base = refreshed_base(base, conflict)?;
    let outcome = match resolution {
        // Pushing an update onto a tombstone would conflict forever.
        Resolution::Push { state, .. } if conflict.remote_deleted => {
            recreate_or_store(conn, client_id, conflict, row, state, now_ms)?
        }
        Resolution::Push { data, .. } if data.is_empty() => ConflictOutcome::AcceptedRemote,
        Resolution::Push { data, .. } => {
            let mut change = new_change(
                entity_type,
                id,
                Operation::Update,
                data,
                conflict.remote_version,
                // This device's client id, also when it settles a change it inherited
                // from the device it is a copy of: the settlement is its own decision,
                // and the original must get it as an update (the server never sends a
                // device a change under its own client id; docs/core-choices.md).
                client_id,
                now_ms,
            );
            change.change_id = resolution_id(&conflict.change_id);
            let change_id = change.change_id.clone();
            let base = to_json(&remote_state(conflict)?);
            outbox::requeue(conn, row.item.seq, change, false, Some(&base))?;
            ConflictOutcome::Pushed { change_id }
        }
        Resolution::Delete => {
            let mut change = new_change(
                entity_type,
                id,
                Operation::Delete,
                Fields::new(),
                conflict.remote_version,
                // This device's client id, also when it settles a change it inherited
                // from the device it is a copy of: the settlement is its own decision,
                // and the original must get it as an update (the server never sends a
                // device a change under its own client id; docs/core-choices.md).
                client_id,
                now_ms,
            );
            change.change_id = resolution_id(&conflict.change_id);
            let change_id = change.change_id.clone();
            let base = to_json(&remote_state(conflict)?);
            outbox::requeue(conn, row.item.seq, change, false, Some(&base))?;
            ConflictOutcome::Pushed { change_id }
        }
        Resolution::AcceptRemote => ConflictOutcome::AcceptedRemote,
        Resolution::Recreate { state } => {
            recreate_or_store(conn, client_id, conflict, row, state, now_ms)?
        }
        Resolution::Manual => ConflictOutcome::Stored {
            conflict_id: insert_conflict(conn, conflict, row, now_ms)?,
        },
    };
    entity::write_with_base(conn, entity_type, id.as_str(), base)?;
    Ok(outcome)
}

/// The server's state in a conflict, inflated.
fn remote_state(conflict: &ConflictData) -> Result<Fields> {
    Ok(decode_remote(&conflict.remote)?.into_owned())
}

/// The conflict carries the server's full current state: a fresher base than ours unless a
/// newer update already arrived.
fn refreshed_base(base: Base, conflict: &ConflictData) -> Result<Base> {
    if conflict.remote_version < base.version {
        return Ok(base);
    }
    Ok(Base {
        state: Some(decode_remote(&conflict.remote)?.into_owned()),
        version: conflict.remote_version,
        deleted: conflict.remote_deleted,
    })
}

/// Re-creates the user's version under a new id; a state that does not validate as a new
/// entity is stored for the user instead of being lost.
fn recreate_or_store(
    conn: &Connection,
    client_id: &str,
    conflict: &ConflictData,
    row: &OutboxRow,
    state: Fields,
    now_ms: i64,
) -> Result<ConflictOutcome> {
    match recreate(conn, conflict, state, client_id, now_ms) {
        Err(StoreError::Validation(err)) => {
            tracing::warn!(%err, change_id = %conflict.change_id, "re-created state is invalid; stored for the user");
            Ok(ConflictOutcome::Stored {
                conflict_id: insert_conflict(conn, conflict, row, now_ms)?,
            })
        }
        other => other,
    }
}

/// Re-creates the user's version of the entity the server deleted, under its successor id
/// (`edit::recreate_as`), grown from the server's last state before the delete.
fn recreate(
    conn: &Connection,
    conflict: &ConflictData,
    mut state: Fields,
    client_id: &str,
    now_ms: i64,
) -> Result<ConflictOutcome> {
    let now = Value::String(rfc3339_ms(now_ms));
    state.entry("createdAt").or_insert_with(|| now.clone());
    state.insert("updatedAt".to_owned(), now);
    let (entity_type, from) = (conflict.entity_type, &conflict.entity_id);
    validate_state(entity_type, &state)?;
    let origin = remote_state(conflict)?;
    let (entity_id, change_id) = recreate_as(
        conn,
        entity_type,
        from,
        state,
        Some(&origin),
        client_id,
        now_ms,
    )?;
    Ok(match change_id {
        Some(change_id) => ConflictOutcome::Recreated {
            entity_id,
            change_id,
        },
        // Another device re-created it with the same values already.
        None => ConflictOutcome::AcceptedRemote,
    })
}

fn insert_conflict(
    conn: &Connection,
    conflict: &ConflictData,
    row: &OutboxRow,
    now_ms: i64,
) -> Result<i64> {
    let change = &row.item.change;
    conn.prepare_cached(
        "INSERT INTO conflicts (seq, change_id, entity_type, entity_id, operation, base_version,
             remote_version, remote_deleted, local, remote, fields, timestamp, created_at,
             base_state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        row.item.seq,
        conflict.change_id,
        conflict.entity_type.as_str(),
        conflict.entity_id.as_str(),
        change.operation.as_str(),
        conflict.base_version,
        conflict.remote_version,
        conflict.remote_deleted,
        // What this device sent: the outbox row is the authority on it.
        to_json(&change.data),
        to_json(&conflict.remote),
        serde_json::to_string(&conflict.fields)?,
        change.timestamp,
        now_ms,
        // The base the change was made on, for the user's three-way view and merge.
        row.base_state.as_ref().map(to_json),
    ])?;
    Ok(conn.last_insert_rowid())
}

/// A stored conflict with its place in the overlay order.
struct ConflictRow {
    seq: i64,
    stored: StoredConflict,
}

/// Raw column values, converted outside the rusqlite callback so corruption is a typed error.
type RawConflict = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    u64,
    u64,
    bool,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
);

fn load_conflicts(conn: &Connection, only: Option<i64>) -> Result<Vec<ConflictRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, seq, change_id, entity_type, entity_id, operation, base_version, remote_version,
                remote_deleted, local, remote, fields, timestamp, created_at, base_state
         FROM conflicts WHERE ?1 IS NULL OR id = ?1 ORDER BY id",
    )?;
    let raws: Vec<RawConflict> = stmt
        .query_map([only], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
                r.get(12)?,
                r.get(13)?,
                r.get(14)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    raws.into_iter().map(conflict_from_raw).collect()
}

fn conflict_from_raw(raw: RawConflict) -> Result<ConflictRow> {
    let (
        id,
        seq,
        change_id,
        entity_type,
        entity_id,
        operation,
        base_version,
        remote_version,
        remote_deleted,
        local,
        remote,
        fields,
        timestamp,
        created_at,
        base_state,
    ) = raw;
    let conflict = ConflictData {
        change_id,
        entity_type: parse_entity_type(&entity_type)?,
        entity_id: EntityId::new(entity_id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        base_version,
        remote_version,
        remote_deleted,
        local: parse_fields(&local)?,
        remote: parse_fields(&remote)?,
        fields: serde_json::from_str(&fields)?,
    };
    Ok(ConflictRow {
        seq,
        stored: StoredConflict {
            id,
            conflict,
            operation: parse_operation(&operation)?,
            local_timestamp: timestamp,
            created_at,
            base: base_state.as_deref().map(parse_fields).transpose()?,
        },
    })
}

/// Reads and deletes a stored conflict.
fn take_conflict(conn: &Connection, conflict_id: i64) -> Result<ConflictRow> {
    let row = load_conflicts(conn, Some(conflict_id))?
        .pop()
        .ok_or(StoreError::ConflictNotFound(conflict_id))?;
    conn.prepare_cached("DELETE FROM conflicts WHERE id = ?1")?
        .execute([conflict_id])?;
    Ok(row)
}
