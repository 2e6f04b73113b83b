//! The store's error type.

use legato_core::ValidationError;
use legato_protocol::{EntityIdError, EntityType};
use rusqlite::ErrorCode as SqliteCode;

/// Everything a store operation can fail with.
///
/// A failed write leaves the database as it was before the call: every write is one
/// transaction, and an error rolls it back. [`StoreError::is_retryable`] tells a caller
/// whether the same call may succeed later unchanged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The disk (or the configured `max_page_count`) is full. The failed edit was not saved;
    /// everything committed before it is intact.
    #[error("the disk is full: this change was not saved (earlier changes are safe)")]
    DiskFull,
    /// Another connection holds the database lock longer than the busy timeout.
    #[error("the database is busy")]
    Busy,
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// The state breaks PROTOCOL.md section 1; the error names the field.
    #[error("invalid {0}")]
    Validation(#[from] ValidationError),
    #[error("invalid entity id: {0}")]
    InvalidId(#[from] EntityIdError),
    #[error("{entity_type} `{id}` not found")]
    NotFound { entity_type: EntityType, id: String },
    #[error("{entity_type} `{id}` already exists")]
    AlreadyExists { entity_type: EntityType, id: String },
    /// An edit of a deleted entity: deletes are final on this device (a resurrection would be
    /// a conflict on the server anyway).
    #[error("{entity_type} `{id}` is deleted")]
    Deleted { entity_type: EntityType, id: String },
    #[error("no dead letter with change id `{0}`")]
    DeadLetterNotFound(String),
    /// A practice timer step that does not fit its state, or a bad piece or tempo.
    #[error("{0}")]
    Timer(#[from] crate::timer::TimerError),
    #[error("no stored conflict with id {0}")]
    ConflictNotFound(i64),
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored value that this version cannot read (never written by this code).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A date or time outside what the calendar arithmetic can represent (statistics of a
    /// `now` or year far outside the years of real practice).
    #[error("date out of range: {0}")]
    TimeOutOfRange(String),
    /// The [`crate::StoreHandle`]'s database thread is gone.
    #[error("the store is closed")]
    Closed,
    /// The change was written, but the write-ahead log could not be synced, so it may not
    /// survive a power cut (see [`crate::StoreHandle`]).
    #[error("the change was saved but could not be confirmed on disk: {0}")]
    NotDurable(String),
    /// A closure run on the database thread panicked; its transaction was rolled back.
    #[error("a store operation panicked: {0}")]
    Panicked(String),
}

impl StoreError {
    /// Whether the same call may succeed later without being changed: a full disk once space
    /// is freed, a busy database once the other writer is done. Everything else is permanent
    /// for this input.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::DiskFull | StoreError::Busy)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(SqliteCode::DiskFull) => StoreError::DiskFull,
            Some(SqliteCode::DatabaseBusy | SqliteCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Sqlite(err),
        }
    }
}

impl From<legato_core::ModelError> for StoreError {
    fn from(err: legato_core::ModelError) -> Self {
        match err {
            legato_core::ModelError::Invalid(invalid) => StoreError::Validation(invalid),
        }
    }
}

/// The result type of every store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_codes_map_to_typed_errors() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let err = StoreError::from(full);
        assert!(matches!(err, StoreError::DiskFull));
        assert!(err.is_retryable());

        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(StoreError::from(busy).is_retryable());

        let other = StoreError::from(rusqlite::Error::QueryReturnedNoRows);
        assert!(matches!(other, StoreError::Sqlite(_)));
        assert!(!other.is_retryable());
        assert!(!StoreError::Closed.is_retryable());
    }
}
