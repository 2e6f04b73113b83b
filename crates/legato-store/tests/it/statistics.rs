//! The statistics screen's figures: local days in a real time zone (DST changes included),
//! streaks across month and year ends, the heatmap, the trend and its moving average,
//! distributions, comparisons; an empty logbook; deleted entries never count.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};
use legato_protocol::{EntityId, EntityType};
use legato_store::{
    Amount, DISTRIBUTION_TOP, Share, StatsPeriod, StatsQuery, Store, TREND_DAYS, TREND_MONTHS,
    TREND_WEEKS, TrendUnit,
};
use serde_json::{Value, json};

use crate::support::{NOW, fields, store};

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap()
}

/// `2026-03-29T00:30` in `zone`, as ms since the epoch.
fn local_ms(local: &str, zone_name: &str) -> i64 {
    let zoned: ZonedDateTime = format!("{local}[{zone_name}]").parse().unwrap();
    zoned.timestamp().as_millisecond()
}

fn utc_text(ms: i64) -> String {
    Timestamp::from_millisecond(ms).unwrap().to_string()
}

fn date(text: &str) -> Date {
    text.parse().unwrap()
}

/// Logs `minutes` at local time `local` in `zone_name`, with extra fields.
fn log_with(
    store: &mut Store,
    local: &str,
    zone_name: &str,
    minutes: u32,
    extra: Value,
) -> EntityId {
    let mut state = json!({
        "timestamp": utc_text(local_ms(local, zone_name)),
        "duration": minutes,
    });
    if let (Value::Object(state), Value::Object(extra)) = (&mut state, extra) {
        state.extend(extra);
    }
    store
        .create(EntityType::Logbook, fields(state), NOW)
        .unwrap()
        .entity_id
}

fn log(store: &mut Store, local: &str, zone_name: &str, minutes: u32) -> EntityId {
    log_with(store, local, zone_name, minutes, json!({}))
}

fn query(now_local: &str, zone_name: &str) -> StatsQuery {
    StatsQuery {
        now_ms: local_ms(now_local, zone_name),
        zone: zone(zone_name),
        trend: TrendUnit::Day,
        heatmap_year: None,
        distribution: StatsPeriod::All,
    }
}

fn heatmap_days(store: &Store, q: &StatsQuery) -> Vec<(String, u64)> {
    store
        .statistics(q)
        .unwrap()
        .heatmap
        .days
        .iter()
        .map(|d| (d.date.to_string(), d.minutes))
        .collect()
}

const BERLIN: &str = "Europe/Berlin";
const NEW_YORK: &str = "America/New_York";

fn amount(minutes: u64, sessions: u64) -> Amount {
    Amount { minutes, sessions }
}

#[test]
fn an_empty_logbook_has_zero_everywhere_and_a_full_trend_of_zeros() {
    let store = store();
    let q = query("2026-05-14T18:00", BERLIN);
    let stats = store.statistics(&q).unwrap();
    assert_eq!(stats.today, date("2026-05-14"));
    assert_eq!(stats.totals.all, amount(0, 0));
    assert_eq!(stats.streaks.current, 0);
    assert_eq!(stats.streaks.longest, 0);
    assert_eq!(stats.streaks.longest_span, None);
    assert_eq!(stats.streaks.practice_days, 0);
    assert_eq!(stats.heatmap.year, 2026);
    assert!(stats.heatmap.days.is_empty());
    assert_eq!(stats.heatmap.max_minutes, 0);
    assert_eq!(stats.trend.points.len(), TREND_DAYS);
    assert!(
        stats
            .trend
            .points
            .iter()
            .all(|p| p.minutes == 0 && p.moving_average == 0.0)
    );
    assert_eq!(stats.trend.points.last().unwrap().start, date("2026-05-14"));
    assert!(stats.distribution.instruments.top.is_empty());
    assert!(stats.distribution.pieces.top.is_empty());
    assert_eq!(stats.week_over_week.current, amount(0, 0));
    assert_eq!(stats.month_over_month.previous, amount(0, 0));
    let summary = store.summary(q.now_ms, &q.zone).unwrap();
    assert_eq!(summary.totals, stats.totals);
}

