//! The practice timer's edges: the view of the store's session ([`timer_view`]), the
//! tray's text for it, the steps shared by the commands and the tray menu (each one store
//! call, then a `timer-changed` event and a tray refresh), and the ticker that keeps the
//! tray's text current and sends the long-running reminder.
//!
//! The session itself (states, segments, tempos, trimming, the reminder's once-only mark)
//! is `legato_store::Store`'s (`timer.rs` there): this device's, never synced.

use std::time::Duration;

use legato_store::{Store, TimerPhase as Phase, TimerPiece, TimerState};
use tauri::{AppHandle, Manager};

use crate::ipc::error::IpcError;
use crate::ipc::types::{
    Piece, TimerPhase, TimerPieceView, TimerSegmentView, TimerStatus, TimerView,
};
use crate::state::AppState;
use crate::{notify, tray};

/// How often the ticker refreshes the tray's text and checks for the reminder.
pub const TICK: Duration = Duration::from_secs(15);
/// The reminder setting's range, in minutes.
pub const REMINDER_MINUTES: std::ops::RangeInclusive<u32> = 5..=1440;
/// The reminder's default: two hours.
pub const DEFAULT_REMINDER_MINUTES: u32 = 120;

const MINUTE_MS: i64 = 60_000;

pub fn piece_view(piece: &TimerPiece) -> TimerPieceView {
    TimerPieceView {
        title: piece.title.clone(),
        composer: piece.composer.clone(),
        piece_id: piece.piece_id.clone(),
    }
}

pub fn piece_input(piece: TimerPieceView) -> TimerPiece {
    TimerPiece {
        title: piece.title,
        composer: piece.composer,
        piece_id: piece.piece_id,
    }
}

/// The view of a session read at `as_of` (ms), with the reminder's threshold in minutes.
pub fn timer_view(state: &TimerState, as_of: i64, reminder_minutes: u32) -> TimerView {
    TimerView {
        phase: match state.phase {
            Phase::Running => TimerPhase::Running,
            Phase::Paused => TimerPhase::Paused,
            Phase::Stopped => TimerPhase::Stopped,
        },
        started_at: state.started_at_ms,
        stopped_at: state.stopped_at_ms,
        elapsed_ms: state.elapsed_ms,
        as_of,
        segments: state
            .segments
            .iter()
            .map(|s| TimerSegmentView {
                piece: s.piece.as_ref().map(piece_view),
                tempo: s.tempo,
                active_ms: s.active_ms,
            })
            .collect(),
        current: u32::try_from(state.current).unwrap_or(0),
        minutes: state.minutes(),
        pieces: state
            .pieces()
            .into_iter()
            .map(|p| Piece {
                title: p.title,
                composer: p.composer,
                measures: p.measures,
                tempo: p.tempo,
                score_id: p.score_id,
            })
            .collect(),
        long: state.elapsed_ms >= i64::from(reminder_minutes) * MINUTE_MS,
    }
}

/// `1:05` for 65 minutes, `42 min` under an hour.
pub fn clock(elapsed_ms: i64) -> String {
    let minutes = elapsed_ms.max(0) / MINUTE_MS;
    if minutes < 60 {
        format!("{minutes} min")
    } else {
        format!("{}:{:02}", minutes / 60, minutes % 60)
    }
}

/// The tray's line for a session: `Practising 42 min · Etude` (`Paused`, `Stopped` ...);
/// `None` without one.
pub fn tray_line(view: Option<&TimerView>) -> Option<String> {
    let view = view?;
    let what = match view.phase {
        TimerPhase::Running => "Practising",
        TimerPhase::Paused => "Practice paused",
        TimerPhase::Stopped => "Practice stopped, not logged yet",
    };
    let piece = view
        .segments
        .get(view.current as usize)
        .and_then(|s| s.piece.as_ref())
        .map(|p| format!(" · {}", p.title))
        .unwrap_or_default();
    Some(format!("{what} {}{piece}", clock(view.elapsed_ms)))
}

/// The tray menu's practice item: what it will do.
pub fn tray_action_label(view: Option<&TimerView>) -> &'static str {
    match view.map(|v| v.phase) {
        None => "Start practice",
        Some(TimerPhase::Running | TimerPhase::Paused) => "Stop practice",
        Some(TimerPhase::Stopped) => "Log practice",
    }
}

