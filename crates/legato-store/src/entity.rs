//! Entity rows: reading, writing (with the derived query columns) and recomputing the local
//! state from the base and the unsettled changes.
//!
//! The invariant every write keeps: an entity's `state`/`deleted` equal its base overlaid
//! with its unsettled changes (outbox rows, dead letters, stored conflicts) in `seq` order.
//! User edits write the new local state directly (it is the old one plus the edit); anything
//! that changes the base or removes a change calls [`write_with_base`], which recomputes it.

use std::borrow::Cow;

use legato_core::{apply_patch, decode_deflated};
use legato_protocol::{EntityType, FieldValue, Fields, Operation};
use rusqlite::{CachedStatement, Connection, OptionalExtension, params};
use serde_json::Value;

use crate::error::{Result, StoreError};
use crate::time::parse_rfc3339_ms;

/// The base of an entity: what the server last acknowledged.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Base {
    /// `None`: the server has never seen this entity.
    pub state: Option<Fields>,
    pub version: u64,
    pub deleted: bool,
}

/// One stored entity row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EntityRow {
    pub state: Fields,
    pub deleted: bool,
    pub base: Base,
}

/// A change that is still applied to the local state: an outbox row, a dead letter or the
/// local side of a stored conflict.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UnsettledChange {
    /// Its place in the overlay order (outbox, dead letter and conflict seqs share one
    /// sequence).
    pub seq: i64,
    pub operation: Operation,
    pub data: Fields,
}

pub(crate) fn parse_fields(text: &str) -> Result<Fields> {
    Ok(serde_json::from_str(text)?)
}

pub(crate) fn to_json(fields: &Fields) -> String {
    serde_json::to_string(fields).expect("a JSON map always serializes")
}

pub(crate) fn parse_operation(text: &str) -> Result<Operation> {
    match text {
        "create" => Ok(Operation::Create),
        "update" => Ok(Operation::Update),
        "delete" => Ok(Operation::Delete),
        other => Err(StoreError::Corrupt(format!("unknown operation `{other}`"))),
    }
}

pub(crate) fn parse_entity_type(text: &str) -> Result<EntityType> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("unknown entity type `{text}`")))
}

/// Reads one entity row, tombstones included.
pub(crate) fn load(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
) -> Result<Option<EntityRow>> {
    let raw = conn
        .prepare_cached(
            "SELECT state, deleted, base_state, base_version, base_deleted, base_is_state
             FROM entities WHERE entity_type = ?1 AND entity_id = ?2",
        )?
        .query_row(params![entity_type.as_str(), id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get::<_, bool>(5)?,
            ))
        })
        .optional()?;
    let Some((state, deleted, base_state, base_version, base_deleted, base_is_state)) = raw else {
        return Ok(None);
    };
    let state = parse_fields(&state)?;
    let base_state = if base_is_state {
        // Stored once (migration 4): parsed once.
        Some(state.clone())
    } else {
        base_state.as_deref().map(parse_fields).transpose()?
    };
    Ok(Some(EntityRow {
        state,
        deleted,
        base: Base {
            state: base_state,
            version: base_version,
            deleted: base_deleted,
        },
    }))
}

/// Columns derived from the local state so the UI queries need no JSON parsing.
#[derive(Debug, Clone, PartialEq, Default)]
struct Derived {
    ts_ms: Option<i64>,
    duration_min: Option<i64>,
    search_text: Option<String>,
}

fn derive(entity_type: EntityType, state: &Fields) -> Derived {
    let text_fields: &[&str] = match entity_type {
        EntityType::Logbook => &["notes"],
        EntityType::Repertoire => &["title", "composer", "notes"],
        EntityType::Goals => &["title", "description", "notes"],
    };
    let mut parts: Vec<&str> = text_fields
        .iter()
        .filter_map(|f| state.get(*f).and_then(Value::as_str))
        .collect();
    if entity_type == EntityType::Logbook {
        parts.extend(piece_texts(state));
    }
    let search_text = (!parts.is_empty()).then(|| parts.join("\n").to_lowercase());
    match entity_type {
        EntityType::Logbook => Derived {
            ts_ms: state
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339_ms),
            duration_min: state.get("duration").and_then(Value::as_i64),
            search_text,
        },
        _ => Derived {
            search_text,
            ..Derived::default()
        },
    }
}

