//! Goal progress, computed from the logbook and the repertoire (PROTOCOL.md 1.3 is the one
//! goal model), and which goals have just been reached (for a notification, once).
//!
//! What a goal measures, by `type`:
//! - `practice_time`: minutes of logbook entries whose `timestamp` lies in the goal's current
//!   window, against `targetMinutes`. The window is the current local day, ISO week (from
//!   Monday) or calendar month in the user's IANA time zone (DST included: a window runs
//!   from one local midnight to another), or for `total` everything since the goal's `createdAt`.
//!   With `pieceIds`, only entries that practised one of those pieces (the match rule of
//!   [`crate::pieces`]) or that name the goal in their `goalIds` count. For `total` the
//!   `progress` counter adds on: minutes credited by hand (`$inc`, so additions made on
//!   several devices add up). The counter is not dated, so it belongs to no day, week or
//!   month: periodic goals leave it out.
//! - `repertoire`: the goal's pieces that are `polished` or `performed`, out of its
//!   (distinct) `pieceIds`.
//! - `custom`: its milestones done, out of all of them; without milestones the `progress`
//!   counter against `targetMinutes` (a count in the goal's own unit).
//!
//! A goal is reached when it has a positive target and the value is at least the target.
//! [`Store::newly_reached_goals`] remembers, per goal, the window it was last reached in
//! (in `meta`, this device only), so each reaching is reported once, whether the change that
//! made it came from this device or from another. Until a device's first catch-up finished
//! ([`Store::record_caught_up`]) with server pages applied, reachings are marked without
//! being reported, and that catch-up's end marks what is reached then: a new device does not
//! announce goals reached before it synced, only those an edit seen here takes over 100 %.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use legato_core::Goal;
use legato_core::model::{GoalPeriod, GoalStatus, GoalType};
use legato_protocol::{EntityId, EntityType};
use rusqlite::params;

use crate::error::{Result, StoreError};
use crate::pieces::matched_cte;
use crate::store::{Store, read_cursor, read_meta, write_meta, write_tx};

/// What a goal's value counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressUnit {
    Minutes,
    Pieces,
    Milestones,
    /// The `progress` counter of a custom goal.
    Count,
}

/// Where one goal stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalProgress {
    pub id: EntityId,
    pub title: String,
    pub status: GoalStatus,
    pub unit: ProgressUnit,
    /// What has been achieved, in `unit`.
    pub value: i64,
    /// What is aimed at, in `unit`; `None` when the goal has no target.
    pub target: Option<i64>,
    /// The window counted (ms, end exclusive): periodic and `total` practice goals.
    pub window: Option<(i64, i64)>,
    /// Of `value`: minutes from the logbook (practice goals).
    pub logged_minutes: i64,
    /// Of `value`: the `progress` counter, where it counts.
    pub counted: i64,
}

impl GoalProgress {
    /// Whole percent of the target, capped at 100; `None` without a target.
    pub fn percent(&self) -> Option<u8> {
        let target = self.target.filter(|t| *t > 0)?;
        let percent = (i128::from(self.value.max(0)) * 100 / i128::from(target)).min(100);
        Some(u8::try_from(percent).unwrap_or(100))
    }

    pub fn reached(&self) -> bool {
        self.target.is_some_and(|t| t > 0 && self.value >= t)
    }

    /// The mark of the reaching: one per window (`total` and non-time goals have one).
    fn reach_mark(&self) -> String {
        match self.window {
            Some((start, _)) if self.unit == ProgressUnit::Minutes => format!("from:{start}"),
            _ => "once".to_owned(),
        }
    }
}

/// A `now` so far from today that the calendar cannot hold its window.
fn time_error(err: jiff::Error) -> StoreError {
    StoreError::Validation(legato_core::ValidationError::new(
        "now",
        format!("outside the calendar: {err}"),
    ))
}

/// The instant (ms) local `date` starts in `zone`: its midnight, or the first instant after
/// a DST gap that swallows midnight.
fn day_start(date: Date, zone: &TimeZone) -> Result<i64> {
    Ok(date
        .to_zoned_datetime(zone.clone())
        .map_err(time_error)?
        .timestamp()
        .as_millisecond())
}

