//! The server-side apply rule of PROTOCOL.md section 3.
//!
//! Order of evaluation, for every operation but `delete`: `$deflate` values are inflated,
//! the change is validated (so a malformed change is `invalid` whether or not its id exists),
//! then the record is looked up (`not_found`, rule 5), then the version rules run. A
//! `delete` carries no data, so it skips straight to the lookup.

use std::collections::BTreeMap;

use legato_protocol::{
    Change, EntityType, ErrorCode, FieldInflateError, FieldValue, Fields, Operation, inflate_fields,
};
use serde_json::Value;

use crate::fields::{apply_patch, same_value};
use crate::validate::{ValidationError, validate_change, validate_state, validate_state_fields};

/// An entity as the server stores it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EntityRecord {
    /// The full current state (for a tombstone: the last state before the delete).
    pub state: Fields,
    /// 1 when created, +1 for every applied change (deletes too).
    pub version: u64,
    /// For every field, the version at which it last changed.
    pub field_versions: BTreeMap<String, u64>,
    pub deleted: bool,
}

impl EntityRecord {
    /// The version at which `name` last changed. A field of the state with no recorded field
    /// version (a record written by other means) counts as changed at the current version:
    /// that can only add conflicts, never hide one. A field never set is at version 0.
    pub fn field_version(&self, name: &str) -> u64 {
        match self.field_versions.get(name) {
            Some(&version) => version,
            None if self.state.contains_key(name) => self.version,
            None => 0,
        }
    }
}

/// The result of applying one change to the current record.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyOutcome {
    /// The change is applied (or, with `changed == false`, changed nothing: rule 6).
    Applied {
        /// The new record to store (equal to the old one when `changed` is false).
        record: EntityRecord,
        /// The stored values of the fields the change touched, operators resolved and
        /// `$deflate` inflated: the `ack`'s `data` and the partial `update`'s `data`.
        /// Empty for a delete.
        touched: Fields,
        /// False when nothing changed (no new version, no new seq needed).
        changed: bool,
        /// The effective operation (`create` on an existing id is an `update`).
        operation: Operation,
    },
    /// Nothing applied; reply `conflict` with the current record as `remote`.
    Conflict {
        /// Conflicting field names, sorted.
        fields: Vec<String>,
        remote_deleted: bool,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// `update` or `delete` of an id that does not exist.
    #[error("entity not found")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The change's `$deflate` values inflate past their budget
    /// ([`legato_protocol::MAX_INFLATED_BYTES_PER_CHANGE`]).
    #[error(transparent)]
    TooLarge(ValidationError),
}

impl From<FieldInflateError> for ApplyError {
    fn from(err: FieldInflateError) -> Self {
        if err.error.is_too_large() {
            ApplyError::TooLarge(err.into())
        } else {
            ApplyError::Invalid(err.into())
        }
    }
}

impl ApplyError {
    /// The protocol error code of section 6 that reports this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApplyError::NotFound => ErrorCode::NotFound,
            ApplyError::Invalid(_) => ErrorCode::Invalid,
            ApplyError::TooLarge(_) => ErrorCode::TooLarge,
        }
    }
}

/// Applies `change` to `current` (None: the id is unknown) per section 3 rules 2 to 6.
/// Rule 1 (duplicate change ids) and timestamp clamping are the caller's job.
///
/// Total: any `data` gives an outcome or an error, never a panic.
pub fn apply_change(
    current: Option<&EntityRecord>,
    change: &Change,
) -> Result<ApplyOutcome, ApplyError> {
    if change.operation == Operation::Delete {
        return delete(current, change);
    }
    let data = inflate_fields(&change.data)?;
    validate_change(change.entity_type, change.operation, &data)?;
    match (change.operation, current) {
        (Operation::Create, None) => create(change.entity_type, data),
        // Rule 2: a create of an existing id is an update made on version 0.
        (Operation::Create, Some(record)) => update(change.entity_type, record, &data, 0),
        (_, None) => Err(ApplyError::NotFound),
        (_, Some(record)) => update(change.entity_type, record, &data, change.base_version),
    }
}

/// Rule 2: a new entity at version 1; every field it holds is at field version 1.
fn create(entity_type: EntityType, state: Fields) -> Result<ApplyOutcome, ApplyError> {
    validate_state(entity_type, &state)?;
    let record = EntityRecord {
        field_versions: state.keys().map(|name| (name.clone(), 1)).collect(),
        state: state.clone(),
        version: 1,
        deleted: false,
    };
    Ok(ApplyOutcome::Applied {
        record,
        touched: state,
        changed: true,
        operation: Operation::Create,
    })
}

