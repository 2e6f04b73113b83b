//! Practice totals and the streak.

use tauri::State;

use super::now;
use crate::ipc::error::IpcError;
use crate::ipc::types::Stats;
use crate::state::AppState;

/// Minutes today, this week and in all, and the streak of consecutive days.
#[tauri::command]
pub async fn get_stats(state: State<'_, AppState>) -> Result<Stats, IpcError> {
    let (now, offset) = now();
    let (now_ms, minutes) = (now.timestamp_millis(), offset.local_minus_utc() / 60);
    let (totals, streak) = state
        .store
        .call(move |store| {
            Ok((
                store.totals(now_ms, minutes)?,
                store.streak(now_ms, minutes)?,
            ))
        })
        .await?;
    Ok(Stats {
        today_minutes: totals.today,
        week_minutes: totals.week,
        all_minutes: totals.all,
        streak_days: streak,
    })
}
