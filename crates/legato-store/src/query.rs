//! Reads for the UI. Deleted entities never appear here (only [`Store::get`] returns
//! tombstones, for the sync engine and conflict screens).
//!
//! Local days use a fixed UTC offset passed by the caller (the device's current offset):
//! an entry belongs to the local calendar day of its `timestamp` at that offset.

use chrono::{Datelike, NaiveDate};
use legato_protocol::{EntityId, EntityType, Fields};
use rusqlite::{Row, params};
use serde_json::Value;

use crate::entity::{parse_entity_type, parse_fields};
use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::time::{MS_PER_DAY, date_to_day, day_start_ms, day_to_date, local_day};

/// Where an entity stands with the server, for a badge in the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncState {
    /// The server has everything.
    Synced,
    /// Changes are waiting in the outbox.
    Pending,
    /// A change was refused for good and waits in the dead letters.
    Failed,
    /// A conflict waits for the user.
    Conflict,
}

/// One entity as the user sees it: its base overlaid with this device's unsettled changes.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalEntity {
    pub entity_type: EntityType,
    pub id: EntityId,
    pub state: Fields,
    pub deleted: bool,
    /// The server version the local state is based on (0: never acknowledged).
    pub base_version: u64,
    pub sync: SyncState,
}

impl LocalEntity {
    /// True while changes of this entity wait in the outbox.
    pub fn is_pending(&self) -> bool {
        self.sync == SyncState::Pending
    }
}

/// A logbook entry with its time and duration decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub id: EntityId,
    /// When the practice happened (ms since the epoch).
    pub timestamp_ms: i64,
    pub duration_minutes: u32,
    pub state: Fields,
    pub sync: SyncState,
}

/// The entries of one local day, newest first, and their total.
#[derive(Debug, Clone, PartialEq)]
pub struct DayGroup {
    pub date: NaiveDate,
    pub total_minutes: u64,
    pub entries: Vec<LogEntry>,
}

/// Practice minutes today, this ISO week (from Monday) and in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub today: u64,
    pub week: u64,
    pub all: u64,
}

/// The sync state of the row `e`, computed from the three tables that hold unsettled changes.
const SYNC_STATE: &str = "CASE
    WHEN EXISTS (SELECT 1 FROM conflicts c WHERE c.entity_type = e.entity_type AND c.entity_id = e.entity_id) THEN 3
    WHEN EXISTS (SELECT 1 FROM dead_letters d WHERE d.entity_type = e.entity_type AND d.entity_id = e.entity_id) THEN 2
    WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.entity_type = e.entity_type AND o.entity_id = e.entity_id) THEN 1
    ELSE 0 END";

fn sync_state(code: i64) -> SyncState {
    match code {
        3 => SyncState::Conflict,
        2 => SyncState::Failed,
        1 => SyncState::Pending,
        _ => SyncState::Synced,
    }
}

/// Columns read for an entity, in the order [`RawEntity::from_row`] expects.
fn entity_columns() -> String {
    format!(
        "e.entity_type, e.entity_id, e.state, e.deleted, e.base_version, {SYNC_STATE}, e.ts_ms, e.duration_min"
    )
}

struct RawEntity {
    entity_type: String,
    id: String,
    state: String,
    deleted: bool,
    base_version: u64,
    sync: i64,
    ts_ms: Option<i64>,
    duration_min: Option<i64>,
}

