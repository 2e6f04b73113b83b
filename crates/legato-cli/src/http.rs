//! The account HTTP calls of PROTOCOL.md section 5.2 (the sync traffic is the sync engine's).

use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use legato_protocol::{AuthResponse, ErrorResponse, RegisterRequest};
use reqwest::{Client, Response, StatusCode};

const TIMEOUT: Duration = Duration::from_secs(20);

/// A client for one server.
#[derive(Debug)]
pub struct Api {
    client: Client,
    server: String,
}

impl Api {
    pub fn new(server: &str) -> Result<Self> {
        let client = Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("legato-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Api {
            client,
            server: server.to_owned(),
        })
    }

    pub async fn register(&self, body: &RegisterRequest) -> Result<AuthResponse> {
        let response = self
            .send(self.client.post(self.url("/api/auth/register")).json(body))
            .await?;
        parse(response).await
    }

    pub async fn login(&self, body: &RegisterRequest) -> Result<AuthResponse> {
        let response = self
            .send(self.client.post(self.url("/api/auth/login")).json(body))
            .await?;
        parse(response).await
    }

    /// Revokes `token`. A token the server no longer knows counts as revoked.
    pub async fn logout(&self, token: &str) -> Result<()> {
        let response = self
            .send(
                self.client
                    .post(self.url("/api/auth/logout"))
                    .bearer_auth(token),
            )
            .await?;
        if response.status().is_success() || response.status() == StatusCode::UNAUTHORIZED {
            return Ok(());
        }
        Err(error_of(response).await)
    }

    /// Whether `GET /healthz` answers 200 within `timeout`.
    pub async fn healthy(&self, timeout: Duration) -> bool {
        let request = self.client.get(self.url("/healthz")).timeout(timeout);
        matches!(request.send().await, Ok(r) if r.status().is_success())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Response> {
        request.send().await.map_err(|err| {
            anyhow!(
                "cannot reach the server at {}: {}",
                self.server,
                root_cause(&err)
            )
        })
    }
}

async fn parse<T: serde::de::DeserializeOwned>(response: Response) -> Result<T> {
    if !response.status().is_success() {
        return Err(error_of(response).await);
    }
    response
        .json()
        .await
        .context("the server sent an unexpected reply")
}

/// The server's `{"error": {"code", "message"}}` as an error.
async fn error_of(response: Response) -> anyhow::Error {
    let status = response.status();
    match response.json::<ErrorResponse>().await {
        Ok(body) => anyhow!("{} ({})", body.error.message, body.error.code.as_str()),
        Err(_) => anyhow!("the server answered {status}"),
    }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Runs `future` to completion on a small runtime of its own (commands are synchronous; only
/// the network calls need one).
pub fn block_on<F: std::future::Future>(future: F) -> Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(future))
}
