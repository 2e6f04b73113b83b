//! [`AppState`]: what the commands, the tray and the event forwarder share. The store and
//! the sync engine are handles (their work runs on their own thread and task); the settings
//! sit behind a short-lived mutex that is never held across an `.await`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::Duration;

use legato_protocol::{EntityId, EntityType, Fields};
use legato_store::StoreHandle;
use legato_sync::{SyncConfig, SyncEngine, SyncHandle};
use tauri::{AppHandle, Manager};
use tokio::sync::watch;

use crate::events::{self, UiEvent};
use crate::instance::InstanceLock;
use crate::ipc::error::{ErrorCode, IpcError};
use crate::ipc::types::{AccountView, ChangeOrigin, EntriesChanged, SettingsView, Strategies};
use crate::keychain::Keychain;
use crate::notify::Notifier;
use crate::settings::{DEFAULT_SERVER, Launch, Settings};
use crate::status;
use crate::tray::Tray;

/// Deleted entries `undo_delete` can bring back (the most recent ones).
const UNDO_DEPTH: usize = 50;
/// How long quitting waits for the sync engine to send what is pending.
const EXIT_FLUSH_LIMIT: Duration = Duration::from_secs(6);

/// The engine's configuration from the settings. An unusable server address (a bad
/// `LEGATO_SERVER`) falls back to the default, logged, so the app still starts.
pub fn sync_config(server: &str, token: Option<String>, strategies: &Strategies) -> SyncConfig {
    let mut config = SyncConfig::new(server, token.clone()).unwrap_or_else(|err| {
        tracing::error!(%err, server, "unusable server address; using {DEFAULT_SERVER}");
        SyncConfig::new(DEFAULT_SERVER, token).expect("the default server address is valid")
    });
    config.strategies = [
        (EntityType::Logbook, strategies.logbook.into()),
        (EntityType::Repertoire, strategies.repertoire.into()),
        (EntityType::Goals, strategies.goals.into()),
    ]
    .into();
    config
}

/// Owns the running sync engine and replaces it when its configuration changes (server,
/// strategies: the engine takes them at start). The event forwarder follows
/// [`SyncSupervisor::generations`] to re-subscribe.
#[derive(Debug)]
pub struct SyncSupervisor {
    store: StoreHandle,
    current: RwLock<SyncHandle>,
    generation: watch::Sender<u64>,
    /// Serializes restarts (held across the old engine's shutdown on purpose).
    restarts: tokio::sync::Mutex<()>,
}

impl SyncSupervisor {
    /// Starts the engine (on the current Tokio runtime).
    pub async fn start(store: StoreHandle, config: SyncConfig, paused: bool) -> Self {
        let handle = spawn_engine(&store, config, paused).await;
        SyncSupervisor {
            store,
            current: RwLock::new(handle),
            generation: watch::channel(0).0,
            restarts: tokio::sync::Mutex::new(()),
        }
    }

    /// The running engine's handle (cheap clone).
    pub fn handle(&self) -> SyncHandle {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn generations(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Stops the engine and starts one with `config`. Nothing is lost: unsent changes stay
    /// in the outbox for the new engine.
    pub async fn restart(&self, config: SyncConfig, paused: bool) {
        let _one_at_a_time = self.restarts.lock().await;
        self.handle().shutdown(false).await;
        let handle = spawn_engine(&self.store, config, paused).await;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = handle;
        self.generation.send_modify(|g| *g += 1);
        tracing::info!("sync engine restarted with new settings");
    }
}

async fn spawn_engine(store: &StoreHandle, config: SyncConfig, paused: bool) -> SyncHandle {
    tracing::info!(server = %config.server, signed_in = config.token.is_some(), paused, "starting the sync engine");
    let handle = SyncEngine::spawn(store.clone(), config);
    if paused && let Err(err) = handle.pause().await {
        tracing::warn!(%err, "cannot pause the new sync engine");
    }
    handle
}

/// An entry as it was just before `delete_entry`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedSnapshot {
    pub id: EntityId,
    pub state: Fields,
}

/// Everything the app shares. Managed by Tauri (`State<'_, AppState>` in commands).
#[derive(Debug)]
pub struct AppState {
    pub launch: Launch,
    pub store: StoreHandle,
    pub client_id: String,
    pub sync: SyncSupervisor,
    pub keychain: Keychain,
    pub notifier: Notifier,
    settings: Mutex<Settings>,
    /// Serializes settings writes so they reach the disk in order.
    settings_writes: tokio::sync::Mutex<()>,
    undo: Mutex<VecDeque<DeletedSnapshot>>,
    app: OnceLock<AppHandle>,
    exiting: AtomicBool,
    /// Held for the life of the process: one app per data dir.
    pub instance: InstanceLock,
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        launch: Launch,
        store: StoreHandle,
        client_id: String,
        sync: SyncSupervisor,
        keychain: Keychain,
        settings: Settings,
        instance: InstanceLock,
    ) -> Self {
        AppState {
            launch,
            store,
            client_id,
            sync,
            keychain,
            notifier: Notifier::default(),
            settings: Mutex::new(settings),
            settings_writes: tokio::sync::Mutex::new(()),
            undo: Mutex::new(VecDeque::new()),
            app: OnceLock::new(),
            exiting: AtomicBool::new(false),
            instance,
        }
    }