/// The current window of a periodic goal (ms, end exclusive) in `zone`: from one local
/// midnight to the next day's, week's (Monday) or month's.
pub fn period_window(period: GoalPeriod, now_ms: i64, zone: &TimeZone) -> Result<(i64, i64)> {
    let now = Timestamp::from_millisecond(now_ms).map_err(time_error)?;
    let today = now.to_zoned_datetime(zone.clone()).date();
    let (first, next) = match period {
        GoalPeriod::Day => (today, today.tomorrow().map_err(time_error)?),
        GoalPeriod::Week => {
            let monday = today
                .checked_sub(i64::from(today.weekday().to_monday_zero_offset()).days())
                .map_err(time_error)?;
            (monday, monday.checked_add(7.days()).map_err(time_error)?)
        }
        GoalPeriod::Month => {
            let first = today.first_of_month();
            (first, first.checked_add(1.month()).map_err(time_error)?)
        }
        GoalPeriod::Total => return Ok((i64::MIN, i64::MAX)),
    };
    Ok((day_start(first, zone)?, day_start(next, zone)?))
}

impl Store {
    /// The progress of every live goal, oldest first, at `now_ms` in time zone `tz`. A goal
    /// whose state does not read is left out (logged).
    pub fn goal_progress(&self, now_ms: i64, zone: &TimeZone) -> Result<Vec<GoalProgress>> {
        let mut out = Vec::new();
        for entity in self.list(EntityType::Goals)? {
            let goal = match Goal::from_fields(entity.id.clone(), &entity.state) {
                Ok(goal) => goal,
                Err(err) => {
                    tracing::warn!(id = %entity.id, %err, "skipping a goal that does not read");
                    continue;
                }
            };
            out.push(self.progress_of(&goal, now_ms, zone)?);
        }
        Ok(out)
    }

    /// The progress of one goal (see [`Store::goal_progress`]); `None` if there is no live
    /// goal `id`.
    pub fn goal_progress_of(
        &self,
        id: &EntityId,
        now_ms: i64,
        zone: &TimeZone,
    ) -> Result<Option<GoalProgress>> {
        match self.load::<Goal>(id)? {
            Some(goal) => Ok(Some(self.progress_of(&goal, now_ms, zone)?)),
            None => Ok(None),
        }
    }

    fn progress_of(&self, goal: &Goal, now_ms: i64, zone: &TimeZone) -> Result<GoalProgress> {
        let mut progress = GoalProgress {
            id: goal.id.clone(),
            title: goal.title.clone(),
            status: goal.status,
            unit: ProgressUnit::Count,
            value: 0,
            target: goal.target_minutes,
            window: None,
            logged_minutes: 0,
            counted: 0,
        };
        match goal.goal_type {
            GoalType::PracticeTime => {
                let window = match goal.period {
                    GoalPeriod::Total => (
                        goal.created_at.map_or(i64::MIN, |t| t.timestamp_millis()),
                        i64::MAX,
                    ),
                    period => period_window(period, now_ms, zone)?,
                };
                let logged = self.minutes_for(goal, window)?;
                let counted = if goal.period == GoalPeriod::Total {
                    goal.progress
                } else {
                    0
                };
                progress.unit = ProgressUnit::Minutes;
                progress.window = Some(window);
                progress.logged_minutes = logged;
                progress.counted = counted;
                progress.value = logged.saturating_add(counted);
            }
            GoalType::Repertoire => {
                let ids = ids_json(&goal.piece_ids);
                let (distinct, done): (i64, i64) = self
                    .conn
                    .prepare_cached(
                        "SELECT (SELECT COUNT(DISTINCT value) FROM json_each(?1)),
                            (SELECT COUNT(*) FROM entities
                             WHERE entity_type = 'repertoire' AND deleted = 0
                               AND entity_id IN (SELECT value FROM json_each(?1))
                               AND json_extract(state, '$.status') IN ('polished', 'performed'))",
                    )?
                    .query_row([ids], |row| Ok((row.get(0)?, row.get(1)?)))?;
                progress.unit = ProgressUnit::Pieces;
                progress.value = done;
                progress.target = Some(distinct).filter(|n| *n > 0);
            }
            GoalType::Custom if !goal.milestones.is_empty() => {
                progress.unit = ProgressUnit::Milestones;
                progress.value = goal.milestones.iter().filter(|m| m.done).count() as i64;
                progress.target = Some(goal.milestones.len() as i64);
            }
            GoalType::Custom => {
                progress.value = goal.progress;
                progress.counted = goal.progress;
            }
        }
        Ok(progress)
    }