/// The titles and composers of a logbook entry's pieces.
fn piece_texts(state: &Fields) -> impl Iterator<Item = &str> {
    state
        .get("pieces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|piece| {
            ["title", "composer"]
                .into_iter()
                .filter_map(move |f| piece.get(f).and_then(Value::as_str))
        })
}

/// Inserts or replaces one entity row, derived columns included.
pub(crate) fn write(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    row: &EntityRow,
) -> Result<()> {
    let base_json = row.base.state.as_ref().map(to_json);
    write_json(
        conn,
        (entity_type, id),
        (&row.state, row.deleted),
        &row.base,
        &to_json(&row.state),
        base_json.as_deref(),
    )
}

/// [`write`] with the local state and the base state already serialized. A base whose text
/// is the state's is stored as `base_is_state` rather than a second copy (migration 4).
fn write_json(
    conn: &Connection,
    (entity_type, id): (EntityType, &str),
    (state, deleted): (&Fields, bool),
    base: &Base,
    state_json: &str,
    base_json: Option<&str>,
) -> Result<()> {
    let derived = if deleted {
        Derived::default()
    } else {
        derive(entity_type, state)
    };
    let base_is_state = base_json == Some(state_json);
    conn.prepare_cached(
        "INSERT INTO entities (entity_type, entity_id, state, deleted, base_state, base_is_state,
                               base_version, base_deleted, ts_ms, duration_min, search_text)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (entity_type, entity_id) DO UPDATE SET
             state = excluded.state, deleted = excluded.deleted,
             base_state = excluded.base_state, base_is_state = excluded.base_is_state,
             base_version = excluded.base_version, base_deleted = excluded.base_deleted,
             ts_ms = excluded.ts_ms, duration_min = excluded.duration_min,
             search_text = excluded.search_text",
    )?
    .execute(params![
        entity_type.as_str(),
        id,
        state_json,
        deleted,
        base_json.filter(|_| !base_is_state),
        base_is_state,
        base.version,
        base.deleted,
        derived.ts_ms,
        derived.duration_min,
        derived.search_text,
    ])?;
    Ok(())
}

/// Writes the server's full states into entities the caller knows have no unsettled change,
/// one upsert per entity without reading the row first, prepared once for a whole page (the
/// catch-up of a fresh device writes thousands of rows this way).
pub(crate) struct ServerStateWriter<'conn> {
    upsert: CachedStatement<'conn>,
}

impl<'conn> ServerStateWriter<'conn> {
    pub(crate) fn new(conn: &'conn Connection) -> Result<Self> {
        // The rules of a full update, decided by SQLite on the stored row: nothing is written
        // when the stored base is newer, or when it is already exactly this one (same
        // version, same `deleted`, same state text).
        let upsert = conn.prepare_cached(
            "INSERT INTO entities (entity_type, entity_id, state, deleted, base_state,
                                   base_is_state, base_version, base_deleted, ts_ms,
                                   duration_min, search_text)
             VALUES (?1, ?2, ?3, ?4, NULL, 1, ?5, ?4, ?6, ?7, ?8)
             ON CONFLICT (entity_type, entity_id) DO UPDATE SET
                 state = excluded.state, deleted = excluded.deleted, base_state = NULL,
                 base_is_state = 1, base_version = excluded.base_version,
                 base_deleted = excluded.base_deleted, ts_ms = excluded.ts_ms,
                 duration_min = excluded.duration_min, search_text = excluded.search_text
             WHERE excluded.base_version > entities.base_version
                OR (excluded.base_version = entities.base_version
                    AND NOT (excluded.base_deleted = entities.base_deleted
                             AND excluded.state IS (CASE WHEN entities.base_is_state
                                                         THEN entities.state
                                                         ELSE entities.base_state END)))",
        )?;
        Ok(ServerStateWriter { upsert })
    }

    /// Makes `state` at `version` the entity's base and its local state, unless the rules
    /// above say no. Returns whether the row was written.
    pub(crate) fn write(
        &mut self,
        (entity_type, id): (EntityType, &str),
        state: &Fields,
        version: u64,
        deleted: bool,
    ) -> Result<bool> {
        let derived = if deleted {
            Derived::default()
        } else {
            derive(entity_type, state)
        };
        let written = self.upsert.execute(params![
            entity_type.as_str(),
            id,
            to_json(state),
            deleted,
            version,
            derived.ts_ms,
            derived.duration_min,
            derived.search_text,
        ])?;
        Ok(written > 0)
    }
}