#[test]
fn totals_count_local_today_week_and_month_and_leave_deleted_entries_out() {
    let mut store = store();
    // Thursday 2026-05-14, Berlin (UTC+2).
    log(&mut store, "2026-05-14T00:15", BERLIN, 30); // today (still the 13th in UTC)
    log(&mut store, "2026-05-13T23:45", BERLIN, 20); // yesterday, this week
    log(&mut store, "2026-05-11T00:05", BERLIN, 10); // Monday, this week
    log(&mut store, "2026-05-10T23:55", BERLIN, 5); // Sunday, last week, this month
    log(&mut store, "2026-04-30T23:59", BERLIN, 7); // last month
    let gone = log(&mut store, "2026-05-14T09:00", BERLIN, 100);
    store.delete(EntityType::Logbook, &gone, NOW).unwrap();

    let q = query("2026-05-14T18:00", BERLIN);
    let totals = store.statistics(&q).unwrap().totals;
    assert_eq!(totals.today, amount(30, 1));
    assert_eq!(totals.week, amount(60, 3));
    assert_eq!(totals.month, amount(65, 4));
    assert_eq!(totals.all, amount(72, 5));
    assert_eq!(store.summary(q.now_ms, &q.zone).unwrap().totals, totals);
}

#[test]
fn streaks_run_across_month_and_year_ends_and_practice_days_survive_a_gap() {
    let mut store = store();
    // An old streak of five days across the year end...
    for day in [
        "2025-12-29",
        "2025-12-30",
        "2025-12-31",
        "2026-01-01",
        "2026-01-02",
    ] {
        log(&mut store, &format!("{day}T20:00"), BERLIN, 15);
    }
    // ...a gap on the 3rd, then three days across the end of January.
    for day in ["2026-01-30", "2026-01-31", "2026-02-01"] {
        log(&mut store, &format!("{day}T07:30"), BERLIN, 25);
    }
    log(&mut store, "2026-02-01T21:00", BERLIN, 5); // a second session the same day

    let streaks = store
        .statistics(&query("2026-02-01T22:00", BERLIN))
        .unwrap()
        .streaks;
    assert_eq!(streaks.current, 3);
    assert_eq!(streaks.longest, 5);
    assert_eq!(
        streaks.longest_span,
        Some((date("2025-12-29"), date("2026-01-02")))
    );
    assert_eq!(streaks.practice_days, 8);

    // The next day, before practising: the streak still stands.
    let next_morning = store
        .statistics(&query("2026-02-02T08:00", BERLIN))
        .unwrap();
    assert_eq!(next_morning.streaks.current, 3);
    // A missed day ends it; the practice days stay.
    let later = store
        .statistics(&query("2026-02-03T08:00", BERLIN))
        .unwrap();
    assert_eq!(later.streaks.current, 0);
    assert_eq!(later.streaks.longest, 5);
    assert_eq!(later.streaks.practice_days, 8);

    // A future-dated entry counts in no streak (nor in the practice days so far).
    log(&mut store, "2026-02-05T08:00", BERLIN, 5);
    let streaks = store
        .statistics(&query("2026-02-01T22:00", BERLIN))
        .unwrap()
        .streaks;
    assert_eq!((streaks.current, streaks.practice_days), (3, 8));

    // The longest streak of equal length is the most recent one.
    for day in ["2026-02-02", "2026-02-03"] {
        log(&mut store, &format!("{day}T07:30"), BERLIN, 25);
    }
    let streaks = store
        .statistics(&query("2026-02-03T22:00", BERLIN))
        .unwrap()
        .streaks;
    assert_eq!(streaks.current, 5);
    assert_eq!(
        streaks.longest_span,
        Some((date("2026-01-30"), date("2026-02-03")))
    );
}

#[test]
fn local_days_follow_berlin_s_dst_changes_not_today_s_offset() {
    let mut store = store();
    // Late evenings around the spring change (2026-03-29, 02:00 CET becomes 03:00 CEST) and
    // the autumn one (2026-10-25, 03:00 CEST becomes 02:00 CET).
    for day in ["2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30"] {
        log(&mut store, &format!("{day}T23:30"), BERLIN, 10);
    }
    log(&mut store, "2026-10-24T23:30", BERLIN, 20);
    log(&mut store, "2026-10-25T00:30", BERLIN, 20);
    log(&mut store, "2026-10-25T23:30", BERLIN, 20);
    log(&mut store, "2026-10-26T00:30", BERLIN, 20);

    // Asked in summer (UTC+2) and in winter (UTC+1): the same days either way.
    let expected: Vec<(String, u64)> = [
        ("2026-03-27", 10),
        ("2026-03-28", 10),
        ("2026-03-29", 10),
        ("2026-03-30", 10),
        ("2026-10-24", 20),
        ("2026-10-25", 40),
        ("2026-10-26", 20),
    ]
    .iter()
    .map(|(d, m)| (d.to_string(), *m))
    .collect();
    assert_eq!(
        heatmap_days(&store, &query("2026-07-01T12:00", BERLIN)),
        expected
    );
    assert_eq!(
        heatmap_days(&store, &query("2026-12-01T12:00", BERLIN)),
        expected
    );

    // The streak over the spring change: four days, not three (the 27th's 23:30 CET is
    // 00:30 at today's summer offset, and would have merged with the 28th).
    let streaks = store
        .statistics(&query("2026-03-30T23:50", BERLIN))
        .unwrap()
        .streaks;
    assert_eq!(streaks.current, 4);
    // Over the autumn change (a 25-hour day): three days.
    let autumn = store
        .statistics(&query("2026-10-26T12:00", BERLIN))
        .unwrap();
    assert_eq!(autumn.streaks.current, 3);
    assert_eq!(autumn.totals.today, amount(20, 1));
}

