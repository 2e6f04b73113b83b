//! The statistics screen's figures, computed in SQL over the live logbook entries.
//!
//! **Local days in a real time zone.** An entry belongs to the local calendar day of its
//! `timestamp` in the user's IANA zone (`jiff::tz::TimeZone`), with that day's own UTC
//! offset: DST changes move neither an evening session to the next day nor a day's start.
//! The caller passes the zone and `now` (the store reads no clock). Rust turns calendar
//! periods (a day, an ISO week from Monday, a month, a year) into UTC instant ranges with
//! the zone's rules, and the zone's offset history over a time range into *segments*
//! (`[from, to)` with one offset each); SQL does the rest: it sums and counts entries per
//! range (a range scan of the partial time index), and maps each entry to its local day
//! through the segment that holds its instant (streaks, heatmap).
//!
//! What the figures mean:
//! - **Totals**: minutes and sessions today, this ISO week, this month, in all.
//! - **Streaks**: the current streak (consecutive local days with practice ending today,
//!   or yesterday while today has none yet: a day is not lost before it is over), the
//!   longest streak ever (with its first and last day), and the *practice days*, the
//!   number of days with practice, which a missed day does not reset. Entries after today
//!   (future-dated) count in no streak.
//! - **Heatmap**: minutes per local day of one calendar year (days without practice left
//!   out).
//! - **Trend**: minutes per day (the last [`TREND_DAYS`] days), week ([`TREND_WEEKS`]) or
//!   month ([`TREND_MONTHS`]), oldest first, each with the trailing moving average over
//!   [`TrendUnit::window`] buckets (the buckets before the shown range count too; a bucket
//!   without practice counts as 0).
//! - **Distribution** over a period: minutes and sessions by instrument, entry type
//!   (absent: `practice`), piece and composer. An entry with several pieces splits its
//!   minutes evenly between them (so the pieces add up to the practised time); pieces are
//!   grouped by case-folded title, composers by case-folded name. The [`DISTRIBUTION_TOP`]
//!   largest groups are listed; the rest is summed as `other`.
//! - **Comparisons**: this week and this month against the previous one, in full and up to
//!   the same point (the previous period until the same local time one week / one month
//!   ago).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, ZonedDateTime};
use rusqlite::params;
use serde_json::json;

use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::time::MS_PER_DAY;

/// Days in the daily trend.
pub const TREND_DAYS: usize = 30;
/// Weeks in the weekly trend.
pub const TREND_WEEKS: usize = 26;
/// Months in the monthly trend.
pub const TREND_MONTHS: usize = 12;
/// Groups listed per distribution before the rest is summed as `other`.
pub const DISTRIBUTION_TOP: usize = 8;

/// The bucket size of the trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TrendUnit {
    #[default]
    Day,
    Week,
    Month,
}

impl TrendUnit {
    /// Buckets shown.
    pub fn buckets(self) -> usize {
        match self {
            TrendUnit::Day => TREND_DAYS,
            TrendUnit::Week => TREND_WEEKS,
            TrendUnit::Month => TREND_MONTHS,
        }
    }

    /// Buckets in the moving average (the bucket itself and the ones before it).
    pub fn window(self) -> usize {
        match self {
            TrendUnit::Day => 7,
            TrendUnit::Week => 4,
            TrendUnit::Month => 3,
        }
    }
}

/// The period a distribution covers (the current one, up to its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StatsPeriod {
    Week,
    Month,
    Year,
    #[default]
    All,
}

/// What [`Store::statistics`] computes.
#[derive(Debug, Clone)]
pub struct StatsQuery {
    /// Now (ms since the epoch): "today" and the current periods.
    pub now_ms: i64,
    /// The user's time zone: local days and periods.
    pub zone: TimeZone,
    pub trend: TrendUnit,
    /// The heatmap's calendar year (`None`: the current one).
    pub heatmap_year: Option<i16>,
    pub distribution: StatsPeriod,
}

/// Minutes and sessions (entries) of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Amount {
    pub minutes: u64,
    pub sessions: u64,
}

/// Totals of the current periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatTotals {
    pub today: Amount,
    /// This ISO week, Monday to Sunday.
    pub week: Amount,
    pub month: Amount,
    pub all: Amount,
}

/// Consecutive days with practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Streaks {
    /// Ending today, or yesterday while today has no entry yet.
    pub current: u32,
    pub longest: u32,
    /// First and last day of the longest streak (the most recent one of that length).
    pub longest_span: Option<(Date, Date)>,
    /// Days with practice in all, up to today: a missed day does not reset it.
    pub practice_days: u32,
}

