//! Undoing a delete: the deleted entity's last local state is kept in `trash` (the most
//! recent [`TRASH_DEPTH`] deletes), and [`Store::undo_delete`] brings it back — by
//! cancelling the delete while it has not left the device, else as a new entity.

use legato_core::{diff_fields, validate_state};
use legato_protocol::{EntityId, EntityType, Fields, Operation};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::edit::{insert_create, new_change, queue, recreate_as};
use crate::entity::{self, parse_fields, to_json};
use crate::error::{Result, StoreError};
use crate::outbox;
use crate::store::{Store, write_tx};
use crate::time::rfc3339_ms;

/// How many deleted entities [`Store::undo_delete`] can bring back (the most recent ones).
pub const TRASH_DEPTH: usize = 50;

/// What [`Store::undo_delete`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndoDelete {
    /// The delete had not left the device: it was cancelled and the entity is back under its
    /// own id, as it was before the delete. Nothing about the delete reaches the server.
    Cancelled { entity_id: EntityId },
    /// The delete had been sent (the server may have recorded it): the entity's last state
    /// is re-created under a new id, by this `create` change. The old id stays deleted.
    Recreated {
        entity_id: EntityId,
        change_id: String,
    },
}

impl UndoDelete {
    /// The id the entity lives under now.
    pub fn entity_id(&self) -> &EntityId {
        match self {
            UndoDelete::Cancelled { entity_id } | UndoDelete::Recreated { entity_id, .. } => {
                entity_id
            }
        }
    }

    /// True when the entity came back under its own id.
    pub fn same_id(&self) -> bool {
        matches!(self, UndoDelete::Cancelled { .. })
    }
}

/// Keeps the state an entity had just before its delete (inside the delete's transaction)
/// and forgets the oldest deletes beyond [`TRASH_DEPTH`].
pub(crate) fn keep(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    state: &Fields,
    now_ms: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO trash (entity_type, entity_id, state, deleted_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (entity_type, entity_id) DO UPDATE SET
             state = excluded.state, deleted_at = excluded.deleted_at",
    )?
    .execute(params![entity_type.as_str(), id, to_json(state), now_ms])?;
    conn.prepare_cached(
        "DELETE FROM trash WHERE rowid IN
             (SELECT rowid FROM trash ORDER BY deleted_at DESC, rowid DESC LIMIT -1 OFFSET ?1)",
    )?
    .execute([TRASH_DEPTH])?;
    Ok(())
}

/// Reads and forgets the kept state of a deleted entity.
pub(crate) fn take(conn: &Connection, entity_type: EntityType, id: &str) -> Result<Option<Fields>> {
    let text: Option<String> = conn
        .prepare_cached(
            "DELETE FROM trash WHERE entity_type = ?1 AND entity_id = ?2 RETURNING state",
        )?
        .query_row(params![entity_type.as_str(), id], |row| row.get(0))
        .optional()?;
    text.as_deref().map(parse_fields).transpose()
}

impl Store {
    /// Brings back a deleted entity (one of the [`TRASH_DEPTH`] most recent deletes), in one
    /// transaction:
    ///
    /// - while the delete waits unsent in the outbox, it is cancelled: the queued delete is
    ///   removed and the entity restored under its own id to its state before the delete
    ///   (an unsent edit the delete had absorbed is queued again). Nothing goes to the server
    ///   but what was pending before the delete.
    /// - when the delete was cancelled with an unsent create (the server never saw the
    ///   entity), the entity and its create are written again under its own id.
    /// - once the delete was sent (in flight or acknowledged, refused or in conflict), the
    ///   server may have recorded it, and a deleted id is never resurrected: the state is
    ///   re-created under a new id with a `create` change (`updatedAt` = `now_ms`).
    ///
    /// [`StoreError::NotFound`] when there is nothing to undo (no such delete kept, or the
    /// entity is not deleted).
    pub fn undo_delete(
        &mut self,
        entity_type: EntityType,
        id: &EntityId,
        now_ms: i64,
    ) -> Result<UndoDelete> {
        let nothing = || StoreError::NotFound {
            entity_type,
            id: id.to_string(),
        };
        let tx = write_tx(&mut self.conn)?;
        let current = entity::load(&tx, entity_type, id.as_str())?;
        if current.as_ref().is_some_and(|row| !row.deleted) {
            return Err(nothing());
        }
        let Some(before) = take(&tx, entity_type, id.as_str())? else {
            return Err(nothing());
        };
        let outcome = match current {
            None => {
                insert_create(&tx, entity_type, id, before, &self.client_id, now_ms)?;
                UndoDelete::Cancelled {
                    entity_id: id.clone(),
                }
            }
            Some(row) => match unsent_delete(&tx, entity_type, id.as_str())? {
                Some(delete_id) => {
                    outbox::remove(&tx, &delete_id)?;
                    let base = row.base.clone();
                    entity::write_with_base(&tx, entity_type, id.as_str(), row.base)?;
                    let restored = entity::load(&tx, entity_type, id.as_str())?
                        .ok_or_else(|| StoreError::Corrupt(format!("entity {id} vanished")))?;
                    // What the delete had absorbed: the difference to the state before it.
                    let data = diff_fields(&restored.state, &before);
                    if !data.is_empty() {
                        let change = new_change(
                            entity_type,
                            id,
                            Operation::Update,
                            data,
                            base.version,
                            &self.client_id,
                            now_ms,
                        );
                        queue(&tx, change, &before, &base)?;
                        entity::recompute(&tx, entity_type, id.as_str())?;
                    }
                    UndoDelete::Cancelled {
                        entity_id: id.clone(),
                    }
                }
                None => {
                    let mut state = before.clone();
                    state.insert("updatedAt".to_owned(), Value::String(rfc3339_ms(now_ms)));
                    validate_state(entity_type, &state)?;
                    // The successor id: a re-creation of the same entry by another device
                    // (or its own conflict resolution) becomes the same entity.
                    let (entity_id, change_id) = recreate_as(
                        &tx,
                        entity_type,
                        id,
                        state,
                        Some(&before),
                        &self.client_id,
                        now_ms,
                    )?;
                    UndoDelete::Recreated {
                        entity_id,
                        change_id: change_id.unwrap_or_default(),
                    }
                }
            },
        };
        tx.commit()?;
        Ok(outcome)
    }
}

/// The change id of the entity's delete if it is its newest outbox change and has never been
/// handed to the network.
fn unsent_delete(conn: &Connection, entity_type: EntityType, id: &str) -> Result<Option<String>> {
    Ok(outbox::newest_for_entity(conn, entity_type, id)?
        .filter(|(tail, _)| !tail.sent && tail.item.change.operation == Operation::Delete)
        .map(|(tail, _)| tail.item.change.change_id))
}