#[test]
fn new_york_s_25_hour_day_and_23_hour_day_are_each_one_day() {
    let mut store = store();
    // 2026-11-01: 02:00 EDT becomes 01:00 EST; 2026-03-08: 02:00 EST becomes 03:00 EDT.
    log(&mut store, "2026-11-01T00:30", NEW_YORK, 10); // EDT
    log(&mut store, "2026-11-01T23:30", NEW_YORK, 15); // EST, 25 hours later
    log(&mut store, "2026-11-02T00:10", NEW_YORK, 5);
    log(&mut store, "2026-03-08T00:10", NEW_YORK, 3); // EST
    log(&mut store, "2026-03-08T23:50", NEW_YORK, 4); // EDT, 22 h 40 later

    let q = query("2026-11-01T23:59", NEW_YORK);
    let stats = store.statistics(&q).unwrap();
    assert_eq!(stats.totals.today, amount(25, 2));
    assert_eq!(
        heatmap_days(&store, &q),
        vec![
            ("2026-03-08".to_string(), 7),
            ("2026-11-01".to_string(), 25),
            ("2026-11-02".to_string(), 5)
        ]
    );
    // The daily trend's today bucket is the whole 25-hour day.
    let last = stats.trend.points.last().unwrap();
    assert_eq!((last.start, last.minutes), (date("2026-11-01"), 25));
}

#[test]
fn the_heatmap_shows_the_asked_year_only() {
    let mut store = store();
    log(&mut store, "2025-12-31T23:00", BERLIN, 11);
    log(&mut store, "2026-01-01T00:30", BERLIN, 22);
    log(&mut store, "2026-12-31T23:59", BERLIN, 33);
    log(&mut store, "2027-01-01T00:00", BERLIN, 44);
    let mut q = query("2026-06-01T12:00", BERLIN);
    let stats = store.statistics(&q).unwrap();
    assert_eq!(stats.heatmap.year, 2026);
    assert_eq!(stats.heatmap.max_minutes, 33);
    assert_eq!(
        heatmap_days(&store, &q),
        vec![
            ("2026-01-01".to_string(), 22),
            ("2026-12-31".to_string(), 33)
        ]
    );
    q.heatmap_year = Some(2025);
    assert_eq!(
        heatmap_days(&store, &q),
        vec![("2025-12-31".to_string(), 11)]
    );
}

#[test]
fn the_daily_trend_has_a_trailing_seven_day_moving_average() {
    let mut store = store();
    // Today is 2026-05-14. 70 minutes today, 14 six days ago (inside today's window), 700
    // seven days ago (just outside it, inside yesterday's), 35 forty days ago (before the
    // shown range and its warm-up).
    log(&mut store, "2026-05-14T10:00", BERLIN, 70);
    log(&mut store, "2026-05-08T10:00", BERLIN, 14);
    log(&mut store, "2026-05-07T10:00", BERLIN, 700);
    log(&mut store, "2026-04-04T10:00", BERLIN, 35);
    let deleted = log(&mut store, "2026-05-13T10:00", BERLIN, 999);
    store.delete(EntityType::Logbook, &deleted, NOW).unwrap();

    let trend = store
        .statistics(&query("2026-05-14T18:00", BERLIN))
        .unwrap()
        .trend;
    assert_eq!(trend.window, 7);
    assert_eq!(trend.points.len(), TREND_DAYS);
    assert_eq!(trend.points[0].start, date("2026-04-15"));
    let today = trend.points.last().unwrap();
    assert_eq!(
        (today.start, today.minutes, today.sessions),
        (date("2026-05-14"), 70, 1)
    );
    assert!((today.moving_average - 84.0 / 7.0).abs() < 1e-9);
    let yesterday = &trend.points[TREND_DAYS - 2];
    assert_eq!(
        (yesterday.start, yesterday.minutes),
        (date("2026-05-13"), 0)
    );
    assert!((yesterday.moving_average - 714.0 / 7.0).abs() < 1e-9);
    // The first shown day's average reaches back before the shown range (its warm-up):
    // the 40-days-ago entry is 11 days before the first point, outside its window.
    assert_eq!(trend.points[0].moving_average, 0.0);
    let total: u64 = trend.points.iter().map(|p| p.minutes).sum();
    assert_eq!(total, 784);
}