impl RawEntity {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawEntity {
            entity_type: row.get(0)?,
            id: row.get(1)?,
            state: row.get(2)?,
            deleted: row.get(3)?,
            base_version: row.get(4)?,
            sync: row.get(5)?,
            ts_ms: row.get(6)?,
            duration_min: row.get(7)?,
        })
    }

    fn into_entity(self) -> Result<LocalEntity> {
        Ok(LocalEntity {
            entity_type: parse_entity_type(&self.entity_type)?,
            id: EntityId::new(self.id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            state: parse_fields(&self.state)?,
            deleted: self.deleted,
            base_version: self.base_version,
            sync: sync_state(self.sync),
        })
    }

    fn into_entry(self) -> Result<LogEntry> {
        let timestamp_ms = self.ts_ms.unwrap_or_default();
        let duration_minutes = self
            .duration_min
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or_default();
        let entity = self.into_entity()?;
        Ok(LogEntry {
            id: entity.id,
            timestamp_ms,
            duration_minutes,
            state: entity.state,
            sync: entity.sync,
        })
    }
}

/// Escapes `%`, `_` and the escape character itself for `LIKE … ESCAPE '\'`.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    fn query_raw(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<RawEntity>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt
            .query_map(params, RawEntity::from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn query_entries(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<LogEntry>> {
        self.query_raw(sql, params)?
            .into_iter()
            .map(RawEntity::into_entry)
            .collect()
    }

    /// One entity, tombstones included.
    pub fn get(&self, entity_type: EntityType, id: &EntityId) -> Result<Option<LocalEntity>> {
        let sql = format!(
            "SELECT {} FROM entities e WHERE e.entity_type = ?1 AND e.entity_id = ?2",
            entity_columns()
        );
        self.query_raw(&sql, params![entity_type.as_str(), id.as_str()])?
            .pop()
            .map(RawEntity::into_entity)
            .transpose()
    }

    /// Every live entity of a type: logbook entries newest first, others in creation order.
    pub fn list(&self, entity_type: EntityType) -> Result<Vec<LocalEntity>> {
        let sql = format!(
            "SELECT {} FROM entities e WHERE e.entity_type = ?1 AND e.deleted = 0
             ORDER BY e.ts_ms DESC, e.rowid",
            entity_columns()
        );
        self.query_raw(&sql, [entity_type.as_str()])?
            .into_iter()
            .map(RawEntity::into_entity)
            .collect()
    }

    /// Logbook entries of the local days `from..=to`, grouped by day with daily totals;
    /// newest day first, newest entry first. Days without entries are left out.
    pub fn entries_by_day(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        utc_offset_minutes: i32,
    ) -> Result<Vec<DayGroup>> {
        let start = day_start_ms(date_to_day(from), utc_offset_minutes);
        let end = day_start_ms(date_to_day(to) + 1, utc_offset_minutes);
        let sql = format!(
            "SELECT {} FROM entities e
             WHERE e.entity_type = 'logbook' AND e.deleted = 0 AND e.ts_ms >= ?1 AND e.ts_ms < ?2
             ORDER BY e.ts_ms DESC, e.rowid DESC",
            entity_columns()
        );
        let mut groups: Vec<DayGroup> = Vec::new();
        for entry in self.query_entries(&sql, params![start, end])? {
            let date = day_to_date(local_day(entry.timestamp_ms, utc_offset_minutes));
            match groups.last_mut() {
                Some(group) if group.date == date => {
                    group.total_minutes += u64::from(entry.duration_minutes);
                    group.entries.push(entry);
                }
                _ => groups.push(DayGroup {
                    date,
                    total_minutes: u64::from(entry.duration_minutes),
                    entries: vec![entry],
                }),
            }
        }
        Ok(groups)
    }

    /// Logbook entries that practised a piece with this title (case-insensitive), newest
    /// first.
    pub fn entries_by_piece(&self, title: &str) -> Result<Vec<LogEntry>> {
        let wanted = title.trim().to_lowercase();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        // The derived search text narrows the rows; the exact title check is done here
        // because SQLite's lower() only folds ASCII.
        let candidates = self.search(&wanted)?;
        Ok(candidates
            .into_iter()
            .filter(|entry| has_piece(&entry.state, &wanted))
            .collect())
    }

    /// Logbook entries whose notes, piece titles or composers contain `text`
    /// (case-insensitive; `%` and `_` match themselves), newest first.
    pub fn search(&self, text: &str) -> Result<Vec<LogEntry>> {
        let needle = text.trim().to_lowercase();
        if needle.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM entities e
             WHERE e.entity_type = 'logbook' AND e.deleted = 0
               AND e.search_text LIKE ?1 ESCAPE '\\'
             ORDER BY e.ts_ms DESC, e.rowid DESC",
            entity_columns()
        );
        self.query_entries(&sql, [like_pattern(&needle)])
    }

    /// Live entities of any type whose text fields (repertoire: title, composer, notes;
    /// goals: title, description, notes; logbook: notes and pieces) contain `text`.
    pub fn search_in(&self, entity_type: EntityType, text: &str) -> Result<Vec<LocalEntity>> {
        let needle = text.trim().to_lowercase();
        if needle.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM entities e
             WHERE e.entity_type = ?1 AND e.deleted = 0 AND e.search_text LIKE ?2 ESCAPE '\\'
             ORDER BY e.ts_ms DESC, e.rowid",
            entity_columns()
        );
        self.query_raw(&sql, params![entity_type.as_str(), like_pattern(&needle)])?
            .into_iter()
            .map(RawEntity::into_entity)
            .collect()
    }

    /// Practice minutes today, this ISO week (Monday to Sunday, local) and in all.
    pub fn totals(&self, now_ms: i64, utc_offset_minutes: i32) -> Result<Totals> {
        let today = local_day(now_ms, utc_offset_minutes);
        let weekday = i64::from(day_to_date(today).weekday().num_days_from_monday());
        let day_start = day_start_ms(today, utc_offset_minutes);
        let week_start = day_start_ms(today - weekday, utc_offset_minutes);
        let (today, week, all) = self.conn.prepare_cached(
            "SELECT COALESCE(SUM(CASE WHEN ts_ms >= ?1 AND ts_ms < ?2 THEN duration_min END), 0),
                    COALESCE(SUM(CASE WHEN ts_ms >= ?3 AND ts_ms < ?4 THEN duration_min END), 0),
                    COALESCE(SUM(duration_min), 0)
             FROM entities WHERE entity_type = 'logbook' AND deleted = 0",
        )?
        .query_row(
            params![day_start, day_start + MS_PER_DAY, week_start, week_start + 7 * MS_PER_DAY],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?)),
        )?;
        let minutes = |m: i64| u64::try_from(m).unwrap_or_default();
        Ok(Totals {
            today: minutes(today),
            week: minutes(week),
            all: minutes(all),
        })
    }

    /// Consecutive local days with at least one entry, ending today — or ending yesterday
    /// while today has no entry yet (the streak is not broken before the day is over).
    pub fn streak(&self, now_ms: i64, utc_offset_minutes: i32) -> Result<u32> {
        let today = local_day(now_ms, utc_offset_minutes);
        let offset_ms = i64::from(utc_offset_minutes) * 60_000;
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT (ts_ms + ?1 - (((ts_ms + ?1) % ?2) + ?2) % ?2) / ?2 AS day
             FROM entities
             WHERE entity_type = 'logbook' AND deleted = 0 AND ts_ms < ?3
             ORDER BY day DESC",
        )?;
        let mut days = stmt.query(params![
            offset_ms,
            MS_PER_DAY,
            day_start_ms(today + 1, utc_offset_minutes)
        ])?;
        let mut expected = today;
        let mut streak = 0;
        while let Some(row) = days.next()? {
            let day: i64 = row.get(0)?;
            if streak == 0 && day == today - 1 {
                expected = day;
            }
            if day != expected {
                break;
            }
            streak += 1;
            expected -= 1;
        }
        Ok(streak)
    }
}

fn has_piece(state: &Fields, wanted_lowercase: &str) -> bool {
    state
        .get("pieces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("title").and_then(Value::as_str))
        .any(|t| t.trim().to_lowercase() == wanted_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("chopin"), "%chopin%");
    }
}
