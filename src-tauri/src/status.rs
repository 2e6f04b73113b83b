//! Sync state for people: the engine's [`SyncStatus`], reports, dead letters and events as
//! IPC views, the one-word [`SyncBadge`] the tray shows, and the tray tooltip. Pure
//! functions, tested here.

use chrono::{DateTime, FixedOffset};
use legato_protocol::{EntityType, Fields, Operation};
use legato_store::{DeadLetter, SyncState};
use legato_sync::{CatchUpProgress, ConnectionState, ProblemKind, SyncReport, SyncStatus};
use serde_json::Value;

use crate::ipc::types::{
    CatchUp, Connection, DeadLetterView, EntityKind, EntryKind, EntrySync, Health, OperationKind,
    SyncBadge, SyncProblem, SyncProblemCode, SyncReportView, SyncStatusView,
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
            .as_ref()
            .or(status.metrics.last_error.as_ref())
            .map(problem_view),
        pending_refusal: status.pending_refusal.as_ref().map(refusal_problem),
        health: status.metrics.health.into(),
        catch_up: status.catching_up.map(CatchUp::from),
        next_retry_at: status.next_retry_at,
        cursor: status.cursor,
        insecure_server: status.insecure_server,
    }
}

/// A refusal of a waiting change, by its protocol code (never by its words).
pub fn refusal_problem(refusal: &legato_store::Refusal) -> SyncProblem {
    problem_view(&legato_sync::SyncProblem::new(
        ProblemKind::of_refusal(refusal.code),
        refusal.code.is_transient(),
        refusal.message.clone(),
    ))
}

/// The engine's problem (typed where it happened: a [`legato_sync::TransportError`], a
/// server's code, a store failure) as its code and a plain sentence for the status bar; the
/// engine's words stay as the detail.
pub fn problem_view(problem: &legato_sync::SyncProblem) -> SyncProblem {
    let code = match problem.kind {
        ProblemKind::Unreachable => SyncProblemCode::Unreachable,
        ProblemKind::Unauthorized => SyncProblemCode::Unauthorized,
        ProblemKind::RateLimited => SyncProblemCode::RateLimited,
        ProblemKind::QuotaExceeded => SyncProblemCode::QuotaExceeded,
        ProblemKind::Server => SyncProblemCode::Server,
        ProblemKind::Refused => SyncProblemCode::Refused,
        ProblemKind::Protocol => SyncProblemCode::Protocol,
        ProblemKind::Storage => SyncProblemCode::Storage,
        ProblemKind::Other => SyncProblemCode::Other,
    };
    SyncProblem {
        code,
        retryable: problem.retryable,
        message: problem_message(code).to_owned(),
        detail: problem.detail.clone(),
    }
}

