//! The account: register, sign in, sign out, and its devices.

use tauri::State;

use crate::ipc::error::IpcError;
use crate::ipc::types::{Credentials, DeviceView, SettingsView};
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

/// The account's signed-in devices, as the server lists them (oldest first).
#[tauri::command]
pub async fn list_devices(state: State<'_, AppState>) -> Result<Vec<DeviceView>, IpcError> {
    session::list_devices(&state).await
}

/// Signs another device of the account out; the list as it is afterwards.
#[tauri::command]
pub async fn revoke_device(
    state: State<'_, AppState>,
    id: String,
) -> Result<Vec<DeviceView>, IpcError> {
    session::revoke_device(&state, &id).await
}
