//! The logbook: list, get, create, update, delete, undo delete.

use legato_core::LogbookEntry;
use legato_protocol::{EntityId, EntityType};
use tauri::State;

use super::now;
use crate::entries;
use crate::ipc::error::IpcError;
use crate::ipc::types::{DeletedEntry, Entry, EntryFilter, EntryInput, EntryList, RestoredEntry};
use crate::state::AppState;

fn entity_id(id: &str) -> Result<EntityId, IpcError> {
    EntityId::new(id).map_err(|err| IpcError::invalid("id", err.to_string()))
}

fn not_found(id: &EntityId) -> IpcError {
    IpcError::not_found(format!("no logbook entry `{id}`"))
}

/// Entries matching `filter`, grouped by local day with daily totals, newest first.
#[tauri::command]
pub async fn list_entries(
    state: State<'_, AppState>,
    filter: EntryFilter,
) -> Result<EntryList, IpcError> {
    let filter = entries::store_filter(filter)?;
    let (_, offset) = now();
    let minutes = offset.local_minus_utc() / 60;
    Ok(state
        .store
        .call(move |store| entries::list(store, &filter, minutes))
        .await?)
}

#[tauri::command]
pub async fn get_entry(state: State<'_, AppState>, id: String) -> Result<Entry, IpcError> {
    let id = entity_id(&id)?;
    let wanted = id.clone();
    state
        .store
        .call(move |store| entries::read_entry(store, &wanted))
        .await?
        .ok_or_else(|| not_found(&id))
}

/// Creates an entry; returns it as stored (with its new id).
#[tauri::command]
pub async fn create_entry(
    state: State<'_, AppState>,
    input: EntryInput,
) -> Result<Entry, IpcError> {
    let (now, _) = now();
    let id = entity_id(&uuid::Uuid::now_v7().to_string())?;
    let mut entry = LogbookEntry::new(id.clone(), now, input.duration);
    entries::apply_input(&mut entry, input, now)?;
    let created = state
        .store
        .call(move |store| {
            store.save(&entry, now.timestamp_millis())?;
            entries::read_entry(store, &entry.id)
        })
        .await?
        .ok_or_else(|| IpcError::internal("a created entry cannot be read back"))?;
    state.local_change(EntityType::Logbook, vec![created.id.clone()]);
    Ok(created)
}

/// Replaces the user-editable fields of an entry (goal links, metadata and fields unknown
/// to this version are kept). Returns the entry as stored.
#[tauri::command]
pub async fn update_entry(
    state: State<'_, AppState>,
    id: String,
    input: EntryInput,
) -> Result<Entry, IpcError> {
    let id = entity_id(&id)?;
    let (now, _) = now();
    let wanted = id.clone();
    // One job on the store thread: read, apply, save, with no sync update in between.
    let updated = state
        .store
        .try_call(move |store| -> Result<_, IpcError> {
            let mut entry = store
                .load::<LogbookEntry>(&wanted)?
                .ok_or_else(|| not_found(&wanted))?;
            entries::apply_input(&mut entry, input, now)?;
            store.save(&entry, now.timestamp_millis())?;
            entries::read_entry(store, &wanted)?.ok_or_else(|| not_found(&wanted))
        })
        .await?;
    state.local_change(EntityType::Logbook, vec![updated.id.clone()]);
    Ok(updated)
}

/// Deletes an entry; `undo_delete` can bring it back (one of the store's most recent deletes).
#[tauri::command]
pub async fn delete_entry(
    state: State<'_, AppState>,
    id: String,
) -> Result<DeletedEntry, IpcError> {
    let id = entity_id(&id)?;
    let (now, _) = now();
    let wanted = id.clone();
    let deleted = state
        .store
        .call(move |store| entries::delete(store, &wanted, now.timestamp_millis()))
        .await?;
    if !deleted {
        return Err(not_found(&id));
    }
    state.local_change(EntityType::Logbook, vec![id.to_string()]);
    Ok(DeletedEntry { id: id.to_string() })
}

/// Brings back a deleted entry (`Store::undo_delete`): while the delete has not left this
/// device it is cancelled and the entry keeps its id; otherwise the entry is created anew
/// under a new id (the old id stays deleted).
#[tauri::command]
pub async fn undo_delete(
    state: State<'_, AppState>,
    id: String,
) -> Result<RestoredEntry, IpcError> {
    let id = entity_id(&id)?;
    let (now, _) = now();
    let wanted = id.clone();
    let (entry, same_id) = state
        .store
        .call(move |store| entries::restore(store, &wanted, now.timestamp_millis()))
        .await?
        .ok_or_else(|| IpcError::not_found(format!("nothing to undo for entry `{id}`")))?;
    let mut changed = vec![entry.id.clone()];
    if !same_id {
        changed.push(id.to_string());
    }
    state.local_change(EntityType::Logbook, changed);
    Ok(RestoredEntry { entry, same_id })
}
