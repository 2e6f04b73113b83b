//! Desktop notifications for what needs the user while the window may be hidden: a conflict
//! waiting for a decision, changes moved to the dead letters.
//!
//! Sent with `notify-rust` on the blocking pool, bounded by a timeout, never from the UI
//! thread. A missing notification service (no D-Bus session, no daemon) is logged once at
//! `warn` and then at `debug`: never fatal, never a retry storm.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::ipc::types::{ConflictNeedsUser, DeadLettered, EntityKind};

const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a notification stays on screen, in ms (servers may ignore it).
const SHOW_FOR_MS: u32 = 10_000;

/// A notification's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub summary: String,
    pub body: String,
}

fn kind_name(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Logbook => "a logbook entry",
        EntityKind::Repertoire => "a repertoire piece",
        EntityKind::Goals => "a goal",
    }
}

pub fn conflict_note(event: &ConflictNeedsUser) -> Note {
    Note {
        summary: "Legato: a conflict needs you".to_owned(),
        body: format!(
            "{} was changed on another device too. Open Legato to choose which version to keep.",
            capitalize(kind_name(event.entity_type))
        ),
    }
}

pub fn dead_letter_note(event: &DeadLettered) -> Note {
    Note {
        summary: "Legato: a change could not be synced".to_owned(),
        body: format!(
            "The server refused a change of {} ({}). It is kept on this device: open Legato to retry or discard it.",
            kind_name(event.entity_type),
            event.message
        ),
    }
}

/// A delete made here lost to an edit made on another device meanwhile (the `merge` and
/// `remote` rule of `docs/core-choices.md`).
pub fn delete_overruled_note(kind: EntityKind) -> Note {
    Note {
        summary: "Legato: a deleted item was kept".to_owned(),
        body: format!(
            "You deleted {} that another device changed meanwhile, so it was kept with that change. Delete it again if you still mean to.",
            kind_name(kind)
        ),
    }
}

/// A practice timer has run for `minutes` (the reminder setting): still practising?
pub fn timer_reminder_note(minutes: u32) -> Note {
    Note {
        summary: "Legato: the practice timer is still running".to_owned(),
        body: format!(
            "It has run for {} now. Still practising? If not, stop it: Legato offers to trim the time.",
            crate::timer::clock(i64::from(minutes) * 60_000)
        ),
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Sends notifications; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    /// A failure was logged at `warn` already.
    warned: Arc<AtomicBool>,
}

impl Notifier {
    /// Shows `note` in the background; returns at once. Needs a Tokio runtime.
    pub fn send(&self, note: Note) {
        let warned = Arc::clone(&self.warned);
        tauri::async_runtime::spawn(async move {
            let task = tokio::task::spawn_blocking(move || show(&note));
            let failure = match tokio::time::timeout(SEND_TIMEOUT, task).await {
                Ok(Ok(Ok(()))) => return,
                Ok(Ok(Err(err))) => err,
                Ok(Err(join)) => join.to_string(),
                Err(_) => format!("no answer within {} s", SEND_TIMEOUT.as_secs()),
            };
            if warned.swap(true, Ordering::Relaxed) {
                tracing::debug!(%failure, "notification not shown");
            } else {
                tracing::warn!(%failure, "desktop notifications are not available; Legato goes on without them");
            }
        });
    }
}

fn show(note: &Note) -> Result<(), String> {
    notify_rust::Notification::new()
        .appname("Legato")
        .summary(&note.summary)
        .body(&note.body)
        .timeout(notify_rust::Timeout::Milliseconds(SHOW_FOR_MS))
        .show()
        .map(|_| ())
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_say_what_happened_and_what_to_do() {
        let conflict = conflict_note(&ConflictNeedsUser {
            conflict_id: crate::ipc::types::ConflictId(1),
            entity_type: EntityKind::Logbook,
            entity_id: "e1".into(),
        });
        assert_eq!(conflict.summary, "Legato: a conflict needs you");
        assert!(conflict.body.starts_with("A logbook entry was changed"));
        let dead = dead_letter_note(&DeadLettered {
            change_id: "c1".into(),
            entity_type: EntityKind::Goals,
            entity_id: "g1".into(),
            code: "invalid".into(),
            message: "field `title`: is required".into(),
        });
        assert!(dead.body.contains("a goal (field `title`: is required)"));
        assert!(dead.body.contains("retry or discard"));
        let kept = delete_overruled_note(EntityKind::Logbook);
        assert!(kept.body.contains("You deleted a logbook entry"));
        assert!(kept.body.contains("Delete it again"));
    }
}