/// The status bar's plain sentence for each kind of problem.
fn problem_message(code: SyncProblemCode) -> &'static str {
    match code {
        SyncProblemCode::Unreachable => {
            "Can't reach the sync server — changes are kept and will sync when it's back"
        }
        SyncProblemCode::Unauthorized => {
            "The server refused the sign-in — sign in again in Settings"
        }
        SyncProblemCode::RateLimited => {
            "The sync server asked to slow down — changes will sync shortly"
        }
        SyncProblemCode::QuotaExceeded => {
            "Your account's storage on the server is full — new changes wait on this device"
        }
        SyncProblemCode::Server => {
            "The sync server had a problem — changes are kept and will sync later"
        }
        SyncProblemCode::Refused => "The server refused a change — see Dead letters",
        SyncProblemCode::Protocol => {
            "The sync server sent something this version can't read — update Legato"
        }
        SyncProblemCode::Storage => {
            "Sync can't read this device's data — changes stay here; restart Legato to retry"
        }
        SyncProblemCode::Other => "Sync ran into a problem — changes are kept",
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

/// A dead letter as the UI lists it; `current` is the entity's state in the store (the
/// change itself may carry only the fields it changed), for its title.
pub fn dead_letter_view(letter: &DeadLetter, current: Option<&Fields>) -> DeadLetterView {
    DeadLetterView {
        title: entity_title(letter.change.entity_type, &letter.change.data, current),
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

/// What an entity is, as the lists name it: a logbook entry by its piece titles (or its
/// type, `Practice`), a repertoire item or a goal by its title; the change's own values
/// first, then the stored ones; else the kind of record (`Logbook entry`).
pub fn entity_title(entity_type: EntityType, data: &Fields, current: Option<&Fields>) -> String {
    let field = |name: &str| {
        data.get(name)
            .filter(|v| !v.is_null())
            .or_else(|| current.and_then(|c| c.get(name)).filter(|v| !v.is_null()))
    };
    let titled = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let title = match entity_type {
        EntityType::Logbook => {
            let pieces: Vec<String> = field("pieces")
                .and_then(Value::as_array)
                .map(|pieces| {
                    pieces
                        .iter()
                        .filter_map(|p| titled(p.get("title")))
                        .collect()
                })
                .unwrap_or_default();
            if pieces.is_empty() {
                field("type")
                    .and_then(|t| serde_json::from_value::<EntryKind>(t.clone()).ok())
                    .map(|kind| entry_kind_label(kind).to_owned())
            } else {
                Some(pieces.join(", "))
            }
        }
        EntityType::Repertoire | EntityType::Goals => titled(field("title")),
    };
    title.unwrap_or_else(|| {
        match entity_type {
            EntityType::Logbook => "Logbook entry",
            EntityType::Repertoire => "Repertoire item",
            EntityType::Goals => "Goal",
        }
        .to_owned()
    })
}

/// An entry type as the UI names it (`ENTRY_KINDS` in `ui/src/lib/format.ts`).
pub fn entry_kind_label(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Practice => "Practice",
        EntryKind::Performance => "Performance",
        EntryKind::Lesson => "Lesson",
        EntryKind::Rehearsal => "Rehearsal",
        EntryKind::Technique => "Technique",
        EntryKind::StatusChange => "Status change",
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
    use legato_protocol::ErrorCode;
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
            pending_refusal: None,
            insecure_server: false,
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
        s.last_error = Some(legato_sync::SyncProblem::transport(
            &legato_sync::TransportError::Unauthorized,
        ));
        s.pending_refusal = Some(legato_store::Refusal {
            code: ErrorCode::QuotaExceeded,
            message: "quota_exceeded: the account's storage quota is used up".into(),
        });
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
                "lastError": {
                    "code": "unauthorized",
                    "retryable": false,
                    "message": "The server refused the sign-in — sign in again in Settings",
                    "detail": "the server refused the credentials (sign in again)",
                },
                "pendingRefusal": {
                    "code": "quota_exceeded",
                    "retryable": true,
                    "message": "Your account's storage on the server is full — new changes wait on this device",
                    "detail": "quota_exceeded: the account's storage quota is used up",
                },
                "health": "healthy",
                "catchUp": null,
                "nextRetryAt": 5,
                "cursor": 0,
                "insecureServer": false,
            })
        );
    }

    #[test]
    fn engine_problems_become_plain_sentences_with_the_words_as_detail() {
        use SyncProblemCode as C;
        use legato_sync::{SyncProblem as Problem, TransportError};
        let refused = TransportError::Network("IO error: Connection refused (os error 111)".into());
        let problem = problem_view(&Problem::transport(&refused));
        assert_eq!(problem.code, C::Unreachable);
        assert!(problem.retryable);
        assert_eq!(
            problem.message,
            "Can't reach the sync server — changes are kept and will sync when it's back"
        );
        assert_eq!(
            problem.detail,
            "network: IO error: Connection refused (os error 111)"
        );
        // Each kind has its code and sentence; the words never decide it.
        for (kind, code) in [
            (ProblemKind::Unreachable, C::Unreachable),
            (ProblemKind::Unauthorized, C::Unauthorized),
            (ProblemKind::RateLimited, C::RateLimited),
            (ProblemKind::QuotaExceeded, C::QuotaExceeded),
            (ProblemKind::Server, C::Server),
            (ProblemKind::Refused, C::Refused),
            (ProblemKind::Protocol, C::Protocol),
            (ProblemKind::Storage, C::Storage),
            (ProblemKind::Other, C::Other),
        ] {
            let text = "network: timed out: server: internal: words that look like another kind";
            let problem = problem_view(&Problem::new(kind, false, text));
            assert_eq!(problem.code, code, "{kind:?}");
            assert_eq!(problem.detail, text);
            assert!(!problem.retryable);
            assert!(!problem.message.contains(text), "{kind:?}");
        }
    }

    #[test]
    fn a_dead_letter_is_named_like_the_lists_name_its_entity() {
        let fields = |value: serde_json::Value| value.as_object().unwrap().clone();
        // A tags-only update: the titles come from the stored entry.
        let change = fields(json!({"tags": ["a"], "timestamp": "2026-11-25T07:56:00Z"}));
        let stored = fields(json!({
            "type": "practice",
            "pieces": [{"title": "Invention no. 8"}, {"title": " Clair de lune ", "composer": "Debussy"}],
        }));
        assert_eq!(
            entity_title(EntityType::Logbook, &change, Some(&stored)),
            "Invention no. 8, Clair de lune"
        );
        // The change's own pieces win; no pieces: the type.
        let renamed = fields(json!({"pieces": [{"title": "Sonata"}]}));
        assert_eq!(
            entity_title(EntityType::Logbook, &renamed, Some(&stored)),
            "Sonata"
        );
        let no_pieces = fields(json!({"pieces": [], "type": "status_change"}));
        assert_eq!(
            entity_title(EntityType::Logbook, &no_pieces, None),
            "Status change"
        );
        assert_eq!(
            entity_title(EntityType::Logbook, &change, None),
            "Logbook entry"
        );
        let goal = fields(json!({"title": "Learn the Invention"}));
        assert_eq!(
            entity_title(EntityType::Goals, &goal, None),
            "Learn the Invention"
        );
        assert_eq!(
            entity_title(EntityType::Repertoire, &change, None),
            "Repertoire item"
        );
    }
}
