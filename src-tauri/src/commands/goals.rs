//! Goals: list (with progress), create, update, delete, add to the progress counter
//! (`$inc`, so additions on several devices add up). Progress is the store's.

use legato_core::Goal;
use legato_protocol::{EntityId, EntityType, Fields};
use legato_store::TimeZone;
use serde_json::json;
use tauri::State;

use super::now;
use crate::goals;
use crate::ipc::error::IpcError;
use crate::ipc::types::{Deleted, GoalInput, GoalView};
use crate::state::AppState;

fn entity_id(id: &str) -> Result<EntityId, IpcError> {
    EntityId::new(id).map_err(|err| IpcError::invalid("id", err.to_string()))
}

fn not_found(id: &EntityId) -> IpcError {
    IpcError::not_found(format!("no goal `{id}`"))
}

/// Every goal with its progress now, in this device's time zone.
#[tauri::command]
pub async fn list_goals(state: State<'_, AppState>) -> Result<Vec<GoalView>, IpcError> {
    let (now, _) = now();
    let zone = TimeZone::system();
    Ok(state
        .store
        .call(move |store| goals::list(store, now.timestamp_millis(), &zone))
        .await?)
}

#[tauri::command]
pub async fn create_goal(
    state: State<'_, AppState>,
    input: GoalInput,
) -> Result<GoalView, IpcError> {
    let (now, _) = now();
    let zone = TimeZone::system();
    let id = entity_id(&uuid::Uuid::now_v7().to_string())?;
    let mut goal = Goal::new(id, "");
    goals::apply_input(&mut goal, input, now)?;
    let now_ms = now.timestamp_millis();
    let created = state
        .store
        .call(move |store| {
            store.save(&goal, now_ms)?;
            goals::read_goal(store, &goal.id, now_ms, &zone)
        })
        .await?
        .ok_or_else(|| IpcError::internal("a created goal cannot be read back"))?;
    state.local_change(EntityType::Goals, vec![created.id.clone()]);
    Ok(created)
}

#[tauri::command]
pub async fn update_goal(
    state: State<'_, AppState>,
    id: String,
    input: GoalInput,
) -> Result<GoalView, IpcError> {
    let id = entity_id(&id)?;
    let (now, _) = now();
    let zone = TimeZone::system();
    let wanted = id.clone();
    let updated = state
        .store
        .try_call(move |store| -> Result<_, IpcError> {
            let mut goal = store
                .load::<Goal>(&wanted)?
                .ok_or_else(|| not_found(&wanted))?;
            goals::apply_input(&mut goal, input, now)?;
            let now_ms = now.timestamp_millis();
            store.save(&goal, now_ms)?;
            goals::read_goal(store, &wanted, now_ms, &zone)?.ok_or_else(|| not_found(&wanted))
        })
        .await?;
    state.local_change(EntityType::Goals, vec![updated.id.clone()]);
    Ok(updated)
}

/// Adds `amount` (may be negative; an `i32`, a JS number) to the goal's progress counter as
/// `$inc`.
#[tauri::command]
pub async fn add_goal_progress(
    state: State<'_, AppState>,
    id: String,
    amount: i32,
) -> Result<GoalView, IpcError> {
    let id = entity_id(&id)?;
    let (now, _) = now();
    let zone = TimeZone::system();
    let wanted = id.clone();
    let updated = state
        .store
        .call(move |store| {
            let now_ms = now.timestamp_millis();
            if amount != 0 {
                let mut patch = Fields::new();
                patch.insert("progress".to_owned(), json!({ "$inc": i64::from(amount) }));
                store.patch(EntityType::Goals, &wanted, patch, now_ms)?;
            }
            goals::read_goal(store, &wanted, now_ms, &zone)
        })
        .await?
        .ok_or_else(|| not_found(&id))?;
    state.local_change(EntityType::Goals, vec![updated.id.clone()]);
    Ok(updated)
}

#[tauri::command]
pub async fn delete_goal(state: State<'_, AppState>, id: String) -> Result<Deleted, IpcError> {
    let id = entity_id(&id)?;
    let (now, _) = now();
    let wanted = id.clone();
    let found = state
        .store
        .call(move |store| {
            if store.load::<Goal>(&wanted)?.is_none() {
                return Ok(false);
            }
            store.delete(EntityType::Goals, &wanted, now.timestamp_millis())?;
            Ok(true)
        })
        .await?;
    if !found {
        return Err(not_found(&id));
    }
    state.local_change(EntityType::Goals, vec![id.to_string()]);
    Ok(Deleted { id: id.to_string() })
}