/// Minutes on one local day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayMinutes {
    pub date: Date,
    pub minutes: u64,
}

/// One calendar year, day by day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heatmap {
    pub year: i16,
    /// Days with practice, in order.
    pub days: Vec<DayMinutes>,
    /// The most minutes on one day of the year (0: none).
    pub max_minutes: u64,
}

/// One bucket of the trend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendPoint {
    /// The bucket's first local day (a Monday for weeks, the 1st for months).
    pub start: Date,
    pub minutes: u64,
    pub sessions: u64,
    /// Mean minutes of this bucket and the [`TrendUnit::window`]` - 1` before it.
    pub moving_average: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    pub unit: TrendUnit,
    pub window: usize,
    /// Oldest first; the last one is the current bucket.
    pub points: Vec<TrendPoint>,
}

/// One group of a distribution. `label` is `None` for entries without the value (no
/// instrument, a piece without composer).
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub label: Option<String>,
    /// Fractional where an entry's minutes are split between its pieces.
    pub minutes: f64,
    pub sessions: u64,
}

/// The largest groups and what the others add up to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Breakdown {
    pub top: Vec<Share>,
    /// Minutes and group count beyond [`DISTRIBUTION_TOP`].
    pub other_minutes: f64,
    pub other_groups: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Distribution {
    pub period: StatsPeriod,
    /// Minutes and sessions in the period (the share base).
    pub total: Amount,
    pub instruments: Breakdown,
    pub types: Breakdown,
    pub pieces: Breakdown,
    pub composers: Breakdown,
}

/// A current period against the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Comparison {
    pub current: Amount,
    /// The whole previous period.
    pub previous: Amount,
    /// The previous period up to the same point (same local time one period ago).
    pub previous_to_date: Amount,
}

/// Everything the statistics screen shows, from one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    pub today: Date,
    pub totals: StatTotals,
    pub streaks: Streaks,
    pub heatmap: Heatmap,
    pub trend: Trend,
    pub distribution: Distribution,
    pub week_over_week: Comparison,
    pub month_over_month: Comparison,
}

/// The totals and streaks alone (the logbook's summary strip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub totals: StatTotals,
    pub streaks: Streaks,
}

fn time_error(err: jiff::Error) -> StoreError {
    StoreError::TimeOutOfRange(err.to_string())
}

fn timestamp(ms: i64) -> Result<Timestamp> {
    Timestamp::from_millisecond(ms).map_err(time_error)
}

/// The UTC instant (ms) at which local day `date` starts in `zone` (where midnight does not
/// exist, the first instant of the day).
fn day_start(date: Date, zone: &TimeZone) -> Result<i64> {
    Ok(date
        .to_zoned_datetime(zone.clone())
        .map_err(time_error)?
        .timestamp()
        .as_millisecond())
}

/// The day number (days since 1970-01-01) of a civil date, as SQL computes it.
fn day_number(date: Date) -> Result<i64> {
    Ok(day_start(date, &TimeZone::UTC)?.div_euclid(MS_PER_DAY))
}

fn date_of_day_number(day: i64) -> Result<Date> {
    Ok(timestamp(day * MS_PER_DAY)?
        .to_zoned_datetime(TimeZone::UTC)
        .date())
}

fn add_days(date: Date, days: i64) -> Result<Date> {
    date.checked_add(days.days()).map_err(time_error)
}

fn add_months(date: Date, months: i64) -> Result<Date> {
    date.checked_add(months.months()).map_err(time_error)
}

fn monday_of(date: Date) -> Result<Date> {
    add_days(date, -i64::from(date.weekday().to_monday_zero_offset()))
}

/// The offset history of `zone` over `[from, to)` as a JSON array of `[from, to, offset]`
/// (ms), for the SQL that maps instants to local days.
fn segments(zone: &TimeZone, from: i64, to: i64) -> Result<String> {
    let mut out = Vec::new();
    let mut start = from;
    let mut offset = i64::from(zone.to_offset(timestamp(from)?).seconds()) * 1000;
    for transition in zone.following(timestamp(from)?) {
        let at = transition.timestamp().as_millisecond();
        if at >= to {
            break;
        }
        out.push(json!([start, at, offset]));
        start = at;
        offset = i64::from(transition.offset().seconds()) * 1000;
    }
    out.push(json!([start, to, offset]));
    Ok(serde_json::Value::Array(out).to_string())
}