/// Inserts a new entity the server has never seen, with `state_json` the serialized
/// `state`. Returns false, writing nothing, when the id exists (even as a tombstone): the
/// primary key answers that, so a create needs no read first.
pub(crate) fn insert_new(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    state: &Fields,
    state_json: &str,
) -> Result<bool> {
    let derived = derive(entity_type, state);
    let inserted = conn
        .prepare_cached(
            "INSERT INTO entities (entity_type, entity_id, state, ts_ms, duration_min, search_text)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            entity_type.as_str(),
            id,
            state_json,
            derived.ts_ms,
            derived.duration_min,
            derived.search_text,
        ]);
    match inserted {
        Ok(_) => Ok(true),
        Err(rusqlite::Error::SqliteFailure(err, _))
            if err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            Ok(false)
        }
        Err(err) => Err(err.into()),
    }
}

pub(crate) fn remove(conn: &Connection, entity_type: EntityType, id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM entities WHERE entity_type = ?1 AND entity_id = ?2")?
        .execute(params![entity_type.as_str(), id])?;
    Ok(())
}

/// The entity's unsettled changes in overlay (`seq`) order.
pub(crate) fn unsettled_changes(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
) -> Result<Vec<UnsettledChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, operation, data FROM outbox WHERE entity_type = ?1 AND entity_id = ?2
         UNION ALL
         SELECT seq, operation, data FROM dead_letters WHERE entity_type = ?1 AND entity_id = ?2
         UNION ALL
         SELECT seq, operation, local FROM conflicts WHERE entity_type = ?1 AND entity_id = ?2
         ORDER BY 1",
    )?;
    let rows = stmt.query_map(params![entity_type.as_str(), id], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
        ))
    })?;
    rows.map(|row| {
        let (seq, operation, data) = row?;
        Ok(UnsettledChange {
            seq,
            operation: parse_operation(&operation)?,
            data: parse_fields(&data)?,
        })
    })
    .collect()
}

/// True when `value` is a plain value, not a `$` operator.
pub(crate) fn all_plain_value(value: &Value) -> bool {
    matches!(FieldValue::classify(value), FieldValue::Plain(_))
}

/// True when every value in `data` is a plain value (no `$` operator).
pub(crate) fn all_plain(data: &Fields) -> bool {
    data.values().all(all_plain_value)
}

/// Field values received from the server, with `$deflate` values inflated (the server
/// sends them compressed when this client asked for it in `hello`). Borrowed when there is
/// nothing to inflate.
pub(crate) fn decode_remote(data: &Fields) -> Result<Cow<'_, Fields>> {
    if all_plain(data) {
        Ok(Cow::Borrowed(data))
    } else {
        Ok(Cow::Owned(decode_deflated(data)?))
    }
}

