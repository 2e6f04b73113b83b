//! Goals between the typed model and the IPC views: a [`GoalView`] with the progress the
//! store computed (`Store::goal_progress`), a [`GoalInput`] applied to a [`Goal`], and the
//! "goal reached" notification, sent once per reaching (`Store::newly_reached_goals`
//! remembers) after any change of the logbook, repertoire or goals, made here or synced
//! from another device. Tested here.

use chrono::{DateTime, Utc};
use legato_core::Goal;
use legato_core::model::{self, Milestone as ModelMilestone, datetime};
use legato_protocol::EntityId;
use legato_store::{GoalProgress as StoreProgress, ProgressUnit as StoreUnit, Store, TimeZone};

use crate::entries::parse_time;
use crate::ipc::error::IpcError;
use crate::ipc::types::{
    EntrySync, GoalInput, GoalKind, GoalPeriod, GoalProgress, GoalStatus, GoalView, Milestone,
    ProgressUnit,
};
use crate::notify::Note;
use crate::state::AppState;

macro_rules! same_enum {
    ($view:ident, $model:path, $($variant:ident),*) => {
        impl From<$model> for $view {
            fn from(value: $model) -> Self {
                match value { $( <$model>::$variant => $view::$variant ),* }
            }
        }
        impl From<$view> for $model {
            fn from(value: $view) -> Self {
                match value { $( $view::$variant => <$model>::$variant ),* }
            }
        }
    };
}

same_enum!(GoalKind, model::GoalType, PracticeTime, Repertoire, Custom);
same_enum!(GoalPeriod, model::GoalPeriod, Day, Week, Month, Total);
same_enum!(
    GoalStatus,
    model::GoalStatus,
    Active,
    Completed,
    Paused,
    Abandoned
);

fn unit_view(unit: StoreUnit) -> ProgressUnit {
    match unit {
        StoreUnit::Minutes => ProgressUnit::Minutes,
        StoreUnit::Pieces => ProgressUnit::Pieces,
        StoreUnit::Milestones => ProgressUnit::Milestones,
        StoreUnit::Count => ProgressUnit::Count,
    }
}

pub fn progress_view(progress: &StoreProgress) -> GoalProgress {
    GoalProgress {
        unit: unit_view(progress.unit),
        value: progress.value,
        target: progress.target,
        percent: progress.percent(),
        reached: progress.reached(),
        logged_minutes: progress.logged_minutes,
        counted: progress.counted,
        window_start: progress
            .window
            .map(|(start, _)| start)
            .filter(|s| *s != i64::MIN),
        window_end: progress
            .window
            .map(|(_, end)| end)
            .filter(|e| *e != i64::MAX),
    }
}

pub fn goal_view(goal: &Goal, progress: &StoreProgress, sync: EntrySync) -> GoalView {
    GoalView {
        id: goal.id.to_string(),
        title: goal.title.clone(),
        description: goal.description.clone(),
        kind: goal.goal_type.into(),
        target_minutes: goal.target_minutes,
        period: goal.period.into(),
        status: goal.status.into(),
        piece_ids: goal.piece_ids.iter().map(ToString::to_string).collect(),
        milestones: goal
            .milestones
            .iter()
            .map(|m| Milestone {
                id: m.id.clone(),
                title: m.title.clone(),
                done: m.done,
                done_at: m.done_at.as_ref().map(datetime::format),
            })
            .collect(),
        notes: goal.notes.clone(),
        tags: goal.tags.clone(),
        target_date: goal.target_date.as_ref().map(datetime::format),
        progress: progress_view(progress),
        created_at: goal.created_at.as_ref().map(datetime::format),
        sync,
    }
}

/// Every live goal that reads, oldest first, with its progress at `now_ms` in `zone`.
pub fn list(store: &Store, now_ms: i64, zone: &TimeZone) -> legato_store::Result<Vec<GoalView>> {
    let progress = store.goal_progress(now_ms, zone)?;
    let mut goals = Vec::new();
    for entity in store.list(legato_protocol::EntityType::Goals)? {
        let Ok(goal) = Goal::from_fields(entity.id.clone(), &entity.state) else {
            continue; // logged by goal_progress
        };
        if let Some(p) = progress.iter().find(|p| p.id == goal.id) {
            goals.push(goal_view(&goal, p, entity.sync.into()));
        }
    }
    Ok(goals)
}

/// One live goal with its progress; `None` if there is none.
pub fn read_goal(
    store: &Store,
    id: &EntityId,
    now_ms: i64,
    zone: &TimeZone,
) -> legato_store::Result<Option<GoalView>> {
    let Some(entity) = store.get(legato_protocol::EntityType::Goals, id)? else {
        return Ok(None);
    };
    if entity.deleted {
        return Ok(None);
    }
    let goal = Goal::from_fields(entity.id.clone(), &entity.state)?;
    let Some(progress) = store.goal_progress_of(id, now_ms, zone)? else {
        return Ok(None);
    };
    Ok(Some(goal_view(&goal, &progress, entity.sync.into())))
}

