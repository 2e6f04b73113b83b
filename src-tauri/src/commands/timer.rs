//! The practice timer: each command is one store step with the shell's clock (see
//! `crate::timer`), answered with the timer screen's data (also sent as `timer-changed`).

use legato_core::LogbookEntry;
use legato_protocol::{EntityId, EntityType};
use tauri::State;

use super::now;
use crate::entries;
use crate::ipc::error::IpcError;
use crate::ipc::types::{Entry, EntryInput, TimerPieceView, TimerStatus};
use crate::state::AppState;
use crate::timer::{self, check_reminder_minutes, piece_input};

#[tauri::command]
pub async fn get_timer(state: State<'_, AppState>) -> Result<TimerStatus, IpcError> {
    timer::current(&state).await
}

/// Starts a session on `piece` (or on no piece).
#[tauri::command]
pub async fn start_timer(
    state: State<'_, AppState>,
    piece: Option<TimerPieceView>,
) -> Result<TimerStatus, IpcError> {
    let piece = piece.map(piece_input);
    timer::step(&state, move |store, now| {
        store.start_timer(now, piece.as_ref()).map(drop)
    })
    .await
}

#[tauri::command]
pub async fn pause_timer(state: State<'_, AppState>) -> Result<TimerStatus, IpcError> {
    timer::step(&state, |store, now| store.pause_timer(now).map(drop)).await
}

#[tauri::command]
pub async fn resume_timer(state: State<'_, AppState>) -> Result<TimerStatus, IpcError> {
    timer::step(&state, |store, now| store.resume_timer(now).map(drop)).await
}

/// From now on the time counts for `piece` (`null`: no piece).
#[tauri::command]
pub async fn switch_timer_piece(
    state: State<'_, AppState>,
    piece: Option<TimerPieceView>,
) -> Result<TimerStatus, IpcError> {
    let piece = piece.map(piece_input);
    timer::step(&state, move |store, now| {
        store.switch_timer_piece(now, piece.as_ref()).map(drop)
    })
    .await
}

/// The metronome's tempo for the piece being practised (the last one set is logged).
#[tauri::command]
pub async fn set_timer_tempo(
    state: State<'_, AppState>,
    bpm: u32,
) -> Result<TimerStatus, IpcError> {
    timer::step(&state, move |store, now| {
        store.set_timer_tempo(now, i64::from(bpm)).map(drop)
    })
    .await
}

#[tauri::command]
pub async fn stop_timer(state: State<'_, AppState>) -> Result<TimerStatus, IpcError> {
    timer::step(&state, |store, now| store.stop_timer(now).map(drop)).await
}

/// Keeps only the first `minutes` of a stopped session (cut from its end).
#[tauri::command]
pub async fn trim_timer(state: State<'_, AppState>, minutes: u32) -> Result<TimerStatus, IpcError> {
    if minutes == 0 {
        return Err(IpcError::invalid("minutes", "keep at least 1 minute"));
    }
    timer::step(&state, move |store, _| {
        store.trim_timer(i64::from(minutes) * 60_000).map(drop)
    })
    .await
}

/// Saves the stopped session's entry (as the user completed it in the form) and ends the
/// session. Returns the entry as stored.
#[tauri::command]
pub async fn finish_timer(
    state: State<'_, AppState>,
    input: EntryInput,
) -> Result<Entry, IpcError> {
    let (now, _) = now();
    let id = EntityId::new(uuid::Uuid::now_v7().to_string())
        .map_err(|err| IpcError::invalid("id", err.to_string()))?;
    let mut entry = LogbookEntry::new(id, now, input.duration);
    entries::apply_input(&mut entry, input, now)?;
    let created = state
        .store
        .call(move |store| {
            store.finish_timer(&entry, now.timestamp_millis())?;
            entries::read_entry(store, &entry.id)
        })
        .await?
        .ok_or_else(|| IpcError::internal("a created entry cannot be read back"))?;
    state.local_change(EntityType::Logbook, vec![created.id.clone()]);
    timer::current(&state).await?;
    Ok(created)
}

/// Ends the session without logging it.
#[tauri::command]
pub async fn discard_timer(state: State<'_, AppState>) -> Result<TimerStatus, IpcError> {
    timer::step(&state, |store, _| store.discard_timer()).await
}

/// After how many minutes a running timer reminds (once per session).
#[tauri::command]
pub async fn set_timer_reminder(
    state: State<'_, AppState>,
    minutes: u32,
) -> Result<TimerStatus, IpcError> {
    let minutes = check_reminder_minutes(minutes)?;
    state
        .update_settings(|s| s.timer_reminder_minutes = minutes)
        .await?;
    timer::current(&state).await
}
