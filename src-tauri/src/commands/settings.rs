//! Settings: the server, conflict strategies, theme, close-to-tray.

use tauri::State;

use crate::ipc::error::IpcError;
use crate::ipc::types::{ConflictStrategy, EntityKind, SettingsView, Theme};
use crate::session;
use crate::state::AppState;

#[tauri::command]
pub async fn get_settings(state: State<'_, AppState>) -> Result<SettingsView, IpcError> {
    Ok(state.settings_view())
}

/// Saves the sync server's address and reconnects to it; a new server signs out of the
/// old one first (`session::switch_server`). Under `LEGATO_SERVER` the saved value changes
/// but the environment's stays in use.
#[tauri::command]
pub async fn set_server_url(
    state: State<'_, AppState>,
    url: String,
) -> Result<SettingsView, IpcError> {
    session::switch_server(&state, &url).await
}

/// How conflicts of one entity type are settled from now on.
#[tauri::command]
pub async fn set_conflict_strategy(
    state: State<'_, AppState>,
    entity_type: EntityKind,
    strategy: ConflictStrategy,
) -> Result<SettingsView, IpcError> {
    state
        .update_settings(|s| s.set_strategy(entity_type, strategy))
        .await?;
    state.restart_sync().await;
    Ok(state.settings_view())
}

#[tauri::command]
pub async fn set_theme(state: State<'_, AppState>, theme: Theme) -> Result<SettingsView, IpcError> {
    state.update_settings(|s| s.theme = theme).await?;
    Ok(state.settings_view())
}

/// Whether closing the window keeps Legato running in the tray.
#[tauri::command]
pub async fn set_close_to_tray(
    state: State<'_, AppState>,
    enabled: bool,
) -> Result<SettingsView, IpcError> {
    state.update_settings(|s| s.close_to_tray = enabled).await?;
    Ok(state.settings_view())
}