fn text(value: Option<String>) -> Option<String> {
    value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Writes the user-editable fields of `input` into `goal` (normalised). Milestones with an
/// id of the goal keep it (and their unknown keys; `doneAt` follows `done`), new ones get
/// the next id, missing ones are removed. The counter is left alone.
pub fn apply_input(goal: &mut Goal, input: GoalInput, now: DateTime<Utc>) -> Result<(), IpcError> {
    let title = input.title.trim();
    if title.is_empty() {
        return Err(IpcError::invalid("title", "a goal needs a title"));
    }
    goal.title = title.to_owned();
    goal.description = text(input.description);
    goal.goal_type = input.kind.into();
    goal.target_minutes = input.target_minutes;
    goal.period = input.period.into();
    goal.status = input.status.into();
    goal.piece_ids = input
        .piece_ids
        .iter()
        .map(|id| EntityId::new(id.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| IpcError::invalid("pieceIds", err.to_string()))?;
    goal.piece_ids.dedup();
    goal.notes = text(input.notes);
    goal.target_date = text(input.target_date)
        .map(|t| parse_time("targetDate", &t))
        .transpose()?;
    goal.tags = input
        .tags
        .into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .fold(Vec::new(), |mut tags, tag| {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
            tags
        });
    let old = std::mem::take(&mut goal.milestones);
    for wanted in input.milestones {
        let title = wanted.title.trim().to_owned();
        if title.is_empty() {
            continue;
        }
        let kept = wanted
            .id
            .as_deref()
            .and_then(|id| old.iter().find(|m| m.id == id));
        let milestone = match kept {
            Some(kept) => {
                let mut m = kept.clone();
                m.title = title;
                m
            }
            None => {
                // Never an id a removed milestone had: another device may still hold it.
                let mut known = Goal::new(goal.id.clone(), "ids");
                known.milestones = old.iter().chain(&goal.milestones).cloned().collect();
                ModelMilestone::new(known.next_milestone_id(), title)
            }
        };
        let id = milestone.id.clone();
        goal.milestones.push(milestone);
        goal.set_milestone_done(&id, wanted.done, now);
    }
    Ok(())
}

/// The notification of a goal reached.
pub fn reached_note(progress: &StoreProgress) -> Note {
    let target = progress.target.unwrap_or_default();
    let how = match progress.unit {
        StoreUnit::Minutes => format!("{} of {target} minutes", progress.value),
        StoreUnit::Pieces => format!("{} of {target} pieces ready", progress.value),
        StoreUnit::Milestones => format!("all {target} milestones done"),
        StoreUnit::Count => format!("{} of {target}", progress.value),
    };
    Note {
        summary: "Legato: goal reached".to_owned(),
        body: format!("“{}” is at 100 % ({how}).", progress.title),
    }
}

/// Asks the store which goals have just been reached and notifies each once. Runs in the
/// background; call it after every change of the logbook, repertoire or goals.
pub fn check_reached(state: &AppState) {
    let store = state.store.clone();
    let notifier = state.notifier.clone();
    tauri::async_runtime::spawn(async move {
        let now_ms = Utc::now().timestamp_millis();
        let zone = TimeZone::system();
        match store
            .call(move |store| store.newly_reached_goals(now_ms, &zone))
            .await
        {
            Ok(reached) => {
                for goal in &reached {
                    tracing::info!(id = %goal.id, "goal reached");
                    notifier.send(reached_note(goal));
                }
            }
            Err(err) => tracing::warn!(%err, "cannot check goals for a notification"),
        }
    });
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use crate::ipc::types::MilestoneInput;

    fn input() -> GoalInput {
        GoalInput {
            title: " Recital ".into(),
            description: Some("".into()),
            kind: GoalKind::Custom,
            target_minutes: None,
            period: GoalPeriod::Total,
            status: GoalStatus::Active,
            piece_ids: vec!["p1".into(), "p1".into()],
            milestones: vec![
                MilestoneInput {
                    id: Some("m1".into()),
                    title: "Notes learnt".into(),
                    done: true,
                },
                MilestoneInput {
                    id: None,
                    title: "Memorised".into(),
                    done: false,
                },
                MilestoneInput {
                    id: None,
                    title: " ".into(),
                    done: false,
                },
            ],
            notes: None,
            target_date: Some("2026-12-24T18:00:00+01:00".into()),
            tags: vec![" x ".into(), "x".into()],
        }
    }

    #[test]
    fn input_keeps_milestones_by_id_and_numbers_new_ones() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 18, 30, 0).unwrap();
        let mut goal = Goal::new(EntityId::new("g1").unwrap(), "old");
        let mut kept = ModelMilestone::new("m1", "Notes");
        kept.extra
            .insert("x-colour".into(), serde_json::json!("red"));
        goal.milestones = vec![kept, ModelMilestone::new("m2", "Gone")];
        apply_input(&mut goal, input(), now).unwrap();
        assert_eq!(goal.title, "Recital");
        assert_eq!(goal.description, None);
        assert_eq!(goal.piece_ids.len(), 1);
        assert_eq!(goal.tags, ["x"]);
        assert_eq!(
            goal.target_date.map(|t| datetime::format(&t)).as_deref(),
            Some("2026-12-24T17:00:00.000Z")
        );
        let shape: Vec<_> = goal
            .milestones
            .iter()
            .map(|m| (m.id.as_str(), m.title.as_str(), m.done, m.done_at.is_some()))
            .collect();
        assert_eq!(
            shape,
            [
                ("m1", "Notes learnt", true, true),
                ("m3", "Memorised", false, false)
            ]
        );
        assert_eq!(goal.milestones[0].extra["x-colour"], "red");
    }

    #[test]
    fn the_note_says_which_goal_and_how_far() {
        let progress = StoreProgress {
            id: EntityId::new("g1").unwrap(),
            title: "30 minutes a day".into(),
            status: model::GoalStatus::Active,
            unit: StoreUnit::Minutes,
            value: 35,
            target: Some(30),
            window: None,
            logged_minutes: 35,
            counted: 0,
        };
        let note = reached_note(&progress);
        assert_eq!(note.summary, "Legato: goal reached");
        assert_eq!(
            note.body,
            "“30 minutes a day” is at 100 % (35 of 30 minutes)."
        );
        let view = progress_view(&progress);
        assert_eq!((view.percent, view.reached), (Some(100), true));
    }
}