/// The partial index on the live entries' `(ts_ms, duration_min)`, named: without table
/// statistics (the store runs no `ANALYZE`) SQLite prefers the primary key's
/// `entity_type = ?` for these queries, which reads every logbook row of the table (250
/// times slower here, see `benches/statistics.rs`).
const TIME_INDEX: &str = "INDEXED BY entities_logbook_time";

/// Live logbook entries, each with its local day (`day`, days since 1970-01-01) through the
/// segments in `?1`; a CTE named `local`. `CROSS JOIN` keeps the segments the outer loop:
/// each is one range scan of the time index.
const LOCAL_DAYS: &str = "
    seg(lo, hi, off) AS (SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1)),
    local(day, minutes) AS (
        SELECT (e.ts_ms + s.off - (((e.ts_ms + s.off) % 86400000) + 86400000) % 86400000) / 86400000,
               e.duration_min
        FROM seg s CROSS JOIN entities e INDEXED BY entities_logbook_time
        WHERE e.entity_type = 'logbook' AND e.deleted = 0 AND e.ts_ms >= s.lo AND e.ts_ms < s.hi)";

fn amount(minutes: i64, sessions: i64) -> Amount {
    Amount {
        minutes: u64::try_from(minutes).unwrap_or_default(),
        sessions: u64::try_from(sessions).unwrap_or_default(),
    }
}

/// The local calendar around `now`: today and the start instants of the current periods.
struct Calendar {
    zone: TimeZone,
    now: ZonedDateTime,
    today: Date,
}

impl Calendar {
    fn new(now_ms: i64, zone: &TimeZone) -> Result<Self> {
        let now = timestamp(now_ms)?.to_zoned_datetime(zone.clone());
        Ok(Calendar {
            zone: zone.clone(),
            today: now.date(),
            now,
        })
    }

    fn start(&self, date: Date) -> Result<i64> {
        day_start(date, &self.zone)
    }

    /// `[start, end)` of the current day, week, month or year.
    fn period(&self, period: StatsPeriod) -> Result<(i64, i64)> {
        let (first, next) = match period {
            StatsPeriod::Week => {
                let monday = monday_of(self.today)?;
                (monday, add_days(monday, 7)?)
            }
            StatsPeriod::Month => {
                let first = self.today.first_of_month();
                (first, add_months(first, 1)?)
            }
            StatsPeriod::Year => {
                let first = self.today.first_of_year();
                (first, add_months(first, 12)?)
            }
            StatsPeriod::All => return Ok((i64::MIN, i64::MAX)),
        };
        Ok((self.start(first)?, self.start(next)?))
    }

    fn today_range(&self) -> Result<(i64, i64)> {
        Ok((
            self.start(self.today)?,
            self.start(add_days(self.today, 1)?)?,
        ))
    }
}

impl Store {
    fn range_amount(&self, from: i64, to: i64) -> Result<Amount> {
        Ok(self.amounts(&[(from, to)])?[0])
    }