    /// Logged minutes in `window` that count for practice goal `goal`.
    fn minutes_for(&self, goal: &Goal, (start, end): (i64, i64)) -> Result<i64> {
        if goal.piece_ids.is_empty() {
            let minutes = self
                .conn
                .prepare_cached(
                    "SELECT COALESCE(SUM(duration_min), 0) FROM entities
                     WHERE entity_type = 'logbook' AND deleted = 0 AND ts_ms >= ?1 AND ts_ms < ?2",
                )?
                .query_row(params![start, end], |row| row.get(0))?;
            return Ok(minutes);
        }
        let sql = format!(
            "WITH {}
             SELECT COALESCE(SUM(mins), 0) FROM (
                SELECT eid, mins FROM matched WHERE rid IN (SELECT value FROM json_each(?3))
                UNION
                SELECT e.entity_id, e.duration_min FROM entities e
                WHERE e.entity_type = 'logbook' AND e.deleted = 0
                  AND e.ts_ms >= ?1 AND e.ts_ms < ?2
                  AND EXISTS (SELECT 1 FROM json_each(e.state, '$.goalIds') g WHERE g.value = ?4))",
            matched_cte("e.ts_ms >= ?1 AND e.ts_ms < ?2")
        );
        let minutes = self.conn.prepare_cached(&sql)?.query_row(
            params![start, end, ids_json(&goal.piece_ids), goal.id.as_str()],
            |row| row.get(0),
        )?;
        Ok(minutes)
    }

    /// The active goals reached now that were not reported reached in their current window
    /// yet; each is marked reported (this device only) in the same transaction. Call it after
    /// every change of the logbook, repertoire or goals, local or synced.
    pub fn newly_reached_goals(
        &mut self,
        now_ms: i64,
        zone: &TimeZone,
    ) -> Result<Vec<GoalProgress>> {
        let reached: Vec<GoalProgress> = self
            .goal_progress(now_ms, zone)?
            .into_iter()
            .filter(|g| g.status == GoalStatus::Active && g.reached())
            .collect();
        if reached.is_empty() {
            return Ok(reached);
        }
        let tx = write_tx(&mut self.conn)?;
        // A device in its first catch-up (it has applied server pages but not finished a
        // catch-up yet) only learns of reachings made elsewhere before it synced: they are
        // marked reported without a notification. A device that never received anything
        // (cursor 0) reaches goals only by its own edits.
        let silent = read_cursor(&tx)? > 0 && read_meta(&tx, CAUGHT_UP_KEY)?.is_none();
        let mut fresh = Vec::new();
        for goal in reached {
            let key = format!("goal-reached:{}", goal.id);
            let mark = goal.reach_mark();
            if read_meta(&tx, &key)?.as_deref() != Some(mark.as_str()) {
                write_meta(&tx, &key, &mark)?;
                if !silent {
                    fresh.push(goal);
                }
            }
        }
        tx.commit()?;
        Ok(fresh)
    }
}

/// Set when this device finished its first catch-up ([`Store::record_caught_up`]).
const CAUGHT_UP_KEY: &str = "first-catch-up-done";

