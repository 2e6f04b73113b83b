//! The repertoire: list, get (with the tempo history), create, update, delete, similar
//! pieces. Practice figures and the status history are the store's.

use legato_core::RepertoireItem;
use legato_protocol::{EntityId, EntityType};
use tauri::State;

use super::now;
use crate::ipc::error::IpcError;
use crate::ipc::types::{Deleted, PieceDetail, PieceInput, RepertoirePiece, SimilarPiece};
use crate::pieces;
use crate::state::AppState;

fn entity_id(id: &str) -> Result<EntityId, IpcError> {
    EntityId::new(id).map_err(|err| IpcError::invalid("id", err.to_string()))
}

fn not_found(id: &EntityId) -> IpcError {
    IpcError::not_found(format!("no repertoire piece `{id}`"))
}

/// Every piece with its practice time, sessions and last practice, oldest first.
#[tauri::command]
pub async fn list_pieces(state: State<'_, AppState>) -> Result<Vec<RepertoirePiece>, IpcError> {
    Ok(state.store.call(|store| pieces::list(store)).await?)
}

/// A piece with its tempo history.
#[tauri::command]
pub async fn get_piece(state: State<'_, AppState>, id: String) -> Result<PieceDetail, IpcError> {
    let id = entity_id(&id)?;
    let wanted = id.clone();
    state
        .store
        .call(move |store| pieces::detail(store, &wanted))
        .await?
        .ok_or_else(|| not_found(&id))
}

/// Creates a piece (its status history opens with its status); returns it as stored.
#[tauri::command]
pub async fn create_piece(
    state: State<'_, AppState>,
    input: PieceInput,
) -> Result<RepertoirePiece, IpcError> {
    let (now, _) = now();
    let id = entity_id(&uuid::Uuid::now_v7().to_string())?;
    let mut item = RepertoireItem::new(id.clone(), "");
    pieces::apply_input(&mut item, input)?;
    let created = state
        .store
        .call(move |store| {
            store.save_piece(&item, now.timestamp_millis())?;
            pieces::read_piece(store, &item.id)
        })
        .await?
        .ok_or_else(|| IpcError::internal("a created piece cannot be read back"))?;
    state.local_change(EntityType::Repertoire, vec![created.id.clone()]);
    Ok(created)
}

/// Replaces the user-editable fields of a piece; a new status is appended to its history.
#[tauri::command]
pub async fn update_piece(
    state: State<'_, AppState>,
    id: String,
    input: PieceInput,
) -> Result<RepertoirePiece, IpcError> {
    let id = entity_id(&id)?;
    let (now, _) = now();
    let wanted = id.clone();
    let updated = state
        .store
        .try_call(move |store| -> Result<_, IpcError> {
            let mut item = store
                .load::<RepertoireItem>(&wanted)?
                .ok_or_else(|| not_found(&wanted))?;
            pieces::apply_input(&mut item, input)?;
            store.save_piece(&item, now.timestamp_millis())?;
            pieces::read_piece(store, &wanted)?.ok_or_else(|| not_found(&wanted))
        })
        .await?;
    state.local_change(EntityType::Repertoire, vec![updated.id.clone()]);
    Ok(updated)
}

#[tauri::command]
pub async fn delete_piece(state: State<'_, AppState>, id: String) -> Result<Deleted, IpcError> {
    let id = entity_id(&id)?;
    let (now, _) = now();
    let wanted = id.clone();
    let found = state
        .store
        .call(move |store| {
            if store.load::<RepertoireItem>(&wanted)?.is_none() {
                return Ok(false);
            }
            store.delete(EntityType::Repertoire, &wanted, now.timestamp_millis())?;
            Ok(true)
        })
        .await?;
    if !found {
        return Err(not_found(&id));
    }
    state.local_change(EntityType::Repertoire, vec![id.to_string()]);
    Ok(Deleted { id: id.to_string() })
}

/// Pieces whose title/composer nearly match (the store's rule); `except` is the piece
/// being edited.
#[tauri::command]
pub async fn similar_pieces(
    state: State<'_, AppState>,
    title: String,
    composer: Option<String>,
    except: Option<String>,
) -> Result<Vec<SimilarPiece>, IpcError> {
    let except = except.as_deref().map(entity_id).transpose()?;
    let found = state
        .store
        .call(move |store| store.similar_pieces(&title, composer.as_deref(), except.as_ref()))
        .await?;
    Ok(found.into_iter().map(pieces::similar_view).collect())
}
