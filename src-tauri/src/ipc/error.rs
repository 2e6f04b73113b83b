//! [`IpcError`]: what every command fails with, `{code, message, field?, retryable}` on the
//! JS side. The `From` impls are the single place where library errors become UI errors.

use legato_store::{StoreError, TimerError};
use legato_sync::{ConfigError, SyncError};
use serde::Serialize;
use ts_rs::TS;

use crate::keychain::KeychainError;
use legato_sync::account::AccountError;

/// A stable, machine-readable error code. The UI switches on it; `message` is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The input breaks a rule (PROTOCOL.md section 1, a malformed date or URL...);
    /// `field` names the offending field when there is one.
    Invalid,
    /// No entry, dead letter, conflict or undo snapshot with that id.
    NotFound,
    /// An entity with that id exists already.
    AlreadyExists,
    /// The entry was deleted (edits of deleted entries are refused).
    Deleted,
    /// The disk is full: the change was not saved, earlier ones are safe.
    DiskFull,
    /// The database is busy; trying again shortly may work.
    Busy,
    /// The local database failed (corrupt, closed, ...).
    Storage,
    /// The server cannot be reached. Local edits are safe and sync later.
    Offline,
    /// The server did not answer in time (sync keeps trying in the background).
    Timeout,
    /// Wrong email or password, or the server refused this device's token.
    Unauthorized,
    /// Sync needs an account: sign in first.
    SignedOut,
    /// Sync is paused by the user.
    Paused,
    /// This email already has an account (register).
    EmailTaken,
    /// This device's data belongs to another account (sign in with that one, or use another
    /// data directory).
    AccountMismatch,
    /// The OS keyring failed or is missing; the app works offline, signing in does not
    /// persist.
    Keyring,
    /// The server answered with an error this app did not expect.
    Server,
    /// A practice timer step that does not fit its state (stop without a running timer,
    /// start while one exists, ...): the timer changed elsewhere (the tray); re-read it.
    TimerState,
    /// An import's data changed since its preview (nothing was written): preview again.
    ImportChanged,
    /// A file to import or export cannot be read or written (missing, no permission, ...).
    FileAccess,
    /// A bug or an unexpected state; details are in the log file.
    Internal,
}

/// The error of every command (`Result<T, IpcError>`): serialized as
/// `{code, message, field, retryable}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{message}")]
pub struct IpcError {
    pub code: ErrorCode,
    /// A sentence for the user.
    pub message: String,
    /// The field an `invalid` error is about (`duration`, `pieces[2].title`, ...).
    pub field: Option<String>,
    /// Whether the same call may succeed later unchanged (a busy database, a network
    /// failure).
    pub retryable: bool,
}

impl IpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        IpcError {
            code,
            message: message.into(),
            field: None,
            retryable: matches!(
                code,
                ErrorCode::Busy | ErrorCode::DiskFull | ErrorCode::Offline | ErrorCode::Timeout
            ),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        IpcError {
            field: Some(field.into()),
            ..IpcError::new(ErrorCode::Invalid, message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        IpcError::new(ErrorCode::NotFound, message)
    }

    /// An unexpected failure: logged in full, shown briefly.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(%err, "internal error in a command");
        IpcError::new(ErrorCode::Internal, format!("internal error: {err}"))
    }
}

impl From<legato_store::TransferError> for IpcError {
    fn from(err: legato_store::TransferError) -> Self {
        use legato_store::TransferError as E;
        let message = err.to_string();
        match err {
            E::Store(err) => err.into(),
            E::Changed => IpcError {
                retryable: true,
                ..IpcError::new(ErrorCode::ImportChanged, message)
            },
            E::Io { source, .. } => IpcError {
                retryable: matches!(
                    source.kind(),
                    std::io::ErrorKind::Interrupted | std::io::ErrorKind::TimedOut
                ),
                ..IpcError::new(ErrorCode::FileAccess, message)
            },
            E::TooLarge { .. }
            | E::TooManyRows { .. }
            | E::NotJson(_)
            | E::NotAnExport(_)
            | E::UnsupportedVersion { .. }
            | E::Csv { .. }
            | E::MissingColumn(_)
            | E::NotText => IpcError::invalid("file", message),
        }
    }
}

impl From<StoreError> for IpcError {
    fn from(err: StoreError) -> Self {
        let message = err.to_string();
        match err {
            StoreError::Validation(invalid) => {
                IpcError::invalid(invalid.field.clone(), invalid.to_string())
            }
            StoreError::InvalidId(_) => IpcError::invalid("id", message),
            StoreError::NotFound { .. }
            | StoreError::DeadLetterNotFound(_)
            | StoreError::ConflictNotFound(_) => IpcError::not_found(message),
            StoreError::AlreadyExists { .. } => IpcError::new(ErrorCode::AlreadyExists, message),
            StoreError::Deleted { .. } => IpcError::new(ErrorCode::Deleted, message),
            StoreError::DiskFull => IpcError::new(ErrorCode::DiskFull, message),
            StoreError::Busy => IpcError::new(ErrorCode::Busy, message),
            StoreError::Panicked(_) => IpcError::internal(message),
            StoreError::Timer(TimerError::BadTitle) => IpcError::invalid("piece.title", message),
            StoreError::Timer(TimerError::BadTempo) => IpcError::invalid("bpm", message),
            StoreError::Timer(_) => IpcError::new(ErrorCode::TimerState, message),
            StoreError::TimeOutOfRange(_) => IpcError::invalid("year", message),
            StoreError::Sqlite(_)
            | StoreError::Migration(_)
            | StoreError::Json(_)
            | StoreError::Corrupt(_)
            | StoreError::NotDurable(_)
            | StoreError::Closed => {
                tracing::error!(%message, "store failure");
                IpcError::new(ErrorCode::Storage, message)
            }
        }
    }
}

