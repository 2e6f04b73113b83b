//! The account token: in the OS keyring (Secret Service on Linux, Keychain on macOS,
//! Credential Manager on Windows), and in memory while the app runs. Never in SQLite, a
//! plain file, a URL or a log line.
//!
//! Without a usable keyring (no Secret Service on a headless Linux, a locked keyring that
//! does not answer) the app still works: offline always, and signed in for the session, with
//! [`KeyringStatus::persistent`] false and a message saying that signing in must be repeated
//! after a restart. `LEGATO_KEYRING=memory` chooses that on purpose (tests).
//!
//! The entry is service `legato`, user `<server>|<email>|<client id>`
//! ([`legato_sync::account::credential_key`], the CLI's naming): one per server, account and
//! device (data dir), so two devices on one machine, the CLI beside the app, or another
//! server never share a token. The token in use is a [`Credential`]: it is handed out only
//! for the server that issued it ([`Keychain::token_for`]). Entries of older versions
//! (`desktop|<client id>`, not tied to a server) are moved to the new name when read.
//!
//! Keyring calls block (D-Bus, maybe an unlock prompt): they run on the blocking pool with
//! a timeout.

use std::sync::Mutex;
use std::time::Duration;

use legato_sync::ServerUrl;
use legato_sync::account::Credential;

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
    client_id: String,
    /// The session in use: the keyring's copy, or the only copy without a keyring.
    session: Mutex<Option<Credential>>,
    status: Mutex<KeyringStatus>,
}

impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keychain")
            .field("mode", &self.mode)
            .field("client_id", &self.client_id)
            .field("session", &self.credential())
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
            client_id: client_id.to_owned(),
            session: Mutex::new(None),
            status: Mutex::new(status),
        }
    }

    /// The session in use (token, server, account), if signed in.
    pub fn credential(&self) -> Option<Credential> {
        self.session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The token for requests to `server`: only the one `server` issued (none when signed
    /// in elsewhere).
    pub fn token_for(&self, server: &ServerUrl) -> Option<String> {
        self.credential()
            .and_then(|c| c.token_for(server).map(str::to_owned))
    }

    /// The keyring entry name of `email`'s token from `server` on this device.
    pub fn entry_name(&self, server: &ServerUrl, email: &str) -> String {
        legato_sync::account::credential_key(server.as_str(), email, &self.client_id)
    }

    /// The entry name older versions used (one per device, not tied to a server).
    fn legacy_entry_name(&self) -> String {
        format!("desktop|{}", self.client_id)
    }

    pub fn status(&self) -> KeyringStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_session(&self, credential: Option<Credential>) {
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = credential;
    }

    fn set_status(&self, status: KeyringStatus) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }

    /// Reads the saved token of `email` from `server` (at start). A missing keyring is
    /// reported, and the app goes on signed out. An entry of an older version (not tied to
    /// a server) is taken as `server`'s, the one the account was used on, and moved to the
    /// new name.
    pub async fn load(
        &self,
        server: &ServerUrl,
        email: &str,
    ) -> Result<Option<String>, KeychainError> {
        if self.mode == KeyringMode::Memory {
            return Ok(self
                .credential()
                .filter(|c| c.email == email)
                .and_then(|c| c.token_for(server).map(str::to_owned)));
        }
        let name = self.entry_name(server, email);
        let legacy = self.legacy_entry_name();
        let result = self
            .blocking(name.clone(), |entry| match entry.get_password() {
                Ok(token) => Ok(Some(token)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(err) => Err(err),
            })
            .await;
        let result = match result {
            Ok(None) => self.migrate(&legacy, name).await,
            other => other,
        };
        match result {
            Ok(token) => {
                self.set_session(
                    token
                        .clone()
                        .map(|t| Credential::new(server.clone(), email, t)),
                );
                Ok(token)
            }
            Err(err) => {
                self.note(&err);
                Err(err)
            }
        }
    }

    /// Moves the token of the legacy entry (if any) to `name`.
    async fn migrate(&self, legacy: &str, name: String) -> Result<Option<String>, KeychainError> {
        let old = self
            .blocking(legacy.to_owned(), |entry| match entry.get_password() {
                Ok(token) => Ok(Some(token)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(err) => Err(err),
            })
            .await?;
        let Some(token) = old else {
            return Ok(None);
        };
        let saved = token.clone();
        self.blocking(name, move |entry| entry.set_password(&saved))
            .await?;
        self.blocking(legacy.to_owned(), |entry| match entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(err),
        })
        .await?;
        tracing::info!("moved the token to a keyring entry tied to its server and account");
        Ok(Some(token))
    }

    /// Keeps `credential` for this session and, when possible, in the keyring (under its
    /// server and account). Never fails: a keyring that cannot keep it only makes the
    /// sign-in last until the app quits (the returned status says so).
    pub async fn save(&self, credential: Credential) -> KeyringStatus {
        let name = self.entry_name(&credential.server, &credential.email);
        let token = credential.token().to_owned();
        self.set_session(Some(credential));
        if self.mode == KeyringMode::Memory {
            return self.status();
        }
        match self
            .blocking(name, move |entry| entry.set_password(&token))
            .await
        {
            Ok(()) => self.set_status(KeyringStatus::kept()),
            Err(err) => {
                tracing::warn!(%err, "cannot keep the token in the keyring");
                self.note(&err);
            }
        }
        self.status()
    }

    /// Forgets the session's token here and in the keyring (and any legacy entry).
    pub async fn forget(&self) -> Result<(), KeychainError> {
        let session = self.credential();
        self.set_session(None);
        if self.mode == KeyringMode::Memory {
            return Ok(());
        }
        let mut names = vec![self.legacy_entry_name()];
        if let Some(credential) = session {
            names.push(self.entry_name(&credential.server, &credential.email));
        }
        for name in names {
            let result = self
                .blocking(name, |entry| match entry.delete_credential() {
                    Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                    Err(err) => Err(err),
                })
                .await;
            match result {
                // Nothing can have been saved where there is no keyring.
                Ok(()) | Err(KeychainError::Unavailable(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    fn note(&self, err: &KeychainError) {
        self.set_status(err.status());
    }

    /// Runs a keyring call on entry `user` on the blocking pool, bounded by [`TIMEOUT`].
    async fn blocking<T: Send + 'static>(
        &self,
        user: String,
        call: impl FnOnce(&keyring::Entry) -> Result<T, keyring::Error> + Send + 'static,
    ) -> Result<T, KeychainError> {
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
        let server = ServerUrl::parse("https://a.example.com").unwrap();
        let keychain = Keychain::new(KeyringMode::Memory, "c1");
        assert_eq!(
            keychain.load(&server, "me@example.com").await.unwrap(),
            None
        );
        let status = keychain
            .save(Credential::new(
                server.clone(),
                "me@example.com",
                "secret-token",
            ))
            .await;
        assert!(!status.persistent);
        assert_eq!(status.problem, Some(KeyringProblem::MemoryOnly));
        assert_eq!(status.detail.as_deref(), Some("LEGATO_KEYRING=memory"));
        assert_eq!(keychain.token_for(&server).as_deref(), Some("secret-token"));
        assert!(!format!("{keychain:?}").contains("secret-token"));
        keychain.forget().await.unwrap();
        assert_eq!(keychain.token_for(&server), None);
        assert_eq!(keychain.credential(), None);
    }

    #[tokio::test]
    async fn the_token_and_its_entry_are_tied_to_the_server_and_the_account() {
        let a = ServerUrl::parse("https://a.example.com").unwrap();
        let b = ServerUrl::parse("http://192.168.1.20:8080").unwrap();
        let keychain = Keychain::new(KeyringMode::Memory, "c1");
        keychain
            .save(Credential::new(a.clone(), "me@example.com", "token-a"))
            .await;
        assert_eq!(keychain.token_for(&a).as_deref(), Some("token-a"));
        assert_eq!(
            keychain.token_for(&b),
            None,
            "never handed out for another server"
        );
        assert_eq!(
            keychain.load(&a, "you@example.com").await.unwrap(),
            None,
            "nor for another account"
        );
        assert_eq!(
            keychain.entry_name(&a, "me@example.com"),
            "https://a.example.com|me@example.com|c1"
        );
        assert_ne!(
            keychain.entry_name(&a, "me@example.com"),
            keychain.entry_name(&b, "me@example.com")
        );
        assert_ne!(
            keychain.entry_name(&a, "me@example.com"),
            Keychain::new(KeyringMode::Memory, "c2").entry_name(&a, "me@example.com")
        );
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
