//! The account calls of PROTOCOL.md section 5.2: register, log in, log out. One client for
//! the desktop app and the CLI; the sync traffic itself is the engine's.

use std::time::Duration;

use crate::ServerUrl;
use legato_protocol::{AuthResponse, ErrorCode, ErrorResponse, RegisterRequest};
use reqwest::{Client, Response, StatusCode};

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

    async fn auth(&self, path: &str, body: &RegisterRequest) -> Result<AuthResponse, AccountError> {
        let response = self
            .client
            .post(self.server.endpoint(path))
            .json(body)
            .send()
            .await
            .map_err(network)?;
        if !response.status().is_success() {
            return Err(error_of(response).await);
        }
        response.json().await.map_err(|err| AccountError::Server {
            status: 200,
            message: format!("unexpected reply: {err}"),
        })
    }
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
    match response.json::<ErrorResponse>().await {
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