    /// Several ranges' minutes and sessions in one scan of the time index.
    fn amounts(&self, ranges: &[(i64, i64)]) -> Result<Vec<Amount>> {
        let sums: Vec<String> = (0..ranges.len())
            .map(|i| {
                let (lo, hi) = (2 * i + 1, 2 * i + 2);
                format!(
                    "COALESCE(SUM(CASE WHEN ts_ms >= ?{lo} AND ts_ms < ?{hi} THEN duration_min END), 0),
                     COUNT(CASE WHEN ts_ms >= ?{lo} AND ts_ms < ?{hi} THEN 1 END)"
                )
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM entities {TIME_INDEX} WHERE entity_type = 'logbook' AND deleted = 0",
            sums.join(", ")
        );
        let values: Vec<i64> = ranges.iter().flat_map(|&(lo, hi)| [lo, hi]).collect();
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let row = stmt.query_row(rusqlite::params_from_iter(values), |row| {
            (0..ranges.len())
                .map(|i| Ok(amount(row.get(2 * i)?, row.get(2 * i + 1)?)))
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        Ok(row)
    }

    /// The first and last instant of the live entries (`None`: no entries).
    fn entry_time_range(&self) -> Result<Option<(i64, i64)>> {
        let range: (Option<i64>, Option<i64>) = self
            .conn
            .prepare_cached(
                "SELECT MIN(ts_ms), MAX(ts_ms) FROM entities INDEXED BY entities_logbook_time
                 WHERE entity_type = 'logbook' AND deleted = 0",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(match range {
            (Some(first), Some(last)) => Some((first, last)),
            _ => None,
        })
    }

    fn stat_totals(&self, calendar: &Calendar) -> Result<StatTotals> {
        let amounts = self.amounts(&[
            calendar.today_range()?,
            calendar.period(StatsPeriod::Week)?,
            calendar.period(StatsPeriod::Month)?,
            (i64::MIN, i64::MAX),
        ])?;
        Ok(StatTotals {
            today: amounts[0],
            week: amounts[1],
            month: amounts[2],
            all: amounts[3],
        })
    }

    fn streaks(&self, calendar: &Calendar) -> Result<Streaks> {
        let tomorrow = calendar.start(add_days(calendar.today, 1)?)?;
        let Some((first, _)) = self.entry_time_range()? else {
            return Ok(Streaks::default());
        };
        if first >= tomorrow {
            return Ok(Streaks::default());
        }
        let today = day_number(calendar.today)?;
        // Gaps and islands: consecutive days share `day - row_number()`.
        let sql = format!(
            "WITH {LOCAL_DAYS},
             days AS (SELECT DISTINCT day FROM local),
             runs AS (SELECT MIN(day) AS first, MAX(day) AS last, COUNT(*) AS len
                      FROM (SELECT day, day - ROW_NUMBER() OVER (ORDER BY day) AS run FROM days)
                      GROUP BY run)
             SELECT (SELECT COUNT(*) FROM days),
                    COALESCE((SELECT len FROM runs WHERE last >= ?2 - 1), 0),
                    longest.len, longest.first, longest.last
             FROM (SELECT 1) LEFT JOIN
                  (SELECT len, first, last FROM runs ORDER BY len DESC, last DESC LIMIT 1) longest"
        );
        let segs = segments(&calendar.zone, first, tomorrow)?;
        let (days, current, longest, from, to): (i64, i64, Option<i64>, Option<i64>, Option<i64>) =
            self.conn
                .prepare_cached(&sql)?
                .query_row(params![segs, today], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?;
        let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Streaks {
            current: count(current),
            longest: count(longest.unwrap_or_default()),
            longest_span: match (from, to) {
                (Some(from), Some(to)) => {
                    Some((date_of_day_number(from)?, date_of_day_number(to)?))
                }
                _ => None,
            },
            practice_days: count(days),
        })
    }

    fn heatmap(&self, calendar: &Calendar, year: i16) -> Result<Heatmap> {
        let first = Date::new(year, 1, 1).map_err(time_error)?;
        let (from, to) = (
            calendar.start(first)?,
            calendar.start(add_months(first, 12)?)?,
        );
        let sql = format!(
            "WITH {LOCAL_DAYS}
             SELECT day, SUM(minutes) FROM local GROUP BY day ORDER BY day"
        );
        let segs = segments(&calendar.zone, from, to)?;
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map([segs], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let days = rows
            .into_iter()
            .map(|(day, minutes)| {
                Ok(DayMinutes {
                    date: date_of_day_number(day)?,
                    minutes: u64::try_from(minutes).unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let max_minutes = days.iter().map(|d| d.minutes).max().unwrap_or_default();
        Ok(Heatmap {
            year,
            days,
            max_minutes,
        })
    }

    fn trend(&self, calendar: &Calendar, unit: TrendUnit) -> Result<Trend> {
        let (shown, window) = (unit.buckets(), unit.window());
        let count = shown + window - 1;
        let current = match unit {
            TrendUnit::Day => calendar.today,
            TrendUnit::Week => monday_of(calendar.today)?,
            TrendUnit::Month => calendar.today.first_of_month(),
        };
        let step = |date: Date, n: i64| match unit {
            TrendUnit::Day => add_days(date, n),
            TrendUnit::Week => add_days(date, 7 * n),
            TrendUnit::Month => add_months(date, n),
        };
        // Buckets oldest first: [first day, from, to), the warm-up of the average included.
        let mut buckets = Vec::with_capacity(count);
        let mut starts = Vec::with_capacity(count);
        for i in 0..count {
            let back = i64::try_from(count - 1 - i).unwrap_or_default();
            let first = step(current, -back)?;
            let next = step(first, 1)?;
            starts.push(first);
            buckets.push(json!([calendar.start(first)?, calendar.start(next)?]));
        }
        // The frame size is a constant of the unit (SQLite wants a literal there).
        let sql = format!(
            "WITH b(i, lo, hi) AS (SELECT key, value ->> 0, value ->> 1 FROM json_each(?1)),
             t AS (SELECT i,
                          (SELECT COALESCE(SUM(duration_min), 0) FROM entities {TIME_INDEX}
                           WHERE entity_type = 'logbook' AND deleted = 0
                             AND ts_ms >= b.lo AND ts_ms < b.hi) AS minutes,
                          (SELECT COUNT(*) FROM entities {TIME_INDEX}
                           WHERE entity_type = 'logbook' AND deleted = 0
                             AND ts_ms >= b.lo AND ts_ms < b.hi) AS sessions
                   FROM b),
             m AS (SELECT i, minutes, sessions,
                          AVG(minutes) OVER (ORDER BY i ROWS BETWEEN {} PRECEDING AND CURRENT ROW) AS avg
                   FROM t)
             SELECT i, minutes, sessions, avg FROM m WHERE i >= ?2 ORDER BY i",
            window - 1
        );
        let buckets = serde_json::Value::Array(buckets).to_string();
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(
                params![buckets, i64::try_from(window - 1).unwrap_or_default()],
                |r| {
                    Ok((
                        r.get::<_, usize>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, f64>(3)?,
                    ))
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let points = rows
            .into_iter()
            .map(|(i, minutes, sessions, moving_average)| {
                let Amount { minutes, sessions } = amount(minutes, sessions);
                TrendPoint {
                    start: starts[i],
                    minutes,
                    sessions,
                    moving_average,
                }
            })
            .collect();
        Ok(Trend {
            unit,
            window,
            points,
        })
    }

    fn distribution(&self, calendar: &Calendar, period: StatsPeriod) -> Result<Distribution> {
        let (from, to) = calendar.period(period)?;
        // One pass over the period's entries: each state is parsed once (`f`), its pieces
        // once more (`p`, an entry's minutes split evenly between them). Titles and
        // composers group case-folded (Unicode); instruments are lowercase by the protocol
        // and types an enumeration.
        // A bounded period is a range of the time index; all of it, a scan of the table.
        let hint = if period == StatsPeriod::All {
            ""
        } else {
            TIME_INDEX
        };
        let sql = format!(
            "
            WITH f AS MATERIALIZED (
                SELECT e.rowid AS session, e.duration_min AS minutes,
                       NULLIF(trim(e.state ->> '$.instrument'), '') AS instrument,
                       COALESCE(e.state ->> '$.type', 'practice') AS type,
                       e.state -> '$.pieces' AS pieces
                FROM entities e {hint}
                WHERE e.entity_type = 'logbook' AND e.deleted = 0
                  AND e.ts_ms >= ?1 AND e.ts_ms < ?2),
            p AS MATERIALIZED (
                SELECT f.session, f.minutes * 1.0 / json_array_length(f.pieces) AS minutes,
                       trim(j.value ->> '$.title') AS title,
                       NULLIF(trim(j.value ->> '$.composer'), '') AS composer
                FROM f, json_each(f.pieces) j),
            g(dim, key, label, minutes, session) AS (
                SELECT 0, instrument, instrument, minutes, session FROM f
                UNION ALL SELECT 1, type, type, minutes, session FROM f
                UNION ALL SELECT 2, legato_fold(title), title, minutes, session FROM p
                UNION ALL SELECT 3, legato_fold(composer), composer, minutes, session FROM p),
            s AS (SELECT dim, MIN(label) AS label, SUM(minutes) AS minutes,
                         COUNT(DISTINCT session) AS sessions
                  FROM g GROUP BY dim, key)
            SELECT dim, label, minutes, sessions FROM s ORDER BY dim, minutes DESC, label"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params![from, to], |r| {
                Ok((
                    r.get::<_, usize>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, f64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut breakdowns: [Breakdown; 4] = Default::default();
        for (dim, label, minutes, sessions) in rows {
            let Some(breakdown) = breakdowns.get_mut(dim) else {
                continue;
            };
            if breakdown.top.len() < DISTRIBUTION_TOP {
                breakdown.top.push(Share {
                    label,
                    minutes,
                    sessions: u64::try_from(sessions).unwrap_or_default(),
                });
            } else {
                breakdown.other_minutes += minutes;
                breakdown.other_groups += 1;
            }
        }
        let [instruments, types, pieces, composers] = breakdowns;
        Ok(Distribution {
            period,
            total: self.range_amount(from, to)?,
            instruments,
            types,
            pieces,
            composers,
        })
    }

    fn comparisons(&self, calendar: &Calendar) -> Result<(Comparison, Comparison)> {
        let (week, week_end) = calendar.period(StatsPeriod::Week)?;
        let (month, month_end) = calendar.period(StatsPeriod::Month)?;
        let monday = monday_of(calendar.today)?;
        let previous_week = calendar.start(add_days(monday, -7)?)?;
        let previous_month = calendar.start(add_months(calendar.today.first_of_month(), -1)?)?;
        // The same local time one period ago (the 31st a month ago is the last day of the
        // shorter month); at least the previous period's start.
        let ago = |span: jiff::Span| -> Result<i64> {
            Ok(calendar
                .now
                .checked_sub(span)
                .map_err(time_error)?
                .timestamp()
                .as_millisecond())
        };
        let week_ago = ago(1.week())?.clamp(previous_week, week);
        let month_ago = ago(1.month())?.clamp(previous_month, month);
        let a = self.amounts(&[
            (week, week_end),
            (previous_week, week),
            (previous_week, week_ago),
            (month, month_end),
            (previous_month, month),
            (previous_month, month_ago),
        ])?;
        Ok((
            Comparison {
                current: a[0],
                previous: a[1],
                previous_to_date: a[2],
            },
            Comparison {
                current: a[3],
                previous: a[4],
                previous_to_date: a[5],
            },
        ))
    }

    /// Everything the statistics screen shows (see the module documentation), in one read.
    pub fn statistics(&self, query: &StatsQuery) -> Result<Statistics> {
        let calendar = Calendar::new(query.now_ms, &query.zone)?;
        let year = query.heatmap_year.unwrap_or(calendar.today.year());
        let (week_over_week, month_over_month) = self.comparisons(&calendar)?;
        Ok(Statistics {
            today: calendar.today,
            totals: self.stat_totals(&calendar)?,
            streaks: self.streaks(&calendar)?,
            heatmap: self.heatmap(&calendar, year)?,
            trend: self.trend(&calendar, query.trend)?,
            distribution: self.distribution(&calendar, query.distribution)?,
            week_over_week,
            month_over_month,
        })
    }

    /// Totals and streaks in the user's time zone (the logbook's summary).
    pub fn summary(&self, now_ms: i64, zone: &TimeZone) -> Result<Summary> {
        let calendar = Calendar::new(now_ms, zone)?;
        Ok(Summary {
            totals: self.stat_totals(&calendar)?,
            streaks: self.streaks(&calendar)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    #[test]
    fn segments_follow_the_zone_s_transitions() {
        let berlin = zone("Europe/Berlin");
        // 2026: CET until 2026-03-29T01:00Z, CEST until 2026-10-25T01:00Z.
        let from = "2026-01-01T00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond();
        let to = "2027-01-01T00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond();
        let spring = "2026-03-29T01:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond();
        let autumn = "2026-10-25T01:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond();
        let segs: serde_json::Value =
            serde_json::from_str(&segments(&berlin, from, to).unwrap()).unwrap();
        assert_eq!(
            segs,
            json!([
                [from, spring, 3_600_000],
                [spring, autumn, 7_200_000],
                [autumn, to, 3_600_000]
            ])
        );
        let utc: serde_json::Value =
            serde_json::from_str(&segments(&TimeZone::UTC, from, to).unwrap()).unwrap();
        assert_eq!(utc, json!([[from, to, 0]]));
    }

    #[test]
    fn day_numbers_round_trip() {
        let date = Date::new(2026, 3, 29).unwrap();
        let day = day_number(date).unwrap();
        assert_eq!(date_of_day_number(day).unwrap(), date);
        assert_eq!(day_number(Date::new(1970, 1, 1).unwrap()).unwrap(), 0);
        assert_eq!(day_number(Date::new(1969, 12, 31).unwrap()).unwrap(), -1);
    }

    #[test]
    fn a_day_without_midnight_starts_at_its_first_instant() {
        // America/Sao_Paulo skipped midnight on 2018-11-04 (00:00 became 01:00).
        let day = Date::new(2018, 11, 4).unwrap();
        let start = day_start(day, &zone("America/Sao_Paulo")).unwrap();
        assert_eq!(
            start,
            "2018-11-04T03:00Z"
                .parse::<Timestamp>()
                .unwrap()
                .as_millisecond()
        );
    }
}