#[test]
fn the_moving_average_counts_buckets_before_the_shown_range() {
    let mut store = store();
    // Three days before the first shown day (2026-04-15): inside its seven-day window.
    log(&mut store, "2026-04-12T10:00", BERLIN, 70);
    let trend = store
        .statistics(&query("2026-05-14T18:00", BERLIN))
        .unwrap()
        .trend;
    assert_eq!(trend.points[0].minutes, 0);
    assert!((trend.points[0].moving_average - 10.0).abs() < 1e-9);
    assert!((trend.points[3].moving_average - 10.0).abs() < 1e-9);
    assert_eq!(trend.points[4].moving_average, 0.0);
}

#[test]
fn weekly_and_monthly_trends_start_on_mondays_and_firsts() {
    let mut store = store();
    log(&mut store, "2026-05-11T00:10", BERLIN, 40); // Monday of the current week
    log(&mut store, "2026-05-10T23:50", BERLIN, 20); // Sunday of the previous week
    log(&mut store, "2026-04-30T12:00", BERLIN, 60); // April
    let mut q = query("2026-05-14T18:00", BERLIN);
    q.trend = TrendUnit::Week;
    let trend = store.statistics(&q).unwrap().trend;
    assert_eq!((trend.window, trend.points.len()), (4, TREND_WEEKS));
    let weeks: Vec<(String, u64)> = trend
        .points
        .iter()
        .rev()
        .take(3)
        .map(|p| (p.start.to_string(), p.minutes))
        .collect();
    assert_eq!(
        weeks,
        vec![
            ("2026-05-11".to_string(), 40),
            ("2026-05-04".to_string(), 20),
            ("2026-04-27".to_string(), 60)
        ]
    );
    assert!((trend.points.last().unwrap().moving_average - 30.0).abs() < 1e-9);

    q.trend = TrendUnit::Month;
    let trend = store.statistics(&q).unwrap().trend;
    assert_eq!((trend.window, trend.points.len()), (3, TREND_MONTHS));
    assert_eq!(trend.points[0].start, date("2025-06-01"));
    let last = trend.points.last().unwrap();
    assert_eq!(
        (last.start, last.minutes, last.sessions),
        (date("2026-05-01"), 60, 2)
    );
    assert!((last.moving_average - 40.0).abs() < 1e-9);
}

#[test]
fn comparisons_set_this_week_and_month_against_the_previous_ones() {
    let mut store = store();
    // Now: Wednesday 2026-05-13 12:00, Berlin.
    log(&mut store, "2026-05-12T09:00", BERLIN, 30); // this week
    log(&mut store, "2026-05-14T09:00", BERLIN, 5); // this week, later (planned)
    log(&mut store, "2026-05-05T09:00", BERLIN, 20); // last week, before the same point
    log(&mut store, "2026-05-06T13:00", BERLIN, 40); // last week, after it
    log(&mut store, "2026-04-10T09:00", BERLIN, 50); // last month, before the 13th 12:00
    log(&mut store, "2026-04-20T09:00", BERLIN, 60); // last month, after it
    let gone = log(&mut store, "2026-05-05T08:00", BERLIN, 999);
    store.delete(EntityType::Logbook, &gone, NOW).unwrap();

    let stats = store
        .statistics(&query("2026-05-13T12:00", BERLIN))
        .unwrap();
    let week = stats.week_over_week;
    assert_eq!(week.current, amount(35, 2));
    assert_eq!(week.previous, amount(60, 2));
    assert_eq!(week.previous_to_date, amount(20, 1));
    let month = stats.month_over_month;
    assert_eq!(month.current, amount(95, 4));
    assert_eq!(month.previous, amount(110, 2));
    assert_eq!(month.previous_to_date, amount(50, 1));
}

