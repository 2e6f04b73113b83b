//! The server-side apply rule of PROTOCOL.md section 3.

use std::collections::BTreeMap;

use legato_protocol::{Change, Fields, Operation};

use crate::validate::ValidationError;

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
}

/// Applies `change` to `current` (None: the id is unknown) per section 3 rules 2 to 6.
/// Rule 1 (duplicate change ids) and timestamp clamping are the caller's job.
pub fn apply_change(current: Option<&EntityRecord>, change: &Change) -> Result<ApplyOutcome, ApplyError> {
    let _ = (current, change);
    todo!("core helper")
}
