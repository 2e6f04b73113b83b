//! `legato sync` and `legato sync --watch`, over the `legato-sync` engine.
//!
//! `sync` starts the engine, asks it to "sync now" (push everything, finish the catch-up),
//! prints what happened and stops. `--watch` stays connected and prints one line per
//! change as it arrives (`entityType id version`, `deleted` appended for a tombstone) and
//! one `status ...` line per connection change, until SIGINT or SIGTERM; then it flushes
//! and exits. Each run leaves its outcome in `sync-state.json` for `legato status`.

use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use legato_core::Strategy;
use legato_protocol::{EntityId, EntityType};
use legato_store::StoreHandle;
use legato_sync::{
    ConnectionState, Health, SyncConfig, SyncEngine, SyncError, SyncEvent, SyncHandle,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use crate::cli::{StrategyArg, SyncArgs};
use crate::config::{DataDir, write_atomic};
use crate::context::{Context, now_ms};
use crate::http::block_on;

const RECORD_FILE: &str = "sync-state.json";

/// What the last `legato sync` left for `legato status` (each run is its own process).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRecord {
    /// When a sync last finished successfully (ms since the epoch).
    pub last_sync: Option<i64>,
    pub last_error: Option<String>,
    /// The engine's health verdict at the end of the last run.
    pub health: Option<Value>,
}

