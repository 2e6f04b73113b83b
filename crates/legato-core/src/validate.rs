//! Validation of PROTOCOL.md section 1: known fields by type and range, unknown fields kept.

use legato_protocol::{EntityType, Fields, Operation};

/// A field breaking section 1; `field` names it (dotted path for nested values, e.g.
/// `pieces[2].title`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

/// Checks the `data` of a change (operators allowed where section 3 allows them).
pub fn validate_change(entity_type: EntityType, operation: Operation, data: &Fields) -> Result<(), ValidationError> {
    let _ = (entity_type, operation, data);
    todo!("core helper")
}

/// Checks a full resolved state (no operators): required fields present, known fields valid.
pub fn validate_state(entity_type: EntityType, state: &Fields) -> Result<(), ValidationError> {
    let _ = (entity_type, state);
    todo!("core helper")
}
