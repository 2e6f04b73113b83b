//! `legato-server`: parse arguments, set up logging, run the library's server until SIGINT or
//! SIGTERM. Prints `listening on http://ADDR` on stdout once bound (tools parse that line).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use legato_server::AnyServer;
use legato_server::settings::{Overrides, Settings};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Legato sync server. Settings are layered: defaults < --config file < LEGATO_* environment
/// variables < these flags. Logs go to stderr (filter with RUST_LOG, default `info`).
#[derive(Debug, Parser)]
#[command(name = "legato-server", version, about)]
struct Cli {
    /// TOML configuration file (see server.example.toml).
    #[arg(long, env = "LEGATO_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0: any free port).
    #[arg(long)]
    listen: Option<String>,
    /// Database URL: sqlite:///var/lib/legato/legato.db (the default's form) or
    /// postgres://user:password@host:port/database.
    #[arg(long)]
    database: Option<String>,
    /// Sustained changes per second per user (0 disables).
    #[arg(long)]
    rate_limit: Option<f64>,
    /// Changes a user may push at once after being idle.
    #[arg(long)]
    rate_limit_burst: Option<u32>,
    /// Browser origin allowed to open /sync (repeatable; replaces the defaults).
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// Whether anyone may register (default: only when listening on loopback).
    #[arg(long)]
    open_registration: Option<bool>,
}

impl Cli {
    fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            database_url: self.database.clone(),
            rate_limit: self.rate_limit,
            rate_limit_burst: self.rate_limit_burst,
            allowed_origins: (!self.allowed_origins.is_empty())
                .then(|| self.allowed_origins.clone()),
            open_registration: self.open_registration,
            ..Overrides::default()
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // One file descriptor per WebSocket: take whatever the hard limit allows.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(err) => tracing::warn!(error = %err, "could not raise the open file limit"),
    }

    let file = cli
        .config
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        })
        .transpose()?;
    let settings = Settings::load(
        file.as_deref(),
        |name| std::env::var(name).ok(),
        cli.overrides(),
    )
    .context("loading settings")?;

    let server = AnyServer::open(settings.clone())
        .await
        .context("opening the database")?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() && settings.metrics_token.is_none() {
        tracing::warn!(%addr, "GET /metrics is open to anyone who reaches this address; set metrics_token (LEGATO_METRICS_TOKEN) to require a bearer token");
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{addr}")?;
    stdout.flush()?;
    drop(stdout);

    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    server.serve(listener, shutdown).await?;
    Ok(())
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
    shutdown.cancel();
}
