//! Events from Rust to the UI: their names (constants, also generated into the TS bindings
//! as `EVENTS`), their payload types, and the forwarder that turns the sync engine's status
//! and events into UI events, tray updates and notifications.

use legato_sync::SyncEvent;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::broadcast::error::RecvError;

use crate::ipc::types::{
    CatchUp, ChangeOrigin, ConflictId, ConflictNeedsUser, DeadLettered, EntityKind, EntriesChanged,
    SettingsView, SyncStatusView,
};
use crate::state::AppState;
use crate::{notify, status, tray};

/// Entities changed (ids, and whether locally or through sync): re-read them.
pub const ENTRIES_CHANGED: &str = "legato://entries-changed";
/// The sync status changed (every change, a few per second at most).
pub const SYNC_STATUS: &str = "legato://sync-status";
/// A conflict waits for the user.
pub const CONFLICT_NEEDS_USER: &str = "legato://conflict-needs-user";
/// The server refused a change for good.
pub const DEAD_LETTERED: &str = "legato://dead-lettered";
/// Catch-up progress after (re)connecting.
pub const CATCH_UP_PROGRESS: &str = "legato://catch-up-progress";
/// The settings changed (here, from the tray, or at start once the keyring answered).
pub const SETTINGS_CHANGED: &str = "legato://settings-changed";
/// The practice timer changed (a step here or from the tray, the reminder).
pub const TIMER_CHANGED: &str = "legato://timer-changed";

/// A payload type with its event name: `emit` cannot send a payload under a wrong name.
pub trait UiEvent: Serialize + Clone + ts_rs::TS + 'static {
    const NAME: &'static str;
}

impl UiEvent for EntriesChanged {
    const NAME: &'static str = ENTRIES_CHANGED;
}
impl UiEvent for SyncStatusView {
    const NAME: &'static str = SYNC_STATUS;
}
impl UiEvent for ConflictNeedsUser {
    const NAME: &'static str = CONFLICT_NEEDS_USER;
}
impl UiEvent for DeadLettered {
    const NAME: &'static str = DEAD_LETTERED;
}
impl UiEvent for CatchUp {
    const NAME: &'static str = CATCH_UP_PROGRESS;
}
impl UiEvent for SettingsView {
    const NAME: &'static str = SETTINGS_CHANGED;
}
impl UiEvent for crate::ipc::types::TimerStatus {
    const NAME: &'static str = TIMER_CHANGED;
}

/// Sends `payload` to every window.
pub fn emit<E: UiEvent>(app: &AppHandle, payload: &E) {
    if let Err(err) = app.emit(E::NAME, payload.clone()) {
        tracing::warn!(%err, event = E::NAME, "cannot send an event to the UI");
    }
}

/// What one engine event means for the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Forward {
    Entries(EntriesChanged),
    Conflict(ConflictNeedsUser),
    DeadLettered(DeadLettered),
    CatchUp(CatchUp),
    /// A delete of this device lost to an edit made elsewhere: a notification (the entity's
    /// change reaches the UI through `EntitiesChanged`).
    DeleteOverruled(EntityKind),
}

/// Maps an engine event; connection changes need nothing (the status covers them).
pub fn forward(event: SyncEvent) -> Option<Forward> {
    Some(match event {
        SyncEvent::EntitiesChanged { entity_type, ids } => Forward::Entries(EntriesChanged {
            entity_type: entity_type.into(),
            ids: Some(ids.iter().map(ToString::to_string).collect()),
            origin: ChangeOrigin::Sync,
        }),
        SyncEvent::ConflictNeedsUser {
            conflict_id,
            entity_type,
            entity_id,
        } => Forward::Conflict(ConflictNeedsUser {
            conflict_id: ConflictId(conflict_id),
            entity_type: entity_type.into(),
            entity_id: entity_id.to_string(),
        }),
        SyncEvent::DeadLettered {
            change_id,
            entity_type,
            entity_id,
            code,
            message,
        } => Forward::DeadLettered(DeadLettered {
            change_id,
            entity_type: entity_type.into(),
            entity_id: entity_id.to_string(),
            code: code.as_str().to_owned(),
            message,
        }),
        SyncEvent::CatchUpProgress(progress) => Forward::CatchUp(progress.into()),
        SyncEvent::DeleteOverruled { entity_type, .. } => {
            Forward::DeleteOverruled(entity_type.into())
        }
        SyncEvent::Connected | SyncEvent::Disconnected { .. } | SyncEvent::SyncComplete { .. } => {
            return None;
        }
    })
}

/// After missed events: every kind of entity may have changed.
fn everything_changed() -> impl Iterator<Item = EntriesChanged> {
    [
        EntityKind::Logbook,
        EntityKind::Repertoire,
        EntityKind::Goals,
    ]
    .into_iter()
    .map(|entity_type| EntriesChanged {
        entity_type,
        ids: None,
        origin: ChangeOrigin::Sync,
    })
}

/// Follows the running sync engine (and its replacements) for the life of the app.
pub fn spawn_forwarder(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let mut generations = state.sync.generations();
        loop {
            follow_engine(&app, &state, &mut generations).await;
            // The engine stopped: wait for its replacement, or end with the app.
            if generations.changed().await.is_err() {
                return;
            }
        }
    });
}

