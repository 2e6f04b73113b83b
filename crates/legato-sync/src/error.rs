//! Typed errors: what a caller of the handle sees ([`SyncError`]) and why a connection or a
//! request failed ([`TransportError`]).

use legato_protocol::ErrorCode;
use legato_store::StoreError;

/// The server sent more than this client accepts: a WebSocket message (or frame), or an
/// HTTP reply body, over [`legato_protocol::MAX_MESSAGE_BYTES`] (section 6: the largest
/// body or frame either side accepts). Reading stops at the cap (a body is counted as it
/// streams in, whatever its Content-Length says), and nothing of it is used.
///
/// Not retryable by the same request: a server that answered it this way will answer the
/// same again. (The sync engine still reconnects with backoff, as for any server trouble,
/// since the next connection may carry other data or a fixed server; an oversize batch
/// reply sends the batch's changes one by one instead, each with a smaller answer.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the server sent a {what} larger than {limit} bytes; refused")]
pub struct TooLarge {
    /// What was refused: "WebSocket message", "batch reply", "login reply", ...
    pub what: &'static str,
    /// The cap in bytes.
    pub limit: usize,
}

/// Why a connection attempt, a socket or an HTTP request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The server refused the token (HTTP 401 at the handshake or on a request). Retrying
    /// with the same token cannot help: the user has to sign in again.
    #[error("the server refused the credentials (sign in again)")]
    Unauthorized,
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// Connection refused, reset, DNS, TLS, an unexpected close...
    #[error("network: {0}")]
    Network(String),
    /// The server answered with an HTTP error status.
    #[error("server answered HTTP {status}: {message}")]
    Http {
        status: u16,
        code: Option<ErrorCode>,
        message: String,
    },
    /// No frame after a ping within the pong deadline: the connection was half-open.
    #[error("no answer to ping within the deadline (half-open connection)")]
    HalfOpen,
    /// The server closed the WebSocket.
    #[error("the server closed the connection ({code}: {reason})")]
    Closed { code: u16, reason: String },
    /// The server sent something this client cannot read.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The server sent more than the client accepts (see [`TooLarge`]).
    #[error(transparent)]
    TooLarge(TooLarge),
}

impl TransportError {
    /// Whether trying again later (same request, same credentials) may succeed. A refused
    /// token and an oversize reply are final for that request; everything else is the
    /// network or the server's state.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            TransportError::Unauthorized | TransportError::TooLarge(_)
        )
    }
}

/// What the engine's handle answers with when it cannot do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncError {
    /// The server could not be reached (or the connection dropped during the operation).
    /// Local edits are safe and will sync once it is back.
    #[error("offline: {0}")]
    Offline(TransportError),
    /// The server refused the token; set a new one with `set_token`.
    #[error("signed out: the server refused the credentials")]
    Unauthorized,
    /// No token is set.
    #[error("signed out: no credentials")]
    SignedOut,
    /// Sync is paused by the user.
    #[error("sync is paused")]
    Paused,
    /// The operation did not finish in time (the engine keeps trying in the background).
    #[error("timed out waiting for the server")]
    Timeout,
    /// The local store failed.
    #[error("local store: {message}")]
    Store { message: String, retryable: bool },
    /// The engine has stopped (after `shutdown`, or it was never running).
    #[error("the sync engine is not running")]
    Stopped,
}

impl SyncError {
    /// Whether the same call may succeed later without the user doing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            SyncError::Offline(err) => err.is_retryable(),
            SyncError::Timeout => true,
            SyncError::Store { retryable, .. } => *retryable,
            SyncError::Unauthorized
            | SyncError::SignedOut
            | SyncError::Paused
            | SyncError::Stopped => false,
        }
    }

    /// A stable machine-readable code for the UI and `--json` output.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::Offline(_) => "offline",
            SyncError::Unauthorized => "unauthorized",
            SyncError::SignedOut => "signed_out",
            SyncError::Paused => "paused",
            SyncError::Timeout => "timeout",
            SyncError::Store { .. } => "store",
            SyncError::Stopped => "stopped",
        }
    }
}

impl From<StoreError> for SyncError {
    fn from(err: StoreError) -> Self {
        SyncError::Store {
            retryable: err.is_retryable(),
            message: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_versus_permanent() {
        assert!(SyncError::Offline(TransportError::HalfOpen).is_retryable());
        assert!(SyncError::Timeout.is_retryable());
        assert!(!SyncError::Offline(TransportError::Unauthorized).is_retryable());
        let too_large = TransportError::TooLarge(TooLarge {
            what: "batch reply",
            limit: 1024,
        });
        assert!(!too_large.is_retryable());
        assert_eq!(
            too_large.to_string(),
            "the server sent a batch reply larger than 1024 bytes; refused"
        );
        assert!(!SyncError::Unauthorized.is_retryable());
        assert!(SyncError::from(StoreError::Busy).is_retryable());
        assert!(!SyncError::from(StoreError::Closed).is_retryable());
        assert_eq!(SyncError::Paused.code(), "paused");
    }
}
