//! Sync state for people: the engine's [`SyncStatus`], reports, dead letters and events as
//! IPC views, the one-word [`SyncBadge`] the tray shows, and the tray tooltip. Pure
//! functions, tested here.

use chrono::{DateTime, FixedOffset};
use legato_protocol::{EntityType, Operation};
use legato_store::{DeadLetter, SyncState};
use legato_sync::{CatchUpProgress, ConnectionState, SyncReport, SyncStatus};

use crate::ipc::types::{
    CatchUp, Connection, DeadLetterView, EntityKind, EntrySync, Health, OperationKind, SyncBadge,
    SyncReportView, SyncStatusView,
};

impl From<EntityType> for EntityKind {
    fn from(value: EntityType) -> Self {
        match value {
            EntityType::Logbook => EntityKind::Logbook,
            EntityType::Repertoire => EntityKind::Repertoire,
            EntityType::Goals => EntityKind::Goals,
        }
    }
}

impl From<EntityKind> for EntityType {
    fn from(value: EntityKind) -> Self {
        match value {
            EntityKind::Logbook => EntityType::Logbook,
            EntityKind::Repertoire => EntityType::Repertoire,
            EntityKind::Goals => EntityType::Goals,
        }
    }
}

impl From<Operation> for OperationKind {
    fn from(value: Operation) -> Self {
        match value {
            Operation::Create => OperationKind::Create,
            Operation::Update => OperationKind::Update,
            Operation::Delete => OperationKind::Delete,
        }
    }
}

impl From<SyncState> for EntrySync {
    fn from(value: SyncState) -> Self {
        match value {
            SyncState::Synced => EntrySync::Synced,
            SyncState::Pending => EntrySync::Pending,
            SyncState::Failed => EntrySync::Failed,
            SyncState::Conflict => EntrySync::Conflict,
        }
    }
}

impl From<ConnectionState> for Connection {
    fn from(value: ConnectionState) -> Self {
        match value {
            ConnectionState::Offline => Connection::Offline,
            ConnectionState::Connecting => Connection::Connecting,
            ConnectionState::Connected => Connection::Connected,
            ConnectionState::Paused => Connection::Paused,
            ConnectionState::SignedOut => Connection::SignedOut,
        }
    }
}

impl From<legato_sync::Health> for Health {
    fn from(value: legato_sync::Health) -> Self {
        match value {
            legato_sync::Health::Healthy => Health::Healthy,
            legato_sync::Health::Degraded => Health::Degraded,
            legato_sync::Health::Unhealthy => Health::Unhealthy,
        }
    }
}

impl From<CatchUpProgress> for CatchUp {
    fn from(p: CatchUpProgress) -> Self {
        CatchUp {
            since: p.since,
            received: p.received,
            applied: p.applied,
            seq: p.seq,
        }
    }
}

/// The badge for a status. Things that wait for the user come first (a conflict, then
/// refused changes), then the connection: offline (also paused or signed out), syncing
/// (connecting, sending or catching up), synced.
pub fn badge(status: &SyncStatus) -> SyncBadge {
    if status.conflicts > 0 {
        return SyncBadge::Conflict;
    }
    if status.dead_letters > 0 {
        return SyncBadge::Error;
    }
    match status.connection {
        ConnectionState::Offline | ConnectionState::Paused | ConnectionState::SignedOut => {
            SyncBadge::Offline
        }
        ConnectionState::Connecting => SyncBadge::Syncing,
        ConnectionState::Connected if status.is_synced() => SyncBadge::Synced,
        ConnectionState::Connected => SyncBadge::Syncing,
    }
}

pub fn status_view(status: &SyncStatus) -> SyncStatusView {
    SyncStatusView {
        connection: status.connection.into(),
        badge: badge(status),
        pending: status.pending,
        dead_letters: status.dead_letters,
        conflicts: status.conflicts,
        last_sync_at: status.metrics.last_sync_time,
        last_error: status
            .last_error
            .clone()
            .or_else(|| status.metrics.last_error.clone()),
        health: status.metrics.health.into(),
        catch_up: status.catching_up.map(CatchUp::from),
        next_retry_at: status.next_retry_at,
        cursor: status.cursor,
    }
}

pub fn report_view(report: &SyncReport) -> SyncReportView {
    SyncReportView {
        pushed: report.pushed,
        pulled: report.pulled,
        conflicts: report.conflicts,
        pending: report.pending,
        dead_letters: report.dead_letters,
        conflicts_waiting: report.conflicts_waiting,
    }
}

