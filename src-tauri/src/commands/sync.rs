//! Sync: status, sync now, pause/resume, dead letters.

use tauri::State;

use crate::ipc::error::IpcError;
use crate::ipc::types::{DeadLetterView, SyncReportView, SyncStatusView};
use crate::state::AppState;
use crate::status;

/// The current status (the `sync-status` event carries every later change).
#[tauri::command]
pub async fn get_sync_status(state: State<'_, AppState>) -> Result<SyncStatusView, IpcError> {
    Ok(status::status_view(&state.sync.handle().current_status()))
}

/// Sends everything pending and catches up, waiting until done (or an error: `offline`,
/// `timeout`, `paused`, `signed_out`, `unauthorized`).
#[tauri::command]
pub async fn sync_now(state: State<'_, AppState>) -> Result<SyncReportView, IpcError> {
    let report = state.sync.handle().sync_now().await?;
    Ok(status::report_view(&report))
}

/// Stops syncing until resumed (also after a restart). Local edits keep working.
#[tauri::command]
pub async fn pause_sync(state: State<'_, AppState>) -> Result<SyncStatusView, IpcError> {
    state.set_paused(true).await?;
    Ok(status::status_view(&state.sync.handle().current_status()))
}

#[tauri::command]
pub async fn resume_sync(state: State<'_, AppState>) -> Result<SyncStatusView, IpcError> {
    state.set_paused(false).await?;
    Ok(status::status_view(&state.sync.handle().current_status()))
}

/// Changes the server refused for good, oldest first.
#[tauri::command]
pub async fn list_dead_letters(
    state: State<'_, AppState>,
) -> Result<Vec<DeadLetterView>, IpcError> {
    let views = state
        .store
        .call(|store| {
            store
                .dead_letters()?
                .iter()
                .map(|letter| {
                    let change = &letter.change;
                    let current = store.get(change.entity_type, &change.entity_id)?;
                    Ok(status::dead_letter_view(
                        letter,
                        current.as_ref().map(|entity| &entity.state),
                    ))
                })
                .collect::<legato_store::Result<Vec<_>>>()
        })
        .await?;
    Ok(views)
}

/// Puts a dead letter back in the queue (attempts reset) and syncs it.
#[tauri::command]
pub async fn retry_dead_letter(
    state: State<'_, AppState>,
    change_id: String,
) -> Result<(), IpcError> {
    let (entity_type, id) = state
        .store
        .call(move |store| store.retry_dead_letter(&change_id))
        .await?;
    state.local_change(entity_type, vec![id.to_string()]);
    Ok(())
}

/// Drops a dead letter for good; the entity is shown without that change.
#[tauri::command]
pub async fn discard_dead_letter(
    state: State<'_, AppState>,
    change_id: String,
) -> Result<(), IpcError> {
    let (entity_type, id) = state
        .store
        .call(move |store| store.discard_dead_letter(&change_id))
        .await?;
    state.local_change(entity_type, vec![id.to_string()]);
    Ok(())
}
