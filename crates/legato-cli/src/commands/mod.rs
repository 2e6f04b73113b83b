//! One module per command group. Commands map flags to `legato_core::model` values, call the
//! store (every edit is one store transaction with its outbox row) and print.

pub mod account;
pub mod conflicts;
pub mod dead_letters;
pub mod devices;
pub mod goal;
pub mod log;
pub mod repertoire;
pub mod stats;
pub mod status;
pub mod sync;
pub mod transfer;

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use legato_protocol::{EntityId, EntityType};
use legato_store::{Store, StoreError, TypedEntity};

/// How the user calls an entity type.
pub fn noun(entity_type: EntityType) -> &'static str {
    match entity_type {
        EntityType::Logbook => "logbook entry",
        EntityType::Repertoire => "repertoire piece",
        EntityType::Goals => "goal",
    }
}

/// A fresh entity id (UUID v7, as the protocol recommends).
pub fn new_id() -> EntityId {
    EntityId::new(uuid::Uuid::now_v7().to_string()).expect("a UUID is a valid entity id")
}

/// The id of an existing entity; an id that cannot exist reads as unknown.
pub fn parse_id(entity_type: EntityType, text: &str) -> Result<EntityId> {
    EntityId::new(text).map_err(|_| not_found(entity_type, text))
}

/// Ids of other entities given as flag values (`--goal`, `--piece-id`).
pub fn parse_ids(what: &str, texts: &[String]) -> Result<Vec<EntityId>> {
    texts
        .iter()
        .map(|text| EntityId::new(text.as_str()).map_err(|err| anyhow!("{what} `{text}`: {err}")))
        .collect()
}

fn not_found(entity_type: EntityType, id: &str) -> anyhow::Error {
    anyhow!("no {} with id {id}", noun(entity_type))
}

/// A store error in the user's words.
pub fn explain(err: StoreError) -> anyhow::Error {
    match err {
        StoreError::NotFound { entity_type, id } => not_found(entity_type, &id),
        StoreError::Deleted { entity_type, id } => {
            anyhow!("{} {id} was deleted", noun(entity_type))
        }
        other => anyhow::Error::new(other),
    }
}

/// Loads a live typed entity, or says why there is none.
pub fn load<T: TypedEntity>(store: &Store, id: &EntityId) -> Result<T> {
    if let Some(entity) = store.load::<T>(id).map_err(explain)? {
        return Ok(entity);
    }
    let deleted = store
        .get(T::ENTITY_TYPE, id)
        .map_err(explain)?
        .is_some_and(|e| e.deleted);
    Err(if deleted {
        explain(StoreError::Deleted {
            entity_type: T::ENTITY_TYPE,
            id: id.to_string(),
        })
    } else {
        not_found(T::ENTITY_TYPE, id.as_str())
    })
}

/// Saves a typed entity and says what happened.
pub fn save_and_report<T: TypedEntity>(store: &mut Store, entity: &T, now_ms: i64) -> Result<()> {
    match store.save(entity, now_ms).map_err(explain)? {
        Some(_) => println!("updated {}", entity.id()),
        None => println!("no changes to {}", entity.id()),
    }
    Ok(())
}

/// `Some("")` clears an optional text field.
pub fn text_flag(value: Option<String>, field: &mut Option<String>) {
    if let Some(value) = value {
        *field = Some(value).filter(|v| !v.is_empty());
    }
}

/// A list flag given at least once replaces the list; empty values are dropped, so
/// `--tag ""` alone clears it.
pub fn list_flag(values: Vec<String>, field: &mut Vec<String>) {
    if !values.is_empty() {
        *field = values.into_iter().filter(|v| !v.is_empty()).collect();
    }
}

pub fn time_of_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
