//! What went wrong with sync, typed where it happens: the engine records a [`SyncProblem`]
//! (its kind, whether waiting can fix it, and the words for a log or a tooltip), and the
//! app and the CLI read the kind. Nothing downstream reads the words to decide anything:
//! rewording an error's `Display` changes only the detail.

use legato_protocol::ErrorCode;
use legato_store::StoreError;
use serde::Serialize;

use crate::error::TransportError;

/// What kind of trouble sync is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ProblemKind {
    /// The server cannot be reached: no network, a timeout, a half-open or closed connection.
    Unreachable,
    /// The server refused the sign-in (the token was revoked or expired).
    Unauthorized,
    /// The server asked this device to slow down.
    RateLimited,
    /// The account's storage on the server is full.
    QuotaExceeded,
    /// The server failed (an internal error or an unexpected HTTP status).
    Server,
    /// The server refused a change for good (it waits in the dead letters).
    Refused,
    /// The server sent something this version cannot read (or more than it accepts).
    Protocol,
    /// This device's store failed (a full disk, a database that cannot be read).
    Storage,
    /// Anything else.
    Other,
}

impl ProblemKind {
    /// The kind of a server's refusal of a change, by its protocol code.
    pub fn of_refusal(code: ErrorCode) -> Self {
        match code {
            ErrorCode::QuotaExceeded => ProblemKind::QuotaExceeded,
            ErrorCode::RateLimited => ProblemKind::RateLimited,
            ErrorCode::Internal | ErrorCode::Unknown => ProblemKind::Server,
            ErrorCode::Unauthorized => ProblemKind::Unauthorized,
            _ => ProblemKind::Refused,
        }
    }
}

/// A sync problem: its kind, whether trying again later may help, and the error's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncProblem {
    pub kind: ProblemKind,
    pub retryable: bool,
    pub detail: String,
}

impl SyncProblem {
    pub fn new(kind: ProblemKind, retryable: bool, detail: impl Into<String>) -> Self {
        SyncProblem {
            kind,
            retryable,
            detail: detail.into(),
        }
    }

    /// A transport failure: the connection, an HTTP status, the server's close.
    pub fn transport(err: &TransportError) -> Self {
        let kind = match err {
            TransportError::Unauthorized => ProblemKind::Unauthorized,
            TransportError::Timeout(_)
            | TransportError::Network(_)
            | TransportError::HalfOpen
            | TransportError::Closed { .. } => ProblemKind::Unreachable,
            TransportError::Http { status: 401, .. } => ProblemKind::Unauthorized,
            TransportError::Http { status: 429, .. } => ProblemKind::RateLimited,
            TransportError::Http { .. } => ProblemKind::Server,
            TransportError::Protocol(_) | TransportError::TooLarge(_) => ProblemKind::Protocol,
        };
        SyncProblem::new(kind, err.is_retryable(), err.to_string())
    }

    /// The server refused one change with `code`.
    pub fn refusal(code: ErrorCode, message: &str) -> Self {
        SyncProblem::new(
            ProblemKind::of_refusal(code),
            code.is_transient(),
            format!("{code}: {message}"),
        )
    }

    /// An `error` frame of the server that names no change: the server's own trouble,
    /// unless its code says more.
    pub fn server_error(code: ErrorCode, message: &str) -> Self {
        let kind = match code {
            ErrorCode::RateLimited => ProblemKind::RateLimited,
            ErrorCode::QuotaExceeded => ProblemKind::QuotaExceeded,
            ErrorCode::Unauthorized => ProblemKind::Unauthorized,
            _ => ProblemKind::Server,
        };
        SyncProblem::new(kind, true, format!("server: {code}: {message}"))
    }

    /// This device's store failed.
    pub fn store(err: &StoreError) -> Self {
        SyncProblem::new(
            ProblemKind::Storage,
            err.is_retryable(),
            format!("local store: {err}"),
        )
    }
}

impl std::fmt::Display for SyncProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_errors_are_kinds_by_variant_not_by_words() {
        let cases = [
            (
                TransportError::Unauthorized,
                ProblemKind::Unauthorized,
                false,
            ),
            (
                TransportError::Timeout("connect"),
                ProblemKind::Unreachable,
                true,
            ),
            (
                TransportError::Network("connection refused".into()),
                ProblemKind::Unreachable,
                true,
            ),
            (TransportError::HalfOpen, ProblemKind::Unreachable, true),
            (
                TransportError::Closed {
                    code: 1001,
                    reason: "server shutting down".into(),
                },
                ProblemKind::Unreachable,
                true,
            ),
            (
                TransportError::Http {
                    status: 401,
                    code: None,
                    message: "no".into(),
                },
                ProblemKind::Unauthorized,
                true,
            ),
            (
                TransportError::Http {
                    status: 429,
                    code: Some(ErrorCode::RateLimited),
                    message: "slow down".into(),
                },
                ProblemKind::RateLimited,
                true,
            ),
            (
                TransportError::Http {
                    status: 503,
                    code: None,
                    message: "busy".into(),
                },
                ProblemKind::Server,
                true,
            ),
            (
                TransportError::Protocol("bad frame".into()),
                ProblemKind::Protocol,
                true,
            ),
        ];
        for (err, kind, retryable) in cases {
            let problem = SyncProblem::transport(&err);
            assert_eq!(problem.kind, kind, "{err}");
            assert_eq!(problem.retryable, retryable, "{err}");
            assert_eq!(problem.detail, err.to_string());
        }
    }

    #[test]
    fn refusals_are_kinds_by_code() {
        let cases = [
            (ErrorCode::QuotaExceeded, ProblemKind::QuotaExceeded, true),
            (ErrorCode::RateLimited, ProblemKind::RateLimited, true),
            (ErrorCode::Internal, ProblemKind::Server, true),
            (ErrorCode::Invalid, ProblemKind::Refused, false),
            (ErrorCode::TooLarge, ProblemKind::Refused, false),
        ];
        for (code, kind, retryable) in cases {
            let problem = SyncProblem::refusal(code, "words");
            assert_eq!(problem.kind, kind, "{code}");
            assert_eq!(problem.retryable, retryable, "{code}");
            assert_eq!(problem.detail, format!("{code}: words"));
        }
        assert_eq!(
            SyncProblem::server_error(ErrorCode::Invalid, "bad frame").kind,
            ProblemKind::Server
        );
        assert_eq!(
            SyncProblem::server_error(ErrorCode::RateLimited, "slow").kind,
            ProblemKind::RateLimited
        );
    }
}
