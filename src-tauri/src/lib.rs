//! Legato's desktop app: a thin Tauri shell over the client store (`legato-store`, the
//! device's single source of truth) and the sync engine (`legato-sync`).
//!
//! Map:
//! - [`ipc`]: the contract with the web UI (commands, payload types, errors, TS bindings);
//! - `commands/<domain>.rs`: the command adapters; [`events`]: names, payloads, forwarding;
//! - [`state`]: what they share ([`state::AppState`]); [`session`]: sign in/out;
//! - [`entries`], [`conflicts`], [`status`], [`pieces`], [`goals`]: conversions between the
//!   domain and the views, unit-tested ([`goals`] also sends the "goal reached" notification);
//! - [`timer`]: the practice timer's views, tray text and reminder ticker;
//! - [`tray`], [`notify`], [`keychain`], [`settings`], [`logging`]: the OS edges.
//!
//! Start-up, in [`run`]: read the `LEGATO_*` environment, lock the data dir (one process per
//! device; a second start shows the first one's window, see [`instance`]), start logging, open the store (migrations run before any window shows), start
//! the sync engine, then build the window and the tray. The saved token is read from the
//! keyring in the background (it may wait for an unlock prompt).

pub mod commands;
pub mod conflicts;
pub mod entries;
pub mod events;
pub mod goals;
pub mod instance;
pub mod ipc;
pub mod keychain;
pub mod logging;
pub mod notify;
pub mod pieces;
pub mod session;
pub mod settings;
pub mod state;
pub mod statistics;
pub mod status;
pub mod timer;
pub mod transfer;
pub mod tray;

use std::panic::AssertUnwindSafe;
use std::path::Path;

use anyhow::Context as _;
use legato_store::{Store, StoreHandle};
use tauri::{AppHandle, Manager, RunEvent, Window, WindowEvent};

use crate::keychain::Keychain;
use crate::settings::{Launch, Settings};
use crate::state::{AppState, SyncSupervisor};

/// Runs the app until it quits; on a start-up failure prints why and exits with status 1.
pub fn run() {
    if let Err(err) = start() {
        tracing::error!("{err:#}");
        eprintln!("legato: {err:#}");
        std::process::exit(1);
    }
}

fn start() -> anyhow::Result<()> {
    let launch = Launch::from_env(|name| std::env::var(name).ok())?;
    create_private_dir(&launch.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            launch.data_dir.display()
        )
    })?;
    let lock = match instance::start(&launch.data_dir)? {
        instance::Start::First(lock) => lock,
        instance::Start::Running { shown } => {
            eprintln!(
                "legato: Legato is already running for {}{} (set LEGATO_DATA_DIR to run another device)",
                launch.data_dir.display(),
                if shown { "; its window is shown" } else { "" }
            );
            return Ok(());
        }
    };
    logging::init(&launch.log_dir()).context("cannot start logging")?;
    tracing::info!(data_dir = %launch.data_dir.display(), version = env!("CARGO_PKG_VERSION"), "Legato starting");

    let settings = Settings::load(&launch.settings_path());
    let store = Store::open(launch.store_path())
        .with_context(|| format!("cannot open {}", launch.store_path().display()))?;
    let client_id = store.client_id().to_owned();
    let store = StoreHandle::new(store)?;
    let keychain = Keychain::new(launch.keyring, &client_id);
    let config = state::sync_config(
        &settings.effective_server(&launch),
        None,
        &settings.strategies,
    );
    let sync = tauri::async_runtime::block_on(SyncSupervisor::start(
        store.clone(),
        config,
        settings.sync_paused,
    ));
    let paused = settings.sync_paused;
    let title = launch.window_title();
    let state = AppState::new(launch, store, client_id, sync, keychain, settings, lock);

    let app = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .manage(state)
        .invoke_handler(ipc::handler())
        .on_window_event(on_window_event)
        .setup(move |app| {
            let handle = app.handle().clone();
            let state = app.state::<AppState>();
            state.attach(handle.clone());
            let shown = handle.clone();
            state
                .instance
                .serve_show_requests(move || tray::show_main_window(&shown));
            if let Some(window) = app.get_webview_window(tray::MAIN_WINDOW) {
                window.set_title(&title)?;
            }
            // The tray library is loaded at run time (Linux: libayatana-appindicator3) and
            // panics when missing: the app then runs without a tray.
            match std::panic::catch_unwind(AssertUnwindSafe(|| tray::build(&handle, paused))) {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!(%err, "no tray icon; closing the window quits"),
                Err(_) => tracing::warn!("no tray icon (is libayatana-appindicator3 installed?); closing the window quits"),
            }
            events::spawn_forwarder(handle.clone());
            timer::spawn_ticker(handle.clone());
            tauri::async_runtime::spawn(async move {
                session::restore(&handle.state::<AppState>()).await;
            });
            Ok(())
        })
        .build(tauri::generate_context!())
        .context("cannot start the window system")?;
    app.run(on_run_event);
    Ok(())
}

/// Closing the main window hides it while `closeToTray` is on and a tray exists.
fn on_window_event(window: &Window, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        let app = window.app_handle();
        let keep_running = app.try_state::<tray::Tray>().is_some()
            && app.state::<AppState>().settings().close_to_tray;
        if keep_running {
            api.prevent_close();
            if let Err(err) = window.hide() {
                tracing::warn!(%err, "cannot hide the window");
            }
        }
    }
}

/// Quitting (the tray's Quit, or the last window closed) first stops sync cleanly.
fn on_run_event(app: &AppHandle, event: RunEvent) {
    match event {
        // The second request (from `exit` below) goes through.
        RunEvent::ExitRequested { api, code, .. } if app.state::<AppState>().begin_exit() => {
            api.prevent_exit();
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                app.state::<AppState>().shutdown().await;
                app.exit(code.unwrap_or(0));
            });
        }
        RunEvent::Exit => {
            tracing::info!("Legato stopped");
            logging::flush();
        }
        _ => {}
    }
}

/// Creates the data dir, readable by the user only.
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}
