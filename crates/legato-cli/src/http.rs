//! The CLI's own HTTP: the health probe of `status`. Account calls are
//! `legato_sync::account::AccountApi`, shared with the desktop app.

use std::time::Duration;

use anyhow::{Context as _, Result};
use reqwest::Client;

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

    /// Whether `GET /healthz` answers 200 within `timeout`.
    pub async fn healthy(&self, timeout: Duration) -> bool {
        let request = self.client.get(self.url("/healthz")).timeout(timeout);
        matches!(request.send().await, Ok(r) if r.status().is_success())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }
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
