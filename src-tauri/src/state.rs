//! [`AppState`]: what the commands, the tray and the event forwarder share. The store and
//! the sync engine are handles (their work runs on their own thread and task); the settings
//! sit behind a short-lived mutex that is never held across an `.await`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::Duration;

use legato_protocol::EntityType;
use legato_store::StoreHandle;
use legato_sync::{SyncConfig, SyncEngine, SyncError, SyncHandle};
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
    /// Serializes restarts and pause/resume (held across the old engine's shutdown on
    /// purpose): a pause never reaches an engine that is stopping, and a restart never
    /// starts from a pause setting that is about to change.
    control: tokio::sync::Mutex<()>,
}

impl SyncSupervisor {
    /// Starts the engine (on the current Tokio runtime).
    pub async fn start(store: StoreHandle, config: SyncConfig, paused: bool) -> Self {
        let handle = spawn_engine(&store, config, paused).await;
        SyncSupervisor {
            store,
            current: RwLock::new(handle),
            generation: watch::channel(0).0,
            control: tokio::sync::Mutex::new(()),
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

    /// Stops the engine and starts one with the configuration and pause setting `current`
    /// returns, read once this restart's turn comes (after any pause/resume or restart under
    /// way). Nothing is lost: unsent changes stay in the outbox for the new engine.
    pub async fn restart(&self, current: impl FnOnce() -> (SyncConfig, bool)) {
        let _one_at_a_time = self.control.lock().await;
        let (config, paused) = current();
        self.handle().shutdown(false).await;
        let handle = spawn_engine(&self.store, config, paused).await;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = handle;
        self.generation.send_modify(|g| *g += 1);
        tracing::info!("sync engine restarted with new settings");
    }

    /// Runs `save` (which remembers the choice), then pauses or resumes the running engine,
    /// with no restart in between: the saved setting and the engine agree even when a
    /// restart was asked for at the same time. Nothing is applied if `save` fails.
    pub async fn set_paused<E: From<SyncError>>(
        &self,
        paused: bool,
        save: impl Future<Output = Result<(), E>>,
    ) -> Result<(), E> {
        let _one_at_a_time = self.control.lock().await;
        save.await?;
        let handle = self.handle();
        if paused {
            handle.pause().await?;
        } else {
            handle.resume().await?;
        }
        Ok(())
    }

    /// Hands the engine a new token (or none: signed out), with no restart in between (a
    /// restart reads the session's token once its turn comes).
    pub async fn set_token(&self, token: Option<String>) -> Result<(), SyncError> {
        let _one_at_a_time = self.control.lock().await;
        self.handle().set_token(token).await
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
        crate::goals::check_reached(self);
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

    /// The sync configuration the settings and the session's token call for. The token
    /// goes only to the server that issued it: signed in elsewhere, the engine starts
    /// signed out.
    pub fn sync_config(&self) -> SyncConfig {
        let settings = self.settings();
        let mut config = sync_config(
            &settings.effective_server(&self.launch),
            None,
            &settings.strategies,
        );
        config.token = self.keychain.token_for(&config.server);
        config
    }

    /// The server in use (parsed; see [`Settings::effective_server_url`]).
    pub fn server_url(&self) -> legato_sync::ServerUrl {
        self.settings().effective_server_url(&self.launch)
    }

    /// Restarts the engine with the settings as they are when the restart runs.
    pub async fn restart_sync(&self) {
        self.sync
            .restart(|| (self.sync_config(), self.settings().sync_paused))
            .await;
    }

    pub fn settings_view(&self) -> SettingsView {
        let settings = self.settings();
        let server = settings.effective_server_url(&self.launch);
        SettingsView {
            insecure_server_warning: server.insecure_warning(),
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
        let save = async {
            self.update_settings(|s| s.sync_paused = paused).await?;
            Ok::<_, IpcError>(())
        };
        self.sync.set_paused(paused, save).await?;
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

    /// An engine that cannot connect (nothing listens on port 1) but is signed in, so its
    /// status shows `Paused` when paused.
    async fn supervisor() -> (SyncSupervisor, impl Fn() -> SyncConfig) {
        let config = || {
            sync_config(
                "http://127.0.0.1:1",
                Some("t".into()),
                &Strategies::default(),
            )
        };
        let store = StoreHandle::new(legato_store::Store::open_in_memory().unwrap()).unwrap();
        (SyncSupervisor::start(store, config(), false).await, config)
    }

    async fn wait_paused(sync: &SyncSupervisor, paused: bool) {
        let mut status = sync.handle().status();
        let want = |s: &legato_sync::SyncStatus| {
            (s.connection == legato_sync::ConnectionState::Paused) == paused
        };
        tokio::time::timeout(Duration::from_secs(5), status.wait_for(want))
            .await
            .expect("the engine follows the pause setting")
            .unwrap();
    }

    #[tokio::test]
    async fn a_pause_asked_during_a_restart_applies_to_the_new_engine() {
        let (sync, config) = supervisor().await;
        let saved = AtomicBool::new(false);
        // The restart takes its turn first: the pause waits for it instead of reaching the
        // stopping engine ("the sync engine is not running").
        let ((), paused) = tokio::join!(
            sync.restart(|| (config(), saved.load(Ordering::SeqCst))),
            sync.set_paused(true, async {
                saved.store(true, Ordering::SeqCst);
                Ok::<_, SyncError>(())
            }),
        );
        paused.expect("pausing during a restart works");
        wait_paused(&sync, true).await;

        // The resume takes its turn first: the restart reads the saved setting after it.
        let (resumed, ()) = tokio::join!(
            sync.set_paused(false, async {
                saved.store(false, Ordering::SeqCst);
                Ok::<_, SyncError>(())
            }),
            sync.restart(|| (config(), saved.load(Ordering::SeqCst))),
        );
        resumed.unwrap();
        wait_paused(&sync, false).await;

        // A new token handed over during a restart reaches the new engine too.
        let ((), token) = tokio::join!(
            sync.restart(|| (config(), false)),
            sync.set_token(Some("t2".into())),
        );
        token.expect("a sign-in during a restart works");
        sync.handle().shutdown(false).await;
    }

    #[tokio::test]
    async fn nothing_is_applied_when_the_setting_cannot_be_saved() {
        let (sync, _) = supervisor().await;
        let failed = sync
            .set_paused(true, async {
                Err::<(), _>(IpcError::new(ErrorCode::Storage, "disk full"))
            })
            .await;
        assert_eq!(failed.unwrap_err().code, ErrorCode::Storage);
        assert_ne!(
            sync.handle().current_status().connection,
            legato_sync::ConnectionState::Paused
        );
        sync.handle().shutdown(false).await;
    }
}
