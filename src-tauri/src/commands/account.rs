//! The account: register, sign in, sign out.

use tauri::State;

use crate::ipc::error::IpcError;
use crate::ipc::types::{Credentials, SettingsView};
use crate::session::{self, Mode};
use crate::state::AppState;

/// Creates an account on the server in use and signs this device in to it.
#[tauri::command]
pub async fn register(
    state: State<'_, AppState>,
    credentials: Credentials,
) -> Result<SettingsView, IpcError> {
    session::sign_in(&state, credentials, Mode::Register).await
}

#[tauri::command]
pub async fn sign_in(
    state: State<'_, AppState>,
    credentials: Credentials,
) -> Result<SettingsView, IpcError> {
    session::sign_in(&state, credentials, Mode::Login).await
}

/// Signs out (the token is revoked when the server can be reached). Local data stays.
#[tauri::command]
pub async fn sign_out(state: State<'_, AppState>) -> Result<SettingsView, IpcError> {
    session::sign_out(&state).await
}
