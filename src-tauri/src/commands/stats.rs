//! Practice totals and the streak (the logbook's strip), the statistics screen's figures,
//! and saving a chart as PNG. Days are local days in the system's time zone (IANA, DST
//! included), computed by the store.

use legato_store::TimeZone;
use tauri::State;

use super::now;
use crate::ipc::error::IpcError;
use crate::ipc::types::{ChartImage, SavedFile, StatisticsRequest, StatisticsView, Stats};
use crate::state::AppState;
use crate::statistics;

/// Minutes today, this week and in all, and the streak of consecutive days.
#[tauri::command]
pub async fn get_stats(state: State<'_, AppState>) -> Result<Stats, IpcError> {
    let now_ms = now().0.timestamp_millis();
    let zone = TimeZone::system();
    let summary = state
        .store
        .call(move |store| store.summary(now_ms, &zone))
        .await?;
    Ok(Stats {
        today_minutes: summary.totals.today.minutes,
        week_minutes: summary.totals.week.minutes,
        all_minutes: summary.totals.all.minutes,
        streak_days: summary.streaks.current,
    })
}

/// Everything the statistics screen shows, in one store read.
#[tauri::command]
pub async fn get_statistics(
    state: State<'_, AppState>,
    request: StatisticsRequest,
) -> Result<StatisticsView, IpcError> {
    let now_ms = now().0.timestamp_millis();
    let zone = TimeZone::system();
    let name = statistics::zone_name(&zone, now_ms);
    let query = statistics::query(request, now_ms, zone);
    let stats = state
        .store
        .call(move |store| store.statistics(&query))
        .await?;
    Ok(statistics::view(stats, name))
}

/// Writes a chart's PNG to the Downloads directory (or the data dir's `exports`).
#[tauri::command]
pub async fn save_chart(
    state: State<'_, AppState>,
    chart: ChartImage,
) -> Result<SavedFile, IpcError> {
    let png = statistics::decode_png(&chart.png_base64)?;
    let dir = statistics::export_dir(&state.launch.data_dir);
    let today = chrono::Local::now().date_naive().to_string();
    let path =
        tokio::task::spawn_blocking(move || statistics::save_png(&dir, chart.kind, &today, &png))
            .await
            .map_err(IpcError::internal)?
            .map_err(|err| {
                tracing::warn!(%err, "cannot save a chart");
                IpcError::new(
                    crate::ipc::error::ErrorCode::Storage,
                    format!("cannot save the chart: {err}"),
                )
            })?;
    tracing::info!(path = %path.display(), "chart saved");
    Ok(SavedFile {
        path: path.display().to_string(),
    })
}
