//! Reads for the UI. Deleted entities never appear here (only [`Store::get`] returns
//! tombstones, for the sync engine and conflict screens).
//!
//! Local days use a fixed UTC offset passed by the caller (the device's current offset):
//! an entry belongs to the local calendar day of its `timestamp` at that offset.

use chrono::{Datelike, NaiveDate};
use legato_core::model::EntryType;
use legato_protocol::{EntityId, EntityType, Fields};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, params};
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

/// Which logbook entries [`Store::entries_matching`] returns. Every field is optional (a
/// blank text counts as absent); all given ones must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFilter {
    /// First local day (inclusive).
    pub from: Option<NaiveDate>,
    /// Last local day (inclusive).
    pub to: Option<NaiveDate>,
    /// The instrument, case-insensitive, whole value.
    pub instrument: Option<String>,
    /// The entry type (absent in the state counts as `practice`).
    pub entry_type: Option<EntryType>,
    /// Part of a piece title, case-insensitive.
    pub piece: Option<String>,
    /// A tag, case-insensitive, whole tag.
    pub tag: Option<String>,
    /// Text in the notes, piece titles or composers, case-insensitive (as [`Store::search`]).
    pub search: Option<String>,
    /// Only local days before this one (exclusive): the page after one that ended the day
    /// after it.
    pub before: Option<NaiveDate>,
    /// At most this many local days: the newest ones that have a matching entry (a day is
    /// never split). `Some(0)`: nothing.
    pub days: Option<u32>,
}

/// Trimmed, case-folded text; blank as `None`.
fn folded(text: Option<&str>) -> Option<String> {
    text.map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
}

/// The SQL function `legato_fold(x)`: Unicode lower case of a text (SQLite's `lower()` only
/// folds ASCII), `NULL` for anything else. Registered on every store connection.
pub(crate) fn register_functions(conn: &Connection) -> Result<()> {
    conn.create_scalar_function(
        "legato_fold",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Text(bytes) => Some(String::from_utf8_lossy(bytes).to_lowercase()),
                _ => None,
            })
        },
    )?;
    Ok(())
}

/// Groups entries (newest first) by the local day of their time, with daily totals.
fn group_by_day(entries: Vec<LogEntry>, utc_offset_minutes: i32) -> Vec<DayGroup> {
    let mut groups: Vec<DayGroup> = Vec::new();
    for entry in entries {
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
    groups
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

/// The conditions of [`Store::entries_matching`] on the row `e`: `?1`..`?2` the time range
/// (ms, end exclusive), then instrument, type, piece, tag (folded) and the search pattern
/// (`NULL`: no condition).
const MATCHING: &str =
    "e.entity_type = 'logbook' AND e.deleted = 0 AND e.ts_ms >= ?1 AND e.ts_ms < ?2
    AND (?3 IS NULL OR legato_fold(trim(json_extract(e.state, '$.instrument'))) = ?3)
    AND (?4 IS NULL OR coalesce(json_extract(e.state, '$.type'), 'practice') = ?4)
    AND (?5 IS NULL OR EXISTS (
         SELECT 1 FROM json_each(e.state, '$.pieces') p
         WHERE instr(legato_fold(json_extract(p.value, '$.title')), ?5) > 0))
    AND (?6 IS NULL OR EXISTS (
         SELECT 1 FROM json_each(e.state, '$.tags') t
         WHERE legato_fold(trim(t.value)) = ?6))
    AND (?7 IS NULL OR e.search_text LIKE ?7 ESCAPE '\\')";

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
        let entries = self.query_entries(&sql, params![start, end])?;
        Ok(group_by_day(entries, utc_offset_minutes))
    }

    /// Logbook entries matching `filter`, grouped by local day (at `utc_offset_minutes`, as
    /// [`Store::entries_by_day`]) with daily totals; newest day first, newest entry first.
    /// One SQL query: the day range is a range scan of the time index; instrument, type,
    /// piece and tag are read from the stored state (`json_each`), case-folded with
    /// Unicode rules; the free text goes through the derived search text.
    pub fn entries_matching(
        &self,
        filter: &EntryFilter,
        utc_offset_minutes: i32,
    ) -> Result<Vec<DayGroup>> {
        let mut start = filter.from.map_or(i64::MIN, |from| {
            day_start_ms(date_to_day(from), utc_offset_minutes)
        });
        let mut end = filter.to.map_or(i64::MAX, |to| {
            day_start_ms(date_to_day(to) + 1, utc_offset_minutes)
        });
        if let Some(before) = filter.before {
            end = end.min(day_start_ms(date_to_day(before), utc_offset_minutes));
        }
        let instrument = folded(filter.instrument.as_deref());
        let entry_type = filter.entry_type.map(EntryType::as_str);
        let piece = folded(filter.piece.as_deref());
        let tag = folded(filter.tag.as_deref());
        let search = folded(filter.search.as_deref()).map(|text| like_pattern(&text));
        if let Some(days) = filter.days {
            if days == 0 || start >= end {
                return Ok(Vec::new());
            }
            // The oldest day of the page: the `days`-th newest local day with a match (the
            // day of `e.ts_ms + offset`, floored). Fewer days: no lower bound to add.
            let sql = format!(
                "SELECT DISTINCT ((e.ts_ms + ?8) - (((e.ts_ms + ?8) % {MS_PER_DAY}) + {MS_PER_DAY}) % {MS_PER_DAY}) / {MS_PER_DAY} AS day
                 FROM entities e
                 WHERE {MATCHING}
                 ORDER BY day DESC LIMIT 1 OFFSET ?9"
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let oldest: Option<i64> = stmt
                .query_map(
                    params![
                        start,
                        end,
                        instrument,
                        entry_type,
                        piece,
                        tag,
                        search,
                        i64::from(utc_offset_minutes) * 60_000,
                        i64::from(days) - 1,
                    ],
                    |row| row.get(0),
                )?
                .next()
                .transpose()?;
            if let Some(day) = oldest {
                start = start.max(day_start_ms(day, utc_offset_minutes));
            }
        }
        let sql = format!(
            "SELECT {} FROM entities e
             WHERE {MATCHING}
             ORDER BY e.ts_ms DESC, e.rowid DESC",
            entity_columns()
        );
        let entries = self.query_entries(
            &sql,
            params![start, end, instrument, entry_type, piece, tag, search],
        )?;
        Ok(group_by_day(entries, utc_offset_minutes))
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