impl From<SyncError> for IpcError {
    fn from(err: SyncError) -> Self {
        let message = err.to_string();
        match err {
            SyncError::Offline(_) => IpcError::new(ErrorCode::Offline, message),
            SyncError::Unauthorized => IpcError::new(ErrorCode::Unauthorized, message),
            SyncError::SignedOut => IpcError::new(ErrorCode::SignedOut, message),
            SyncError::Paused => IpcError::new(ErrorCode::Paused, message),
            SyncError::Timeout => IpcError::new(ErrorCode::Timeout, message),
            SyncError::Store { retryable, .. } => IpcError {
                retryable,
                ..IpcError::new(ErrorCode::Storage, message)
            },
            SyncError::Stopped => IpcError::internal(message),
        }
    }
}

impl From<ConfigError> for IpcError {
    fn from(err: ConfigError) -> Self {
        IpcError::invalid("serverUrl", err.to_string())
    }
}

impl From<AccountError> for IpcError {
    fn from(err: AccountError) -> Self {
        // The code travels on its own; the message is the server's words alone.
        let message = err.to_string();
        match err {
            AccountError::Network(_) => IpcError::new(ErrorCode::Offline, message),
            AccountError::Unauthorized(m) => IpcError::new(ErrorCode::Unauthorized, m),
            AccountError::EmailTaken(m) => IpcError::new(ErrorCode::EmailTaken, m),
            AccountError::Invalid(m) => IpcError::new(ErrorCode::Invalid, m),
            AccountError::NoSuchDevice(_) => IpcError::new(ErrorCode::NotFound, message),
            AccountError::ThisDevice(_) => IpcError::new(ErrorCode::Invalid, message),
            AccountError::Server { .. } | AccountError::TooLarge(_) => {
                IpcError::new(ErrorCode::Server, message)
            }
        }
    }
}

impl From<KeychainError> for IpcError {
    fn from(err: KeychainError) -> Self {
        IpcError::new(ErrorCode::Keyring, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use legato_core::ValidationError;
    use legato_protocol::EntityType;
    use legato_sync::TransportError;
    use serde_json::json;

    use super::*;

    #[test]
    fn store_errors_map_to_codes() {
        let invalid = IpcError::from(StoreError::Validation(ValidationError::new(
            "duration",
            "must be 1..1440",
        )));
        assert_eq!(invalid.code, ErrorCode::Invalid);
        assert_eq!(invalid.field.as_deref(), Some("duration"));
        assert!(!invalid.retryable);

        let missing = IpcError::from(StoreError::NotFound {
            entity_type: EntityType::Logbook,
            id: "x".into(),
        });
        assert_eq!(missing.code, ErrorCode::NotFound);
        assert_eq!(IpcError::from(StoreError::Busy).code, ErrorCode::Busy);
        assert!(IpcError::from(StoreError::Busy).retryable);
        assert!(IpcError::from(StoreError::DiskFull).retryable);
        assert_eq!(IpcError::from(StoreError::Closed).code, ErrorCode::Storage);
        assert_eq!(
            IpcError::from(StoreError::Deleted {
                entity_type: EntityType::Logbook,
                id: "x".into()
            })
            .code,
            ErrorCode::Deleted
        );
    }

    #[test]
    fn sync_errors_map_to_codes() {
        let offline = IpcError::from(SyncError::Offline(TransportError::Network(
            "refused".into(),
        )));
        assert_eq!(offline.code, ErrorCode::Offline);
        assert!(offline.retryable);
        assert_eq!(
            IpcError::from(SyncError::SignedOut).code,
            ErrorCode::SignedOut
        );
        assert_eq!(IpcError::from(SyncError::Paused).code, ErrorCode::Paused);
        let store = IpcError::from(SyncError::Store {
            message: "busy".into(),
            retryable: true,
        });
        assert_eq!((store.code, store.retryable), (ErrorCode::Storage, true));
    }

    #[test]
    fn account_and_config_errors_map_to_codes() {
        assert_eq!(
            IpcError::from(AccountError::EmailTaken("taken".into())).code,
            ErrorCode::EmailTaken
        );
        assert_eq!(
            IpcError::from(AccountError::Unauthorized("no".into())).code,
            ErrorCode::Unauthorized
        );
        let offline = IpcError::from(AccountError::Network("refused".into()));
        assert_eq!(
            (offline.code, offline.retryable),
            (ErrorCode::Offline, true)
        );
        let url = IpcError::from(ConfigError::NotAUrl("x".into()));
        assert_eq!(url.field.as_deref(), Some("serverUrl"));
        assert_eq!(
            IpcError::from(KeychainError::Unavailable("no bus".into())).code,
            ErrorCode::Keyring
        );
    }

    #[test]
    fn serializes_as_the_ts_contract_says() {
        let err = IpcError::invalid("pieces[0].title", "field `pieces[0].title`: is required");
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({
                "code": "invalid",
                "message": "field `pieces[0].title`: is required",
                "field": "pieces[0].title",
                "retryable": false,
            })
        );
        assert_eq!(
            serde_json::to_value(ErrorCode::AccountMismatch).unwrap(),
            json!("account_mismatch")
        );
    }
}