/// Forwards one engine's status and events until it stops or is replaced.
async fn follow_engine(
    app: &AppHandle,
    state: &AppState,
    generations: &mut tokio::sync::watch::Receiver<u64>,
) {
    generations.mark_unchanged();
    let handle = state.sync.handle();
    let mut statuses = handle.status();
    let mut events = handle.subscribe_events();
    publish_status(app, state, &statuses.borrow_and_update().clone());
    loop {
        tokio::select! {
            changed = statuses.changed() => {
                if changed.is_err() {
                    return;
                }
                let current = statuses.borrow_and_update().clone();
                publish_status(app, state, &current);
            }
            event = events.recv() => match event {
                Ok(event) => {
                    if let Some(forward) = forward(event) {
                        deliver(state, forward);
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "UI fell behind the sync events; asking it to re-read");
                    everything_changed().for_each(|e| state.emit(&e));
                }
                Err(RecvError::Closed) => return,
            },
            replaced = generations.changed() => {
                if replaced.is_ok() {
                    // Re-enter with the new engine (the caller's wait sees no change).
                    generations.mark_changed();
                }
                return;
            }
        }
    }
}

fn publish_status(app: &AppHandle, state: &AppState, current: &legato_sync::SyncStatus) {
    let view = status::status_view(current);
    if let Some(tray) = app.try_state::<tray::Tray>() {
        tray.update(&view, state.settings().sync_paused);
    }
    state.emit(&view);
}

fn deliver(state: &AppState, forward: Forward) {
    match forward {
        Forward::Entries(payload) => {
            // A synced change may reach a goal here too (notified once per reaching).
            crate::goals::check_reached(state);
            state.emit(&payload);
        }
        Forward::Conflict(payload) => {
            state.notifier.send(notify::conflict_note(&payload));
            state.emit(&payload);
        }
        Forward::DeadLettered(payload) => {
            state.notifier.send(notify::dead_letter_note(&payload));
            state.emit(&payload);
        }
        Forward::CatchUp(payload) => state.emit(&payload),
        Forward::DeleteOverruled(kind) => {
            state.notifier.send(notify::delete_overruled_note(kind));
        }
    }
}

#[cfg(test)]
mod tests {
    use legato_protocol::{EntityId, EntityType, ErrorCode};
    use legato_sync::CatchUpProgress;
    use serde_json::json;

    use super::*;

    #[test]
    fn engine_events_become_ui_payloads() {
        let Some(Forward::Entries(changed)) = forward(SyncEvent::EntitiesChanged {
            entity_type: EntityType::Logbook,
            ids: vec![EntityId::new("e1").unwrap()],
        }) else {
            panic!("entities changed is forwarded");
        };
        assert_eq!(
            serde_json::to_value(&changed).unwrap(),
            json!({"entityType": "logbook", "ids": ["e1"], "origin": "sync"})
        );

        let Some(Forward::DeadLettered(dead)) = forward(SyncEvent::DeadLettered {
            change_id: "c1".into(),
            entity_type: EntityType::Goals,
            entity_id: EntityId::new("g1").unwrap(),
            code: ErrorCode::Invalid,
            message: "field `title`".into(),
        }) else {
            panic!("dead letters are forwarded");
        };
        assert_eq!(
            serde_json::to_value(&dead).unwrap(),
            json!({"changeId": "c1", "entityType": "goals", "entityId": "g1",
                   "code": "invalid", "message": "field `title`"})
        );

        let Some(Forward::Conflict(conflict)) = forward(SyncEvent::ConflictNeedsUser {
            conflict_id: 3,
            entity_type: EntityType::Repertoire,
            entity_id: EntityId::new("r1").unwrap(),
        }) else {
            panic!("conflicts are forwarded");
        };
        assert_eq!(
            serde_json::to_value(&conflict).unwrap(),
            json!({"conflictId": 3, "entityType": "repertoire", "entityId": "r1"})
        );

        let progress = CatchUpProgress {
            since: 1,
            received: 5,
            applied: 3,
            seq: 9,
        };
        assert_eq!(
            forward(SyncEvent::CatchUpProgress(progress)),
            Some(Forward::CatchUp(progress.into()))
        );
        assert_eq!(forward(SyncEvent::Connected), None);
        assert_eq!(forward(SyncEvent::SyncComplete { seq: 4 }), None);
        assert_eq!(
            forward(SyncEvent::DeleteOverruled {
                entity_type: legato_protocol::EntityType::Goals,
                entity_id: legato_protocol::EntityId::new("g1").unwrap(),
            }),
            Some(Forward::DeleteOverruled(EntityKind::Goals))
        );
    }

    #[test]
    fn missed_events_ask_for_everything() {
        let all: Vec<_> = everything_changed().collect();
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|e| e.ids.is_none()));
        assert_eq!(
            serde_json::to_value(&all[0]).unwrap(),
            json!({"entityType": "logbook", "ids": null, "origin": "sync"})
        );
    }

    #[test]
    fn event_names_are_valid_tauri_event_names() {
        for name in [
            ENTRIES_CHANGED,
            SYNC_STATUS,
            CONFLICT_NEEDS_USER,
            DEAD_LETTERED,
            CATCH_UP_PROGRESS,
            SETTINGS_CHANGED,
            TIMER_CHANGED,
        ] {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-/:_".contains(c)),
                "{name}"
            );
        }
    }
}