pub fn dead_letter_view(letter: &DeadLetter) -> DeadLetterView {
    DeadLetterView {
        change_id: letter.change.change_id.clone(),
        entity_type: letter.change.entity_type.into(),
        entity_id: letter.change.entity_id.to_string(),
        operation: letter.change.operation.into(),
        data: letter.change.data.clone(),
        attempts: letter.attempts,
        error_code: letter.error_code.as_str().to_owned(),
        error_message: letter.error_message.clone(),
        failed_at: letter.failed_at,
        edited_at: letter.change.timestamp,
    }
}

/// A word for each badge, for tooltips and accessible labels.
pub fn badge_label(badge: SyncBadge) -> &'static str {
    match badge {
        SyncBadge::Synced => "synced",
        SyncBadge::Syncing => "syncing",
        SyncBadge::Offline => "offline",
        SyncBadge::Conflict => "a conflict needs you",
        SyncBadge::Error => "some changes could not be synced",
    }
}

/// The tray tooltip: `Legato: synced — 0 pending · last sync 14:05` (local time, at the
/// given offset).
pub fn tooltip(view: &SyncStatusView, offset: FixedOffset) -> String {
    let last = view
        .last_sync_at
        .and_then(DateTime::from_timestamp_millis)
        .map_or_else(
            || "never".to_owned(),
            |at| at.with_timezone(&offset).format("%H:%M").to_string(),
        );
    let connection = match view.connection {
        Connection::Paused => " (paused)",
        Connection::SignedOut => " (signed out)",
        _ => "",
    };
    format!(
        "Legato: {}{connection} — {} pending · last sync {last}",
        badge_label(view.badge),
        view.pending
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn status(connection: ConnectionState) -> SyncStatus {
        SyncStatus {
            connection,
            pending: 0,
            dead_letters: 0,
            conflicts: 0,
            cursor: 0,
            server_seq: None,
            catching_up: None,
            next_retry_at: None,
            metrics: legato_sync::health::MetricsRecorder::default().snapshot(0, 0, None),
            last_error: None,
        }
    }

    #[test]
    fn badge_puts_what_waits_for_the_user_first() {
        let mut s = status(ConnectionState::Connected);
        assert_eq!(badge(&s), SyncBadge::Synced);
        s.pending = 2;
        assert_eq!(badge(&s), SyncBadge::Syncing);
        s.pending = 0;
        s.catching_up = Some(CatchUpProgress {
            since: 0,
            received: 1,
            applied: 0,
            seq: 4,
        });
        assert_eq!(badge(&s), SyncBadge::Syncing);
        s.dead_letters = 1;
        assert_eq!(badge(&s), SyncBadge::Error);
        s.conflicts = 1;
        assert_eq!(badge(&s), SyncBadge::Conflict);

        assert_eq!(
            badge(&status(ConnectionState::Connecting)),
            SyncBadge::Syncing
        );
        for offline in [
            ConnectionState::Offline,
            ConnectionState::Paused,
            ConnectionState::SignedOut,
        ] {
            assert_eq!(badge(&status(offline)), SyncBadge::Offline);
        }
        let mut offline_with_conflict = status(ConnectionState::Offline);
        offline_with_conflict.conflicts = 3;
        assert_eq!(badge(&offline_with_conflict), SyncBadge::Conflict);
    }

    #[test]
    fn tooltip_shows_pending_and_last_sync_in_local_time() {
        let mut s = status(ConnectionState::Connected);
        s.pending = 3;
        s.metrics.last_sync_time = Some(1_764_095_400_000); // 2025-11-25T18:30:00Z
        let view = status_view(&s);
        let cet = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(
            tooltip(&view, cet),
            "Legato: syncing — 3 pending · last sync 19:30"
        );
        let never = status_view(&status(ConnectionState::Paused));
        assert_eq!(
            tooltip(&never, FixedOffset::east_opt(0).unwrap()),
            "Legato: offline (paused) — 0 pending · last sync never"
        );
    }

    #[test]
    fn status_view_serializes_as_the_contract_says() {
        let mut s = status(ConnectionState::SignedOut);
        s.last_error = Some("the server refused the credentials".into());
        s.next_retry_at = Some(5);
        let json = serde_json::to_value(status_view(&s)).unwrap();
        assert_eq!(
            json,
            json!({
                "connection": "signedOut",
                "badge": "offline",
                "pending": 0,
                "deadLetters": 0,
                "conflicts": 0,
                "lastSyncAt": null,
                "lastError": "the server refused the credentials",
                "health": "healthy",
                "catchUp": null,
                "nextRetryAt": 5,
                "cursor": 0,
            })
        );
    }
}
