//! The account token: in the OS keyring (Secret Service on Linux, Keychain on macOS,
//! Credential Manager on Windows), and in memory while the app runs. Never in SQLite, a
//! plain file, a URL or a log line.
//!
//! Without a usable keyring (no Secret Service on a headless Linux, a locked keyring that
//! does not answer) the app still works: offline always, and signed in for the session, with
//! [`KeyringStatus::persistent`] false and a message saying that signing in must be repeated
//! after a restart. `LEGATO_KEYRING=memory` chooses that on purpose (tests).
//!
//! The entry is service `legato`, user `desktop|<client id>`: one per device (data dir), so
//! two devices on one machine, or the CLI beside the app, never share a token.
//!
//! Keyring calls block (D-Bus, maybe an unlock prompt): they run on the blocking pool with
//! a timeout.

use std::sync::Mutex;
use std::time::Duration;

use crate::ipc::types::{KeyringProblem, KeyringStatus};

const SERVICE: &str = "legato";
/// How long a keyring call may take (an unlock prompt included) before the app goes on
/// without it.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Where tokens are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringMode {
    /// The OS keyring (memory only if it is missing).
    Os,
    /// Memory only, never persisted (`LEGATO_KEYRING=memory`, for tests).
    Memory,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeychainError {
    /// No keyring service, or it did not answer.
    #[error(
        "The system keyring is not available ({0}): Legato works offline, and signing in lasts until it quits"
    )]
    Unavailable(String),
    /// The keyring answered with an error for this entry.
    #[error("The system keyring refused the request: {0}")]
    Failed(String),
}

impl KeychainError {
    /// What Settings shows: a plain sentence, the platform's words as the detail.
    pub fn status(&self) -> KeyringStatus {
        let (problem, message, detail) = match self {
            KeychainError::Unavailable(detail) => (
                KeyringProblem::Unavailable,
                "No keyring service: you stay signed in until the app quits",
                detail,
            ),
            KeychainError::Failed(detail) => (
                KeyringProblem::Refused,
                "The keyring refused to keep the sign-in: you stay signed in until the app quits",
                detail,
            ),
        };
        KeyringStatus {
            persistent: false,
            problem: Some(problem),
            message: Some(message.to_owned()),
            detail: Some(detail.clone()),
        }
    }
}

impl KeyringStatus {
    /// The token is (or will be) kept in the keyring.
    fn kept() -> Self {
        KeyringStatus {
            persistent: true,
            problem: None,
            message: None,
            detail: None,
        }
    }

    fn memory_only() -> Self {
        KeyringStatus {
            persistent: false,
            problem: Some(KeyringProblem::MemoryOnly),
            message: Some("Keyring turned off: you stay signed in until the app quits".to_owned()),
            detail: Some("LEGATO_KEYRING=memory".to_owned()),
        }
    }
}

/// The token store of one device.
pub struct Keychain {
    mode: KeyringMode,
    user: String,
    /// The token in use: the keyring's copy, or the only copy without a keyring.
    session: Mutex<Option<String>>,
    status: Mutex<KeyringStatus>,
}

impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keychain")
            .field("mode", &self.mode)
            .field("user", &self.user)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Keychain {
    pub fn new(mode: KeyringMode, client_id: &str) -> Self {
        let status = match mode {
            KeyringMode::Os => KeyringStatus::kept(),
            KeyringMode::Memory => KeyringStatus::memory_only(),
        };
        Keychain {
            mode,
            user: format!("desktop|{client_id}"),
            session: Mutex::new(None),
            status: Mutex::new(status),
        }
    }

    /// The token in use, if signed in.
    pub fn token(&self) -> Option<String> {
        self.session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn status(&self) -> KeyringStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_session(&self, token: Option<String>) {
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = token;
    }

    fn set_status(&self, status: KeyringStatus) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }

    /// Reads the saved token (at start). A missing keyring is reported, and the app goes on
    /// signed out.
    pub async fn load(&self) -> Result<Option<String>, KeychainError> {
        if self.mode == KeyringMode::Memory {
            return Ok(self.token());
        }
        let result = self
            .blocking(|entry| match entry.get_password() {
                Ok(token) => Ok(Some(token)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(err) => Err(err),
            })
            .await;
        match result {
            Ok(token) => {
                self.set_session(token.clone());
                Ok(token)
            }
            Err(err) => {
                self.note(&err);
                Err(err)
            }
        }
    }

    /// Keeps `token` for this session and, when possible, in the keyring. Never fails: a
    /// keyring that cannot keep it only makes the sign-in last until the app quits (the
    /// returned status says so).
    pub async fn save(&self, token: String) -> KeyringStatus {
        self.set_session(Some(token.clone()));
        if self.mode == KeyringMode::Memory {
            return self.status();
        }
        match self.blocking(move |entry| entry.set_password(&token)).await {
            Ok(()) => self.set_status(KeyringStatus::kept()),
            Err(err) => {
                tracing::warn!(%err, "cannot keep the token in the keyring");
                self.note(&err);
            }
        }
        self.status()
    }

    /// Forgets the token here and in the keyring.
    pub async fn forget(&self) -> Result<(), KeychainError> {
        self.set_session(None);
        if self.mode == KeyringMode::Memory {
            return Ok(());
        }
        let result = self
            .blocking(|entry| match entry.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(err) => Err(err),
            })
            .await;
        match result {
            // Nothing can have been saved where there is no keyring.
            Ok(()) | Err(KeychainError::Unavailable(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }

    fn note(&self, err: &KeychainError) {
        self.set_status(err.status());
    }

    /// Runs a keyring call on the blocking pool, bounded by [`TIMEOUT`].
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&keyring::Entry) -> Result<T, keyring::Error> + Send + 'static,
    ) -> Result<T, KeychainError> {
        let user = self.user.clone();
        let task = tokio::task::spawn_blocking(move || {
            let entry = keyring::Entry::new(SERVICE, &user)?;
            call(&entry)
        });
        match tokio::time::timeout(TIMEOUT, task).await {
            Err(_) => Err(KeychainError::Unavailable(format!(
                "no answer within {} s",
                TIMEOUT.as_secs()
            ))),
            Ok(Err(join)) => Err(KeychainError::Failed(join.to_string())),
            Ok(Ok(result)) => result.map_err(classify),
        }
    }
}

/// A missing or unreachable service, as opposed to a refusal for this entry.
fn classify(err: keyring::Error) -> KeychainError {
    match err {
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
            KeychainError::Unavailable(err.to_string())
        }
        other => KeychainError::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_mode_keeps_the_token_for_the_session_only() {
        let keychain = Keychain::new(KeyringMode::Memory, "c1");
        assert_eq!(keychain.load().await.unwrap(), None);
        let status = keychain.save("secret-token".into()).await;
        assert!(!status.persistent);
        assert_eq!(status.problem, Some(KeyringProblem::MemoryOnly));
        assert_eq!(status.detail.as_deref(), Some("LEGATO_KEYRING=memory"));
        assert_eq!(keychain.token().as_deref(), Some("secret-token"));
        assert!(!format!("{keychain:?}").contains("secret-token"));
        keychain.forget().await.unwrap();
        assert_eq!(keychain.token(), None);
    }

    #[test]
    fn a_missing_service_is_unavailable_not_a_failure() {
        let err = classify(keyring::Error::NoStorageAccess("no bus".into()));
        assert!(matches!(err, KeychainError::Unavailable(_)));
        assert!(err.to_string().contains("works offline"));
        assert!(matches!(
            classify(keyring::Error::TooLong("user".into(), 10)),
            KeychainError::Failed(_)
        ));
    }

    #[test]
    fn settings_get_a_plain_sentence_and_the_platform_words_as_detail() {
        let raw = "no secret service provider or dbus session found";
        let status = classify(keyring::Error::PlatformFailure(raw.into())).status();
        assert_eq!(
            status,
            KeyringStatus {
                persistent: false,
                problem: Some(KeyringProblem::Unavailable),
                message: Some(
                    "No keyring service: you stay signed in until the app quits".to_owned()
                ),
                detail: Some(keyring::Error::PlatformFailure(raw.into()).to_string()),
            }
        );
        let refused = KeychainError::Failed("locked".into()).status();
        assert_eq!(refused.problem, Some(KeyringProblem::Refused));
        assert!(!refused.message.unwrap().contains("locked"));
        assert_eq!(refused.detail.as_deref(), Some("locked"));
        let json = serde_json::to_value(KeychainError::Unavailable("x".into()).status()).unwrap();
        assert_eq!(json["problem"], "unavailable");
        assert_eq!(json["detail"], "x");
    }
}