/// Rules 3, 5 and 6 for an update made on `base_version`.
fn update(
    entity_type: EntityType,
    record: &EntityRecord,
    data: &Fields,
    base_version: u64,
) -> Result<ApplyOutcome, ApplyError> {
    if record.deleted {
        return Ok(deleted_conflict(data));
    }
    let conflicts = conflicting_fields(record, data, base_version);
    if !conflicts.is_empty() {
        return Ok(ApplyOutcome::Conflict {
            fields: conflicts,
            remote_deleted: false,
        });
    }

    let mut patched = record.state.clone();
    apply_patch(&mut patched, data)?;
    // Rule 6: a field whose value does not change is no change (absent and null alike).
    let changed: Vec<&String> = data
        .keys()
        .filter(|name| !same_value(record.state.get(*name), patched.get(*name)))
        .collect();
    if changed.is_empty() {
        return Ok(ApplyOutcome::Applied {
            record: record.clone(),
            touched: stored_values(&record.state, data),
            changed: false,
            operation: Operation::Update,
        });
    }

    let mut state = record.state.clone();
    for name in &changed {
        if let Some(value) = patched.get(*name) {
            state.insert((*name).clone(), value.clone());
        }
    }
    // Only the changed fields are checked: the others were accepted before and did not
    // move, and re-checking them would make an entity stored under looser, older rules
    // impossible to edit at all. For a valid record this equals `validate_state`.
    validate_state_fields(entity_type, &state, changed.iter().copied())?;
    let version = next_version(record.version)?;
    let mut field_versions = record.field_versions.clone();
    for name in changed {
        field_versions.insert(name.clone(), version);
    }
    Ok(ApplyOutcome::Applied {
        touched: stored_values(&state, data),
        record: EntityRecord {
            state,
            version,
            field_versions,
            deleted: false,
        },
        changed: true,
        operation: Operation::Update,
    })
}

/// Rule 3: plain fields changed on the server after `base_version` whose stored value differs
/// from the pushed one. Commutative operators never conflict. Sorted.
fn conflicting_fields(record: &EntityRecord, data: &Fields, base_version: u64) -> Vec<String> {
    let mut fields: Vec<String> = data
        .iter()
        .filter(|(name, value)| {
            matches!(FieldValue::classify(value), FieldValue::Plain(_))
                && record.field_version(name) > base_version
                && !same_value(record.state.get(*name), Some(value))
        })
        .map(|(name, _)| name.clone())
        .collect();
    fields.sort();
    fields
}

/// Rules 4 and 5 for a delete. Its `data` is ignored, except that a delete of a deleted
/// entity names the fields it carried, as rule 5 asks.
fn delete(current: Option<&EntityRecord>, change: &Change) -> Result<ApplyOutcome, ApplyError> {
    let record = current.ok_or(ApplyError::NotFound)?;
    if record.deleted {
        return Ok(deleted_conflict(&change.data));
    }
    let mut changed_since_base: Vec<String> = record
        .state
        .keys()
        .chain(record.field_versions.keys())
        .filter(|name| record.field_version(name) > change.base_version)
        .cloned()
        .collect();
    changed_since_base.sort();
    changed_since_base.dedup();
    if !changed_since_base.is_empty() {
        return Ok(ApplyOutcome::Conflict {
            fields: changed_since_base,
            remote_deleted: false,
        });
    }
    Ok(ApplyOutcome::Applied {
        record: EntityRecord {
            version: next_version(record.version)?,
            deleted: true,
            ..record.clone()
        },
        touched: Fields::new(),
        changed: true,
        operation: Operation::Delete,
    })
}

/// Rule 5: a change to a deleted entity; `fields` are every field of the change, sorted.
fn deleted_conflict(data: &Fields) -> ApplyOutcome {
    let mut fields: Vec<String> = data.keys().cloned().collect();
    fields.sort();
    ApplyOutcome::Conflict {
        fields,
        remote_deleted: true,
    }
}

/// The stored value of every field named in `data` (`null` for one the state lacks).
fn stored_values(state: &Fields, data: &Fields) -> Fields {
    data.keys()
        .map(|name| {
            (
                name.clone(),
                state.get(name).cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

fn next_version(version: u64) -> Result<u64, ValidationError> {
    version
        .checked_add(1)
        .ok_or_else(|| ValidationError::new("baseVersion", "the entity version is exhausted"))
}

#[cfg(test)]
mod tests;
