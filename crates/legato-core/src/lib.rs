//! Legato's domain: entity types and their validation (PROTOCOL.md section 1), the server-side
//! apply rule (section 3), and the client-side conflict resolution (section 4).
//!
//! Pure: no IO, no clock, no randomness. Time comes in as arguments. Everything here is a
//! function of its inputs, so the server and every client compute the same results.

pub mod apply;
pub mod fields;
pub mod merge;
pub mod model;
pub mod validate;

pub use apply::{ApplyError, ApplyOutcome, EntityRecord, apply_change};
pub use fields::{apply_patch, decode_deflated, diff_fields, same_value};
pub use merge::{
    DeleteRule, Resolution, Strategy, delete_against_edit, merge_three_way, resolve_conflict,
    write_time_ms,
};
pub use model::{Goal, LogbookEntry, ModelError, RepertoireItem};
pub use validate::{ValidationError, validate_change, validate_state};

pub use legato_protocol::Fields;
