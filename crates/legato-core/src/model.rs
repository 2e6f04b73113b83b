//! Typed views of the entity states for the UI and the CLI. The wire and the store keep the
//! JSON state (so unknown fields survive); these types convert to and from it.
//!
//! - `from_fields` validates the state (section 1) and reads it; absent and `null` fields
//!   read as the type's default, unknown fields land in `extra` (nested objects keep their
//!   unknown keys the same way).
//! - `to_fields` writes the canonical state: every known field, `null` for an empty
//!   optional one, date-times as `2026-11-25T18:30:00.000Z`, then `extra`.
//!
//! Canonical form matters for diffs: to find what a user edited, diff
//! `from_fields(stored).to_fields()` against `edited.to_fields()`, not the raw stored
//! state, or a field another client spelled differently (`...00Z` for `...00.000Z`, absent
//! for `[]`) would be pushed as a change the user never made.
//!
//! The serde derives give the same JSON names plus `id`, for handing a whole entity to the
//! UI; the sync path uses `to_fields`/`from_fields`.

mod convert;
pub mod datetime;
mod enums;
mod goal;
mod logbook;
mod repertoire;

pub use enums::{EntryType, GoalPeriod, GoalStatus, GoalType, Mood, ParseEnumError, PieceStatus};
pub use goal::{Goal, Milestone};
pub use logbook::{LogbookEntry, PieceRef};
pub use repertoire::{RepertoireItem, StatusChange};

use crate::validate::ValidationError;

/// A state that does not make a typed entity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The state breaks section 1 at the named field.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

#[cfg(test)]
mod tests;
