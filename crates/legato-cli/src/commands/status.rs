//! `legato status`: where this device stands with the server.

use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use super::explain;
use super::sync::SyncRecord;
use crate::cli::JsonFlag;
use crate::context::{Context, now_ms};
use crate::http::{Api, block_on};
use crate::output::{local_time_ms, print_json};

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    server: String,
    /// The account's email, when logged in.
    account: Option<String>,
    logged_in: bool,
    /// `online` when the server answers its health check now, else `offline`.
    connection: &'static str,
    pending: u64,
    oldest_pending_age_ms: Option<i64>,
    /// Why the server last refused a waiting change (it is kept and sent again).
    pending_refusal: Option<String>,
    dead_letters: u64,
    conflicts: u64,
    cursor: u64,
    client_id: String,
    /// From the last `legato sync`: `healthy`, `degraded` or `unhealthy`; null before any.
    health: Option<Value>,
    /// When the last `legato sync` finished successfully (ms since the epoch).
    last_sync: Option<i64>,
    last_error: Option<String>,
}

pub fn run(ctx: &Context, args: &JsonFlag) -> Result<()> {
    let store = ctx.store()?;
    let client_id = store.client_id().to_owned();
    let logged_in = ctx.session(&client_id).is_ok();
    let record = SyncRecord::load(&ctx.data)?;
    // Sync goes to the account's server.
    let server = ctx
        .config
        .account
        .as_ref()
        .map_or_else(|| ctx.server.clone(), |a| a.server.clone());
    if let Ok(url) = legato_sync::ServerUrl::parse(&server) {
        ctx.warn_if_insecure(&url);
    }
    let api = Api::new(&server)?;
    let online = block_on(api.healthy(PROBE_TIMEOUT))?;
    let now = now_ms();
    let status = Status {
        server,
        account: ctx.config.account.as_ref().map(|a| a.email.clone()),
        logged_in,
        connection: if online { "online" } else { "offline" },
        pending: store.pending_count().map_err(explain)?,
        oldest_pending_age_ms: store
            .oldest_pending_ms()
            .map_err(explain)?
            .map(|t| (now - t).max(0)),
        pending_refusal: store
            .pending_refusal()
            .map_err(explain)?
            .map(|refusal| refusal.message),
        dead_letters: store.dead_letter_count().map_err(explain)?,
        conflicts: store.conflicts().map_err(explain)?.len() as u64,
        cursor: store.cursor().map_err(explain)?,
        client_id,
        health: record.health.clone(),
        last_sync: record.last_sync,
        last_error: record.last_error.clone(),
    };
    if args.json {
        return print_json(&status);
    }
    let account = match (&status.account, status.logged_in) {
        (Some(email), true) => email.clone(),
        (Some(email), false) => format!("{email} (logged out: `legato account login` to sync)"),
        (None, _) => "not logged in".to_owned(),
    };
    println!("server       {} ({})", status.server, status.connection);
    println!("account      {account}");
    let oldest = status
        .oldest_pending_age_ms
        .map(|age| format!(" (oldest {}s ago)", age / 1000))
        .unwrap_or_default();
    println!("pending      {}{oldest}", status.pending);
    if let Some(refusal) = &status.pending_refusal {
        println!("             waiting: {refusal}");
    }
    println!("dead letters {}", status.dead_letters);
    println!("conflicts    {}", status.conflicts);
    println!("cursor       {}", status.cursor);
    let health = status
        .health
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or("unknown (never synced)");
    println!("health       {health}");
    println!(
        "last sync    {}",
        status
            .last_sync
            .map(local_time_ms)
            .unwrap_or_else(|| "never".to_owned())
    );
    if let Some(error) = &status.last_error {
        println!("last error   {error}");
    }
    Ok(())
}