/// Applies one change to a local view. Never fails: a change whose operators do not apply
/// to the current values (possible after a remote update changed a field's type) is left
/// out of the view and logged; it stays in its table and the server will judge it.
pub(crate) fn overlay(state: &mut Fields, deleted: &mut bool, change: &UnsettledChange) {
    match change.operation {
        Operation::Delete => *deleted = true,
        Operation::Create | Operation::Update if all_plain(&change.data) => {
            state.extend(change.data.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Operation::Create | Operation::Update => {
            let mut next = state.clone();
            match apply_patch(&mut next, &change.data) {
                Ok(_) => *state = next,
                Err(err) => {
                    tracing::warn!(%err, "a pending change does not apply to the local state")
                }
            }
        }
    }
}

/// Writes `base` as the entity's base and recomputes its local state from it and the
/// unsettled changes. An entity the server never saw and with nothing unsettled is removed.
pub(crate) fn write_with_base(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    base: Base,
) -> Result<()> {
    let changes = unsettled_changes(conn, entity_type, id)?;
    if base.state.is_none() && base.version == 0 && !base.deleted && changes.is_empty() {
        return remove(conn, entity_type, id);
    }
    let mut state = base.state.clone().unwrap_or_default();
    let mut deleted = base.deleted;
    for change in &changes {
        overlay(&mut state, &mut deleted, change);
    }
    write(
        conn,
        entity_type,
        id,
        &EntityRow {
            state,
            deleted,
            base,
        },
    )
}

/// [`write_with_base`] for an entity the caller knows has no unsettled change (no outbox
/// row, dead letter or stored conflict): the local state is the base itself, so the query
/// for the changes is skipped and the state is serialized and stored once. (A full update
/// in that case takes [`ServerStateWriter`], which does not even read the row.)
pub(crate) fn write_settled(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    base: &Base,
) -> Result<()> {
    if base.state.is_none() && base.version == 0 && !base.deleted {
        return remove(conn, entity_type, id);
    }
    let empty = Fields::new();
    let state = base.state.as_ref().unwrap_or(&empty);
    let state_json = to_json(state);
    let base_json = base.state.as_ref().map(|_| state_json.as_str());
    write_json(
        conn,
        (entity_type, id),
        (state, base.deleted),
        base,
        &state_json,
        base_json,
    )
}

/// Recomputes the local state of an entity from its stored base (after a change left).
pub(crate) fn recompute(conn: &Connection, entity_type: EntityType, id: &str) -> Result<()> {
    match load(conn, entity_type, id)? {
        Some(row) => write_with_base(conn, entity_type, id, row.base),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    use legato_testkit::fields;

    #[test]
    fn logbook_rows_derive_their_query_columns() {
        let state = fields(json!({
            "timestamp": "2025-11-25T18:30:00.000Z",
            "duration": 45,
            "notes": "Slow Practice",
            "pieces": [{"title": "Ballade No. 1", "composer": "Chopin"}, {"title": "Etude"}],
        }));
        let d = derive(EntityType::Logbook, &state);
        assert_eq!(d.ts_ms, Some(1_764_095_400_000));
        assert_eq!(d.duration_min, Some(45));
        assert_eq!(
            d.search_text.as_deref(),
            Some("slow practice\nballade no. 1\nchopin\netude")
        );
        let d = derive(
            EntityType::Repertoire,
            &fields(json!({"title": "Nocturne"})),
        );
        assert_eq!(d.ts_ms, None);
        assert_eq!(d.search_text.as_deref(), Some("nocturne"));
        assert_eq!(
            derive(EntityType::Goals, &Fields::new()),
            Derived::default()
        );
    }

    #[test]
    fn plain_overlays_replace_fields_and_deletes_mark_deleted() {
        let mut state = fields(json!({"a": 1, "b": 2}));
        let mut deleted = false;
        let change = UnsettledChange {
            seq: 1,
            operation: Operation::Update,
            data: fields(json!({"b": null, "c": 3})),
        };
        overlay(&mut state, &mut deleted, &change);
        assert_eq!(
            Value::Object(state.clone()),
            json!({"a": 1, "b": null, "c": 3})
        );
        let delete = UnsettledChange {
            seq: 2,
            operation: Operation::Delete,
            data: Fields::new(),
        };
        overlay(&mut state, &mut deleted, &delete);
        assert!(deleted);
    }
}