impl SyncRecord {
    pub fn load(data: &DataDir) -> Result<Self> {
        let path = data.file(RECORD_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    fn save(&self, data: &DataDir) -> Result<()> {
        write_atomic(
            &data.file(RECORD_FILE),
            &serde_json::to_vec_pretty(self)?,
            false,
        )
    }

    /// Records how a run ended, with the engine's health at that moment.
    fn finish(data: &DataDir, engine: &SyncHandle, error: Option<String>) -> Result<()> {
        let mut record = Self::load(data)?;
        if error.is_none() {
            record.last_sync = Some(now_ms());
        }
        // A run that failed is not healthy, whatever the change statistics say.
        record.health = match error {
            None => serde_json::to_value(engine.current_status().metrics.health).ok(),
            Some(_) => serde_json::to_value(Health::Unhealthy).ok(),
        };
        record.last_error = error;
        record.save(data)
    }
}

pub fn run(ctx: &Context, args: &SyncArgs) -> Result<()> {
    let client_id = ctx.store()?.client_id().to_owned();
    let (account, token) = ctx.session(&client_id)?;
    let mut config = SyncConfig::new(&account.server, Some(token))?;
    ctx.warn_if_insecure(&config.server);
    let strategy = match args.strategy {
        StrategyArg::Merge => Strategy::Merge,
        StrategyArg::Local => Strategy::Local,
        StrategyArg::Remote => Strategy::Remote,
        StrategyArg::Manual => Strategy::Manual,
    };
    config.strategies = EntityType::ALL.into_iter().map(|t| (t, strategy)).collect();
    let timeout = Duration::from_secs(args.timeout.max(1));
    config.sync_now_timeout = timeout;
    config.connect_timeout = config.connect_timeout.min(timeout);
    config.request_timeout = config.request_timeout.min(timeout);

    block_on(async {
        let store = StoreHandle::open(ctx.data.store_path())
            .await
            .context("cannot open the store")?;
        let engine = SyncEngine::spawn(store, config);
        let result = if args.watch {
            watch(&engine).await
        } else {
            once(&engine, &account.server).await
        };
        engine.shutdown(args.watch).await;
        SyncRecord::finish(
            &ctx.data,
            &engine,
            result.as_ref().err().map(|e| format!("{e:#}")),
        )?;
        result
    })?
}

async fn once(engine: &SyncHandle, server: &str) -> Result<()> {
    let report = engine
        .sync_now()
        .await
        .map_err(|err| explain(err, server))?;
    println!(
        "synced: pushed {}, received {}, conflicts {} ({} waiting for you), dead letters {}, \
         pending {}, cursor {}",
        report.pushed,
        report.pulled,
        report.conflicts,
        report.conflicts_waiting,
        report.dead_letters,
        report.pending,
        report.cursor
    );
    if report.conflicts_waiting > 0 {
        eprintln!("note: see `legato conflicts list` for the conflicts waiting for you");
    }
    if report.dead_letters > 0 {
        eprintln!("note: see `legato dead-letters list` for the changes the server refused");
    }
    Ok(())
}

fn explain(err: SyncError, server: &str) -> anyhow::Error {
    match err {
        SyncError::Offline(cause) => anyhow!(
            "cannot reach the server at {server} ({cause}); your changes are saved and will \
             sync later"
        ),
        SyncError::Unauthorized | SyncError::SignedOut => {
            anyhow!("the server refused this device's login: run `legato account login` again")
        }
        SyncError::Timeout => anyhow!(
            "the server at {server} did not finish in time; your changes are saved and will \
             sync later"
        ),
        other => anyhow!("sync failed: {other}"),
    }
}

/// Prints changes and status until SIGINT or SIGTERM.
async fn watch(engine: &SyncHandle) -> Result<()> {
    let mut events = engine.subscribe_events();
    let mut status = engine.status();
    let mut shown: Option<ConnectionState> = None;
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        let connection = status.borrow_and_update().connection;
        if shown != Some(connection) {
            shown = Some(connection);
            println!("status {}", connection_name(connection));
        }
        tokio::select! {
            () = &mut stop => return Ok(()),
            changed = status.changed() => {
                if changed.is_err() {
                    return Err(anyhow!("the sync engine stopped"));
                }
            }
            event = events.recv() => match event {
                Ok(event) => print_event(engine, event).await?,
                Err(RecvError::Lagged(missed)) => eprintln!("note: {missed} events were skipped"),
                Err(RecvError::Closed) => return Err(anyhow!("the sync engine stopped")),
            },
        }
    }
}

async fn print_event(engine: &SyncHandle, event: SyncEvent) -> Result<()> {
    match event {
        SyncEvent::EntitiesChanged { entity_type, ids } => {
            for (id, line) in versions(engine, entity_type, ids).await? {
                println!("{entity_type} {id} {line}");
            }
        }
        SyncEvent::ConflictNeedsUser {
            conflict_id,
            entity_type,
            entity_id,
        } => println!("conflict {conflict_id} {entity_type} {entity_id}"),
        SyncEvent::DeadLettered {
            change_id,
            entity_type,
            entity_id,
            code,
            message,
        } => println!(
            "dead-letter {change_id} {entity_type} {entity_id} {}: {message}",
            code.as_str()
        ),
        SyncEvent::DeleteOverruled {
            entity_type,
            entity_id,
        } => println!(
            "kept {entity_type} {entity_id}: deleted here but edited on another device meanwhile; delete it again if you mean to"
        ),
        SyncEvent::SyncComplete { seq } => println!("status synced {seq}"),
        SyncEvent::Connected | SyncEvent::Disconnected { .. } | SyncEvent::CatchUpProgress(_) => {}
    }
    Ok(())
}

/// The server version of each entity (and `deleted` for tombstones), read from the store.
async fn versions(
    engine: &SyncHandle,
    entity_type: EntityType,
    ids: Vec<EntityId>,
) -> Result<Vec<(EntityId, String)>> {
    let lines = engine
        .store()
        .call(move |store| {
            ids.into_iter()
                .map(|id| {
                    let line = match store.get(entity_type, &id)? {
                        Some(e) if e.deleted => format!("{} deleted", e.base_version),
                        Some(e) => e.base_version.to_string(),
                        None => "removed".to_owned(),
                    };
                    Ok((id, line))
                })
                .collect()
        })
        .await?;
    Ok(lines)
}

fn connection_name(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::Offline => "offline",
        ConnectionState::Connecting => "connecting",
        ConnectionState::Connected => "connected",
        ConnectionState::Paused => "paused",
        ConnectionState::SignedOut => "signed-out",
    }
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    () = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}
