//! The account calls of PROTOCOL.md section 5.2 (register, log in, log out) and of
//! `docs/PROTOCOL-NOTES.md` (devices, password change). One client for
//! the desktop app and the CLI; the sync traffic itself is the engine's.

use std::time::Duration;

use crate::ServerUrl;
use crate::error::TooLarge;
use crate::transport::{BodyError, error_body, read_capped};
use legato_protocol::{
    AuthResponse, ChangePasswordRequest, DevicesResponse, ErrorCode, ErrorResponse,
    MAX_MESSAGE_BYTES, RegisterRequest,
};
use reqwest::{Client, Response, StatusCode};

// Every reply body is read through `transport::read_capped`: at most
// `MAX_MESSAGE_BYTES` for an answer, 64 KiB for an error.

const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("cannot reach the server: {0}")]
    Network(String),
    #[error("{0} (unauthorized)")]
    Unauthorized(String),
    #[error("{0} (email_taken)")]
    EmailTaken(String),
    #[error("{0} (invalid)")]
    Invalid(String),
    #[error("the server answered {status}: {message}")]
    Server { status: u16, message: String },
    /// The reply was larger than the client accepts (nothing of it is used).
    #[error(transparent)]
    TooLarge(TooLarge),
    /// The account has no signed-in device with this id (it is signed out already).
    #[error("no signed-in device with id {0}")]
    NoSuchDevice(String),
    /// The device asked to sign itself out through the device list: its own token would be
    /// revoked while it keeps it. Signing out (logout) is the way.
    #[error("device {0} is this device: sign out instead")]
    ThisDevice(String),
}

impl AccountError {
    /// Whether the same call may succeed later unchanged: the network, a server error
    /// (5xx). Wrong credentials, a taken email, an invalid request and an oversize reply
    /// are final for that request.
    pub fn is_retryable(&self) -> bool {
        match self {
            AccountError::Network(_) => true,
            AccountError::Server { status, .. } => *status >= 500 || *status == 429,
            AccountError::Unauthorized(_)
            | AccountError::EmailTaken(_)
            | AccountError::Invalid(_)
            | AccountError::TooLarge(_)
            | AccountError::NoSuchDevice(_)
            | AccountError::ThisDevice(_) => false,
        }
    }
}

/// The name of a token's keyring entry (service `legato`): `<server>|<email>|<client id>`.
/// A token belongs to the server that issued it, the account and the device (data dir), so
/// another server, another account, another device or the CLI beside the app never read
/// it. `server` is the base URL without a trailing slash. The CLI and the desktop app
/// both name their entries with this.
pub fn credential_key(server: &str, email: &str, client_id: &str) -> String {
    format!("{}|{}|{}", server.trim_end_matches('/'), email, client_id)
}

/// A signed-in session: the token and the server and account it was issued for. The token
/// is only handed out for that server ([`Credential::token_for`]), so a client that was
/// switched to another server cannot send it there. `Debug` never prints the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub server: ServerUrl,
    pub email: String,
    token: String,
}

impl Credential {
    pub fn new(server: ServerUrl, email: impl Into<String>, token: impl Into<String>) -> Self {
        Credential {
            server,
            email: email.into(),
            token: token.into(),
        }
    }

    /// The token, for requests to the server that issued it only.
    pub fn token_for(&self, server: &ServerUrl) -> Option<&str> {
        (self.server == *server).then_some(self.token.as_str())
    }

