//! Conflicts waiting for the user: list them, resolve one.

use tauri::State;

use super::now;
use crate::conflicts;
use crate::ipc::error::IpcError;
use crate::ipc::types::{ConflictId, ConflictResolution, ConflictView, Resolved};
use crate::state::AppState;

/// Every conflict waiting for the user, oldest first, with base / mine / theirs per field.
#[tauri::command]
pub async fn list_conflicts(state: State<'_, AppState>) -> Result<Vec<ConflictView>, IpcError> {
    Ok(state.store.call(|store| conflicts::list(store)).await?)
}

/// Applies the user's decision on one conflict and syncs the result.
#[tauri::command]
pub async fn resolve_conflict(
    state: State<'_, AppState>,
    conflict_id: ConflictId,
    resolution: ConflictResolution,
) -> Result<Resolved, IpcError> {
    let (now, _) = now();
    // One job on the store thread: read the conflict, decide, apply.
    let applied = state
        .store
        .try_call(move |store| {
            conflicts::resolve(store, conflict_id, resolution, now.timestamp_millis())
        })
        .await?;
    state.local_change(applied.entity_type, applied.changed);
    Ok(applied.resolved)
}