impl Store {
    /// Records that a catch-up has finished (the sync engine calls it on `sync_complete`).
    /// The first time, every goal reached now is marked reported without a notification (in
    /// the same transaction): it was reached before this device synced, and a check for an
    /// earlier page that runs only now must not announce it. From then on a goal reached by
    /// a synced change is reported by [`Store::newly_reached_goals`].
    pub fn record_caught_up(&mut self, now_ms: i64, zone: &TimeZone) -> Result<()> {
        if read_meta(&self.conn, CAUGHT_UP_KEY)?.is_some() {
            return Ok(());
        }
        let reached: Vec<GoalProgress> = self
            .goal_progress(now_ms, zone)?
            .into_iter()
            .filter(|g| g.status == GoalStatus::Active && g.reached())
            .collect();
        let tx = write_tx(&mut self.conn)?;
        for goal in reached {
            write_meta(
                &tx,
                &format!("goal-reached:{}", goal.id),
                &goal.reach_mark(),
            )?;
        }
        write_meta(&tx, CAUGHT_UP_KEY, "1")?;
        tx.commit()?;
        Ok(())
    }
}

fn ids_json(ids: &[EntityId]) -> String {
    serde_json::Value::Array(
        ids.iter()
            .map(|id| serde_json::Value::String(id.to_string()))
            .collect(),
    )
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn windows_follow_the_local_calendar() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        // Sunday 2025-11-30 23:30 in Paris is still November and that ISO week.
        let now = ms("2025-11-30T22:30:00Z");
        assert_eq!(
            period_window(GoalPeriod::Day, now, &paris).unwrap(),
            (ms("2025-11-29T23:00:00Z"), ms("2025-11-30T23:00:00Z"))
        );
        assert_eq!(
            period_window(GoalPeriod::Week, now, &paris).unwrap(),
            (ms("2025-11-23T23:00:00Z"), ms("2025-11-30T23:00:00Z"))
        );
        assert_eq!(
            period_window(GoalPeriod::Month, now, &paris).unwrap(),
            (ms("2025-10-31T23:00:00Z"), ms("2025-11-30T23:00:00Z"))
        );
        assert_eq!(
            period_window(GoalPeriod::Total, now, &paris).unwrap(),
            (i64::MIN, i64::MAX)
        );
    }

    #[test]
    fn windows_across_dst_are_local_midnight_to_midnight() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // The week of 2026-03-29 (clocks go forward that Sunday): Monday 23, 00:00 CET, to
        // Monday 30, 00:00 CEST: 167 hours.
        let (start, end) =
            period_window(GoalPeriod::Week, ms("2026-03-29T21:30:00Z"), &berlin).unwrap();
        assert_eq!(start, ms("2026-03-22T23:00:00Z"));
        assert_eq!(end, ms("2026-03-29T22:00:00Z"));
        assert_eq!((end - start) / 3_600_000, 167);
        // The day the clocks go back is 25 hours long.
        let (start, end) =
            period_window(GoalPeriod::Day, ms("2026-10-25T12:00:00Z"), &berlin).unwrap();
        assert_eq!(start, ms("2026-10-24T22:00:00Z"));
        assert_eq!(end - start, 25 * 3_600_000);
        // A zone whose midnight is skipped (Santiago, 2026-09-06 00:00 -> 01:00): the day
        // starts at the first instant that exists.
        let santiago = TimeZone::get("America/Santiago").unwrap();
        let (start, _) =
            period_window(GoalPeriod::Day, ms("2026-09-06T15:00:00Z"), &santiago).unwrap();
        assert_eq!(start, ms("2026-09-06T04:00:00Z"));
    }

    #[test]
    fn percent_is_whole_and_capped() {
        let mut p = GoalProgress {
            id: EntityId::new("g").unwrap(),
            title: "g".into(),
            status: GoalStatus::Active,
            unit: ProgressUnit::Minutes,
            value: 29,
            target: Some(30),
            window: None,
            logged_minutes: 29,
            counted: 0,
        };
        assert_eq!(p.percent(), Some(96));
        assert!(!p.reached());
        p.value = 45;
        assert_eq!(p.percent(), Some(100));
        assert!(p.reached());
        p.target = Some(0);
        assert_eq!(p.percent(), None);
        assert!(!p.reached());
        p.target = Some(10);
        p.value = -5;
        assert_eq!(p.percent(), Some(0));
    }
}