    /// The token, to revoke it at (or save it for) its own server.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Its keyring entry name on device `client_id` (see [`credential_key`]).
    pub fn key(&self, client_id: &str) -> String {
        credential_key(self.server.as_str(), &self.email, client_id)
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("server", &self.server.as_str())
            .field("email", &self.email)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// A client for one server's account endpoints.
#[derive(Debug, Clone)]
pub struct AccountApi {
    client: Client,
    server: ServerUrl,
}

impl AccountApi {
    pub fn new(server: ServerUrl) -> Result<Self, AccountError> {
        let client = Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("legato/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| AccountError::Network(err.to_string()))?;
        Ok(AccountApi { client, server })
    }

    pub async fn register(&self, body: &RegisterRequest) -> Result<AuthResponse, AccountError> {
        self.auth("api/auth/register", body).await
    }

    pub async fn login(&self, body: &RegisterRequest) -> Result<AuthResponse, AccountError> {
        self.auth("api/auth/login", body).await
    }

    /// Revokes `token`. A token the server no longer knows counts as revoked.
    pub async fn logout(&self, token: &str) -> Result<(), AccountError> {
        let response = self
            .client
            .post(self.server.endpoint("api/auth/logout"))
            .bearer_auth(token)
            .send()
            .await
            .map_err(network)?;
        if response.status().is_success() || response.status() == StatusCode::UNAUTHORIZED {
            return Ok(());
        }
        Err(error_of(response).await)
    }

    /// The account's signed-in devices (`GET /api/devices`), oldest first.
    pub async fn devices(&self, token: &str) -> Result<DevicesResponse, AccountError> {
        let response = self
            .client
            .get(self.server.endpoint("api/devices"))
            .bearer_auth(token)
            .send()
            .await
            .map_err(network)?;
        read_json(response, "devices reply").await
    }

    /// Signs another device of the account out (`DELETE /api/devices/{id}`): its token is
    /// revoked and its live connections close. Refuses this device's own id
    /// ([`AccountError::ThisDevice`]: logout ends this sign-in and forgets the token) and
    /// an id the account has no signed-in device under ([`AccountError::NoSuchDevice`]).
    pub async fn revoke_other_device(&self, token: &str, id: &str) -> Result<(), AccountError> {
        let devices = self.devices(token).await?.devices;
        match devices.iter().find(|device| device.id == id) {
            None => return Err(AccountError::NoSuchDevice(id.to_owned())),
            Some(device) if device.current => return Err(AccountError::ThisDevice(id.to_owned())),
            Some(_) => {}
        }
        let mut url = self.server.endpoint("api/devices");
        url.path_segments_mut()
            .map_err(|()| AccountError::Invalid("the server URL cannot take a path".into()))?
            .push(id);
        let response = self
            .client
            .delete(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(network)?;
        match response.status() {
            // Signed out meanwhile (by another device): the same as not there.
            StatusCode::NOT_FOUND => Err(AccountError::NoSuchDevice(id.to_owned())),
            _ => expect_success(response).await,
        }
    }

    /// Changes the password (`POST /api/auth/password`); every other device is signed out.
    pub async fn change_password(
        &self,
        token: &str,
        body: &ChangePasswordRequest,
    ) -> Result<(), AccountError> {
        let response = self
            .client
            .post(self.server.endpoint("api/auth/password"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(network)?;
        expect_success(response).await
    }

    async fn auth(&self, path: &str, body: &RegisterRequest) -> Result<AuthResponse, AccountError> {
        let response = self
            .client
            .post(self.server.endpoint(path))
            .json(body)
            .send()
            .await
            .map_err(network)?;
        read_json(response, "sign-in reply").await
    }
}

/// A reply without a body worth reading: success, or the error it carries.
async fn expect_success(response: Response) -> Result<(), AccountError> {
    if response.status().is_success() {
        Ok(())
    } else {
        Err(error_of(response).await)
    }
}

/// A successful reply's JSON body, read with the size cap; an error reply as its error.
async fn read_json<T: serde::de::DeserializeOwned>(
    response: Response,
    what: &'static str,
) -> Result<T, AccountError> {
    let status = response.status();
    if !status.is_success() {
        return Err(error_of(response).await);
    }
    let body = read_capped(response, MAX_MESSAGE_BYTES, what)
        .await
        .map_err(|err| match err {
            BodyError::TooLarge(too_large) => AccountError::TooLarge(too_large),
            BodyError::Network(err) => network(err),
        })?;
    serde_json::from_slice(&body).map_err(|err| AccountError::Server {
        status: status.as_u16(),
        message: format!("unexpected reply: {err}"),
    })
}

fn network(err: reqwest::Error) -> AccountError {
    let mut cause: &dyn std::error::Error = &err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    AccountError::Network(cause.to_string())
}

/// The server's `{"error": {"code", "message"}}` as an [`AccountError`].
async fn error_of(response: Response) -> AccountError {
    let status = response.status().as_u16();
    match serde_json::from_str::<ErrorResponse>(&error_body(response).await) {
        Ok(body) => classify(status, body.error.code, body.error.message),
        Err(_) => AccountError::Server {
            status,
            message: "no error details".to_owned(),
        },
    }
}

fn classify(status: u16, code: ErrorCode, message: String) -> AccountError {
    match code {
        ErrorCode::Unauthorized => AccountError::Unauthorized(message),
        ErrorCode::EmailTaken => AccountError::EmailTaken(message),
        ErrorCode::Invalid => AccountError::Invalid(message),
        _ => AccountError::Server { status, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_belongs_to_its_server_and_account() {
        let a = ServerUrl::parse("https://a.example.com").unwrap();
        let b = ServerUrl::parse("https://b.example.com").unwrap();
        let credential = Credential::new(a.clone(), "me@example.com", "secret-token");
        assert_eq!(credential.token_for(&a), Some("secret-token"));
        assert_eq!(
            credential.token_for(&ServerUrl::parse("https://a.example.com/").unwrap()),
            Some("secret-token"),
            "the same server however it is written"
        );
        assert_eq!(credential.token_for(&b), None);
        assert_eq!(
            credential.token_for(&ServerUrl::parse("https://a.example.com/other").unwrap()),
            None
        );
        assert!(!format!("{credential:?}").contains("secret-token"));
        assert_eq!(
            credential.key("c1"),
            "https://a.example.com|me@example.com|c1"
        );
        assert_eq!(
            credential_key("http://127.0.0.1:8080", "me@example.com", "c1"),
            "http://127.0.0.1:8080|me@example.com|c1"
        );
        let keys = [
            credential_key("https://a.example.com", "me@example.com", "c1"),
            credential_key("https://b.example.com", "me@example.com", "c1"),
            credential_key("https://a.example.com", "you@example.com", "c1"),
            credential_key("https://a.example.com", "me@example.com", "c2"),
        ];
        for (i, key) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(key), "{key}");
        }
    }

    #[test]
    fn server_error_codes_become_typed_errors() {
        assert!(matches!(
            classify(401, ErrorCode::Unauthorized, "wrong password".into()),
            AccountError::Unauthorized(_)
        ));
        assert!(matches!(
            classify(409, ErrorCode::EmailTaken, "taken".into()),
            AccountError::EmailTaken(_)
        ));
        assert!(matches!(
            classify(400, ErrorCode::Invalid, "email".into()),
            AccountError::Invalid(_)
        ));
        assert_eq!(
            classify(500, ErrorCode::Internal, "boom".into()),
            AccountError::Server {
                status: 500,
                message: "boom".into()
            }
        );
    }
}