#[test]
fn the_same_point_of_a_shorter_previous_month_is_its_end() {
    let mut store = store();
    log(&mut store, "2026-02-28T20:00", BERLIN, 10);
    // 31 March: one month ago is 28 February at the same time (the clamp of jiff's
    // calendar arithmetic), so the 20:00 session that day is before the point.
    let stats = store
        .statistics(&query("2026-03-31T21:00", BERLIN))
        .unwrap();
    assert_eq!(stats.month_over_month.previous_to_date, amount(10, 1));
    let earlier = store
        .statistics(&query("2026-03-31T19:00", BERLIN))
        .unwrap();
    assert_eq!(earlier.month_over_month.previous_to_date, amount(0, 0));
}

fn labels(shares: &[Share]) -> Vec<(Option<&str>, f64, u64)> {
    shares
        .iter()
        .map(|s| (s.label.as_deref(), s.minutes, s.sessions))
        .collect()
}

#[test]
fn distributions_group_by_instrument_type_piece_and_composer() {
    let mut store = store();
    let chopin = json!({"title": "Ballade No. 1", "composer": "Chopin"});
    let bach = json!({"title": "Invention 8", "composer": "J. S. Bach"});
    log_with(
        &mut store,
        "2026-05-12T09:00",
        BERLIN,
        60,
        json!({"instrument": "piano", "pieces": [chopin, bach]}),
    );
    log_with(
        &mut store,
        "2026-05-13T09:00",
        BERLIN,
        30,
        json!({"instrument": "piano", "type": "lesson",
               "pieces": [{"title": "ballade no. 1 ", "composer": "chopin"}]}),
    );
    log_with(
        &mut store,
        "2026-05-13T10:00",
        BERLIN,
        15,
        json!({"type": "technique", "pieces": [{"title": "Scales"}]}),
    );
    log_with(
        &mut store,
        "2026-04-01T10:00",
        BERLIN,
        45,
        json!({"instrument": "violin"}),
    );
    let gone = log_with(
        &mut store,
        "2026-05-13T11:00",
        BERLIN,
        500,
        json!({"instrument": "drums", "pieces": [chopin]}),
    );
    store.delete(EntityType::Logbook, &gone, NOW).unwrap();

    let mut q = query("2026-05-13T18:00", BERLIN);
    let all = store.statistics(&q).unwrap().distribution;
    assert_eq!(all.period, StatsPeriod::All);
    assert_eq!(all.total, amount(150, 4));
    assert_eq!(
        labels(&all.instruments.top),
        vec![
            (Some("piano"), 90.0, 2),
            (Some("violin"), 45.0, 1),
            (None, 15.0, 1)
        ]
    );
    assert_eq!(
        labels(&all.types.top),
        vec![
            (Some("practice"), 105.0, 2),
            (Some("lesson"), 30.0, 1),
            (Some("technique"), 15.0, 1)
        ]
    );
    // 60 minutes over two pieces: 30 each; titles match case- and space-insensitively.
    assert_eq!(
        labels(&all.pieces.top),
        vec![
            (Some("Ballade No. 1"), 60.0, 2),
            (Some("Invention 8"), 30.0, 1),
            (Some("Scales"), 15.0, 1)
        ]
    );
    assert_eq!(
        labels(&all.composers.top),
        vec![
            (Some("Chopin"), 60.0, 2),
            (Some("J. S. Bach"), 30.0, 1),
            (None, 15.0, 1)
        ]
    );
    assert_eq!(all.pieces.other_groups, 0);

    // This month only: the violin in April is out.
    q.distribution = StatsPeriod::Month;
    let month = store.statistics(&q).unwrap().distribution;
    assert_eq!(month.total, amount(105, 3));
    assert_eq!(
        labels(&month.instruments.top),
        vec![(Some("piano"), 90.0, 2), (None, 15.0, 1)]
    );
}

#[test]
fn a_distribution_lists_the_largest_groups_and_sums_the_rest() {
    let mut store = store();
    let pieces = DISTRIBUTION_TOP + 3;
    for i in 0..pieces {
        let minutes = 10 + u32::try_from(i).unwrap();
        log_with(
            &mut store,
            "2026-05-12T09:00",
            BERLIN,
            minutes,
            json!({"pieces": [{"title": format!("Etude {i}")}]}),
        );
    }
    let dist = store
        .statistics(&query("2026-05-13T18:00", BERLIN))
        .unwrap()
        .distribution;
    assert_eq!(dist.pieces.top.len(), DISTRIBUTION_TOP);
    let largest = format!("Etude {}", pieces - 1);
    assert_eq!(dist.pieces.top[0].label.as_deref(), Some(largest.as_str()));
    assert_eq!(dist.pieces.other_groups, 3);
    // The three smallest: 10, 11 and 12 minutes.
    assert_eq!(dist.pieces.other_minutes, 33.0);
}