    /// Called once from the app's setup, before any command runs.
    pub fn attach(&self, app: AppHandle) {
        let _ = self.app.set(app);
    }

    pub fn app(&self) -> Option<&AppHandle> {
        self.app.get()
    }

    /// Sends an event to the UI (a failure is logged: the UI re-reads on its next query).
    pub fn emit<E: UiEvent>(&self, payload: &E) {
        if let Some(app) = self.app.get() {
            events::emit(app, payload);
        }
    }

    /// Tells the UI that entities changed here and wakes the sync engine.
    pub fn local_change(&self, entity_type: EntityType, ids: Vec<String>) {
        self.sync.handle().notify_local_change();
        self.emit(&EntriesChanged {
            entity_type: entity_type.into(),
            ids: Some(ids),
            origin: ChangeOrigin::Local,
        });
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applies `change` to the settings and saves them (off the async workers); the new
    /// settings are in effect only once saved. Emits `settings-changed`.
    pub async fn update_settings(
        &self,
        change: impl FnOnce(&mut Settings),
    ) -> Result<Settings, IpcError> {
        let _in_order = self.settings_writes.lock().await;
        let mut next = self.settings();
        change(&mut next);
        let path = self.launch.settings_path();
        let saved = next.clone();
        tokio::task::spawn_blocking(move || saved.save(&path))
            .await
            .map_err(IpcError::internal)?
            .map_err(|err| {
                IpcError::new(
                    ErrorCode::Storage,
                    format!("cannot save the settings: {err}"),
                )
            })?;
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = next.clone();
        self.emit(&self.settings_view());
        Ok(next)
    }

    /// The sync configuration the settings and the session's token call for.
    pub fn sync_config(&self) -> SyncConfig {
        let settings = self.settings();
        sync_config(
            &settings.effective_server(&self.launch),
            self.keychain.token(),
            &settings.strategies,
        )
    }

    /// Restarts the engine with the current settings.
    pub async fn restart_sync(&self) {
        let paused = self.settings().sync_paused;
        self.sync.restart(self.sync_config(), paused).await;
    }

    pub fn settings_view(&self) -> SettingsView {
        let settings = self.settings();
        SettingsView {
            server_url: settings.effective_server(&self.launch),
            server_url_from_env: self.launch.server_override.is_some(),
            theme: settings.theme,
            close_to_tray: settings.close_to_tray,
            sync_paused: settings.sync_paused,
            strategies: settings.strategies,
            account: settings.account.map(|a| AccountView {
                email: a.email,
                user_id: a.user_id,
            }),
            keyring: self.keychain.status(),
            data_dir: self.launch.data_dir.display().to_string(),
            client_id: self.client_id.clone(),
        }
    }

    /// Pauses or resumes sync and remembers the choice across restarts.
    pub async fn set_paused(&self, paused: bool) -> Result<(), IpcError> {
        self.update_settings(|s| s.sync_paused = paused).await?;
        let handle = self.sync.handle();
        if paused {
            handle.pause().await?;
        } else {
            handle.resume().await?;
        }
        // The engine's status does not show "paused" while signed out: the tray's pause item
        // follows the setting.
        self.refresh_tray();
        Ok(())
    }

    /// Shows the current status and pause setting in the tray (if there is one).
    pub fn refresh_tray(&self) {
        if let Some(tray) = self.app().and_then(|app| app.try_state::<Tray>()) {
            let view = status::status_view(&self.sync.handle().current_status());
            tray.update(&view, self.settings().sync_paused);
        }
    }

    pub fn remember_deleted(&self, snapshot: DeletedSnapshot) {
        let mut undo = self.undo.lock().unwrap_or_else(|e| e.into_inner());
        undo.retain(|s| s.id != snapshot.id);
        if undo.len() == UNDO_DEPTH {
            undo.pop_front();
        }
        undo.push_back(snapshot);
    }

    pub fn take_deleted(&self, id: &EntityId) -> Option<DeletedSnapshot> {
        let mut undo = self.undo.lock().unwrap_or_else(|e| e.into_inner());
        let at = undo.iter().position(|s| &s.id == id)?;
        undo.remove(at)
    }

    /// Marks the app as exiting; true the first time (the caller then shuts down).
    pub fn begin_exit(&self) -> bool {
        !self.exiting.swap(true, Ordering::SeqCst)
    }

    /// Stops sync cleanly, sending what is pending for a few seconds at most.
    pub async fn shutdown(&self) {
        let handle = self.sync.handle();
        if tokio::time::timeout(EXIT_FLUSH_LIMIT, handle.shutdown(true))
            .await
            .is_err()
        {
            tracing::warn!("sync did not stop in time; pending changes stay queued");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::types::ConflictStrategy;

    #[test]
    fn sync_config_follows_the_settings() {
        let strategies = Strategies {
            goals: ConflictStrategy::Manual,
            ..Strategies::default()
        };
        let config = sync_config("http://127.0.0.1:9", Some("t".into()), &strategies);
        assert_eq!(config.server.as_str(), "http://127.0.0.1:9/");
        assert_eq!(
            config.strategy(EntityType::Goals),
            legato_sync::Strategy::Manual
        );
        assert_eq!(
            config.strategy(EntityType::Logbook),
            legato_sync::Strategy::Merge
        );
        let fallback = sync_config("not a url", None, &strategies);
        assert_eq!(fallback.server.as_str(), "http://127.0.0.1:8080/");
    }
}