/// The reminder setting, checked.
pub fn check_reminder_minutes(minutes: u32) -> Result<u32, IpcError> {
    if REMINDER_MINUTES.contains(&minutes) {
        Ok(minutes)
    } else {
        Err(IpcError::invalid(
            "minutes",
            format!(
                "the reminder comes after {} to {} minutes",
                REMINDER_MINUTES.start(),
                REMINDER_MINUTES.end()
            ),
        ))
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Reads the timer screen's data at `now` (on the store thread).
fn read(store: &Store, now: i64, reminder_minutes: u32) -> legato_store::Result<TimerStatus> {
    Ok(TimerStatus {
        timer: store
            .timer(now)?
            .map(|state| timer_view(&state, now, reminder_minutes)),
        choices: store
            .timer_piece_choices()?
            .iter()
            .map(piece_view)
            .collect(),
        reminder_minutes,
    })
}

/// Runs one timer step on the store thread with the shell's clock, then tells the UI and
/// the tray. Returns the screen's data after it.
pub async fn step(
    state: &AppState,
    op: impl FnOnce(&mut Store, i64) -> legato_store::Result<()> + Send + 'static,
) -> Result<TimerStatus, IpcError> {
    let reminder = state.settings().timer_reminder_minutes;
    let now = now_ms();
    let status = state
        .store
        .call(move |store| {
            op(store, now)?;
            read(store, now, reminder)
        })
        .await?;
    publish(state, &status);
    Ok(status)
}

/// The screen's data now.
pub async fn current(state: &AppState) -> Result<TimerStatus, IpcError> {
    step(state, |_, _| Ok(())).await
}

/// Sends `status` to the UI and shows it in the tray.
pub fn publish(state: &AppState, status: &TimerStatus) {
    state.emit(status);
    if let Some(tray) = state.app().and_then(|app| app.try_state::<tray::Tray>()) {
        tray.set_timer(
            tray_line(status.timer.as_ref()),
            tray_action_label(status.timer.as_ref()),
        );
    }
}

/// The tray's practice item: starts a session (on no piece), stops a running or paused
/// one, and shows the window either way once stopped, where the entry waits to be saved.
pub async fn tray_toggle(app: &AppHandle) {
    let state = app.state::<AppState>();
    let result = step(&state, |store, now| {
        match store.timer(now)?.map(|t| t.phase) {
            None => {
                store.start_timer(now, None)?;
            }
            Some(Phase::Running | Phase::Paused) => {
                store.stop_timer(now)?;
            }
            Some(Phase::Stopped) => {}
        }
        Ok(())
    })
    .await;
    match result {
        Ok(status) => {
            if status
                .timer
                .as_ref()
                .is_some_and(|t| t.phase == TimerPhase::Stopped)
            {
                tray::show_main_window(app);
            }
        }
        Err(err) => tracing::warn!(?err, "the tray's practice item failed"),
    }
}

/// Keeps the tray's text current while a session runs and sends the reminder once.
pub fn spawn_ticker(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let mut ticks = tokio::time::interval(TICK);
        loop {
            ticks.tick().await;
            let state = app.state::<AppState>();
            let reminder = state.settings().timer_reminder_minutes;
            let now = now_ms();
            let checked = state
                .store
                .call(move |store| {
                    let due = store.timer_reminder_due(now, i64::from(reminder) * MINUTE_MS)?;
                    Ok((due, read(store, now, reminder)?))
                })
                .await;
            match checked {
                Ok((due, status)) => {
                    if due {
                        state.notifier.send(notify::timer_reminder_note(reminder));
                    }
                    // The UI counts on its own; only the tray (and a reminder) need this.
                    if let Some(tray) = app.try_state::<tray::Tray>() {
                        tray.set_timer(
                            tray_line(status.timer.as_ref()),
                            tray_action_label(status.timer.as_ref()),
                        );
                    }
                    if due {
                        state.emit(&status);
                    }
                }
                Err(err) => tracing::warn!(%err, "timer tick"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use legato_store::TimerSegment;

    use super::*;
    use crate::ipc::error::ErrorCode;

    const T0: i64 = 1_764_095_400_000;

    fn state(phase: Phase, elapsed_ms: i64) -> TimerState {
        TimerState {
            phase,
            started_at_ms: T0,
            stopped_at_ms: None,
            elapsed_ms,
            segments: vec![
                TimerSegment {
                    piece: None,
                    tempo: None,
                    active_ms: 60_000,
                },
                TimerSegment {
                    piece: Some(TimerPiece {
                        title: "Etude".into(),
                        composer: Some("Chopin".into()),
                        piece_id: Some("r1".into()),
                    }),
                    tempo: Some(96),
                    active_ms: elapsed_ms - 60_000,
                },
            ],
            current: 1,
            reminded: false,
        }
    }

    #[test]
    fn the_view_carries_the_entry_pieces_with_their_tempo() {
        let view = timer_view(&state(Phase::Running, 25 * MINUTE_MS), T0, 120);
        assert_eq!(view.minutes, 25);
        assert_eq!(view.pieces.len(), 1);
        assert_eq!(view.pieces[0].tempo, Some(96));
        assert_eq!(view.pieces[0].score_id.as_deref(), Some("r1"));
        assert!(!view.long);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["phase"], "running");
        assert_eq!(json["segments"][1]["piece"]["pieceId"], "r1");
        assert_eq!(json["elapsedMs"], 25 * MINUTE_MS);
        // Long from the reminder's minutes on.
        assert!(timer_view(&state(Phase::Stopped, 120 * MINUTE_MS), T0, 120).long);
        assert!(!timer_view(&state(Phase::Stopped, 120 * MINUTE_MS - 1), T0, 120).long);
    }

    #[test]
    fn the_tray_says_what_runs_and_what_its_item_does() {
        let running = timer_view(&state(Phase::Running, 65 * MINUTE_MS), T0, 120);
        assert_eq!(
            tray_line(Some(&running)).unwrap(),
            "Practising 1:05 · Etude"
        );
        assert_eq!(tray_action_label(Some(&running)), "Stop practice");
        let paused = timer_view(&state(Phase::Paused, 42 * MINUTE_MS), T0, 120);
        assert_eq!(
            tray_line(Some(&paused)).unwrap(),
            "Practice paused 42 min · Etude"
        );
        let stopped = timer_view(&state(Phase::Stopped, 2 * MINUTE_MS), T0, 120);
        assert_eq!(tray_action_label(Some(&stopped)), "Log practice");
        assert_eq!(tray_line(None), None);
        assert_eq!(tray_action_label(None), "Start practice");
    }

    #[test]
    fn the_reminder_setting_is_5_to_1440_minutes() {
        assert!(check_reminder_minutes(4).is_err());
        assert_eq!(check_reminder_minutes(5).unwrap(), 5);
        assert_eq!(check_reminder_minutes(1440).unwrap(), 1440);
        let err = check_reminder_minutes(1441).unwrap_err();
        assert_eq!(err.code, ErrorCode::Invalid);
        assert_eq!(err.field.as_deref(), Some("minutes"));
    }
}
