//! The UI's reads: days, totals, streaks, search, pieces; deleted entries never show.

use chrono::NaiveDate;
use legato_protocol::{EntityId, EntityType};
use legato_store::Store;
use serde_json::json;

use crate::support::*;

fn log(store: &mut Store, timestamp: &str, minutes: u32, notes: &str) -> EntityId {
    store
        .create(EntityType::Logbook, entry(timestamp, minutes, notes), NOW)
        .unwrap()
        .entity_id
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

#[test]
fn entries_group_by_local_day_across_the_utc_offset() {
    let mut store = store();
    let morning = log(&mut store, "2025-11-25T10:00:00.000Z", 20, "morning");
    let late = log(&mut store, "2025-11-25T23:30:00.000Z", 30, "late");
    let after_midnight = log(&mut store, "2025-11-26T00:30:00.000Z", 40, "after midnight");
    log(
        &mut store,
        "2025-11-28T12:00:00.000Z",
        5,
        "outside the range",
    );

    let days = store
        .entries_by_day(date("2025-11-25"), date("2025-11-26"), 0)
        .unwrap();
    let shape: Vec<_> = days
        .iter()
        .map(|d| {
            (
                d.date.to_string(),
                d.total_minutes,
                d.entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("2025-11-26".to_owned(), 40, vec![after_midnight.clone()]),
            (
                "2025-11-25".to_owned(),
                50,
                vec![late.clone(), morning.clone()]
            ),
        ]
    );

    // UTC-2: 23:30Z and 00:30Z are both the evening of the 25th.
    let days = store
        .entries_by_day(date("2025-11-25"), date("2025-11-26"), -120)
        .unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(
        (days[0].date, days[0].total_minutes),
        (date("2025-11-25"), 90)
    );

    // UTC+1: 23:30Z is already the 26th; the 25th holds only the morning.
    let days = store
        .entries_by_day(date("2025-11-25"), date("2025-11-25"), 60)
        .unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(
        days[0].entries.iter().map(|e| &e.id).collect::<Vec<_>>(),
        [&morning]
    );
    assert_eq!(
        (
            days[0].entries[0].timestamp_ms,
            days[0].entries[0].duration_minutes
        ),
        (ms("2025-11-25T10:00:00Z"), 20)
    );
}

#[test]
fn totals_cover_today_the_iso_week_and_everything() {
    let mut store = store();
    let now = ms("2025-11-26T12:00:00Z"); // a Wednesday
    log(&mut store, "2025-11-26T08:00:00.000Z", 30, "today");
    log(&mut store, "2025-11-24T00:10:00.000Z", 20, "monday");
    log(
        &mut store,
        "2025-11-23T22:00:00.000Z",
        10,
        "sunday, last week",
    );
    let gone = log(&mut store, "2025-11-26T09:00:00.000Z", 100, "deleted");
    store.delete(EntityType::Logbook, &gone, NOW).unwrap();

    let totals = store.totals(now, 0).unwrap();
    assert_eq!((totals.today, totals.week, totals.all), (30, 50, 60));
    // At UTC+3 Sunday 22:00Z is Monday 01:00 local: this week.
    let totals = store.totals(now, 180).unwrap();
    assert_eq!((totals.today, totals.week, totals.all), (30, 60, 60));
    // At UTC-1 Monday 00:10Z is still Sunday: last week.
    let totals = store.totals(now, -60).unwrap();
    assert_eq!((totals.today, totals.week), (30, 30));
}

#[test]
fn the_streak_counts_consecutive_days_ending_today_or_yesterday() {
    let mut store = store();
    let now = ms("2025-11-26T12:00:00Z");
    assert_eq!(store.streak(now, 0).unwrap(), 0);
    log(&mut store, "2025-11-25T08:00:00.000Z", 10, "yesterday");
    log(&mut store, "2025-11-24T08:00:00.000Z", 10, "two days ago");
    log(&mut store, "2025-11-24T09:00:00.000Z", 10, "same day again");
    log(&mut store, "2025-11-22T08:00:00.000Z", 10, "after a gap");
    assert_eq!(store.streak(now, 0).unwrap(), 2, "today has no entry yet");
    let today = log(&mut store, "2025-11-26T07:00:00.000Z", 10, "today");
    assert_eq!(store.streak(now, 0).unwrap(), 3);
    // Two days later without practice, the streak is over.
    assert_eq!(store.streak(now + 2 * DAY, 0).unwrap(), 0);
    // Local days: at UTC-8 today's 07:00Z entry is still the 25th.
    assert_eq!(store.streak(now, -480).unwrap(), 2);
    store.delete(EntityType::Logbook, &today, NOW).unwrap();
    assert_eq!(store.streak(now, 0).unwrap(), 2);
}

#[test]
fn search_matches_notes_and_pieces_with_wildcards_taken_literally() {
    let mut store = store();
    let percent = log(
        &mut store,
        "2025-11-25T08:00:00.000Z",
        10,
        "tempo at 50% today",
    );
    let underscore = log(&mut store, "2025-11-25T09:00:00.000Z", 10, "file a_b.pdf");
    log(
        &mut store,
        "2025-11-25T10:00:00.000Z",
        10,
        "tempo at 50 today, axb",
    );
    let mut with_piece = entry("2025-11-25T11:00:00.000Z", 10, "");
    with_piece.insert(
        "pieces".into(),
        json!([{"title": "Étude Op. 10 No. 3", "composer": "Chopin"}]),
    );
    let chopin = store
        .create(EntityType::Logbook, with_piece, NOW)
        .unwrap()
        .entity_id;

    let ids =
        |hits: Vec<legato_store::LogEntry>| hits.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(store.search("50%").unwrap()), [percent]);
    assert_eq!(ids(store.search("a_b").unwrap()), [underscore]);
    assert_eq!(
        ids(store.search("CHOPIN").unwrap()),
        std::slice::from_ref(&chopin)
    );
    assert_eq!(
        ids(store.search("étude op").unwrap()),
        std::slice::from_ref(&chopin)
    );
    assert!(store.search("  ").unwrap().is_empty());
    assert!(store.search("%").unwrap().len() == 1);

    store.delete(EntityType::Logbook, &chopin, NOW).unwrap();
    assert!(store.search("chopin").unwrap().is_empty());
}

#[test]
fn entries_by_piece_match_whole_titles_case_insensitively() {
    let mut store = store();
    let piece = |title: &str| {
        let mut state = entry("2025-11-25T11:00:00.000Z", 10, "");
        state.insert(
            "pieces".into(),
            json!([{"title": title}, {"title": "Scales"}]),
        );
        state
    };
    let a = store
        .create(EntityType::Logbook, piece("Ballade No. 1"), NOW)
        .unwrap()
        .entity_id;
    store
        .create(EntityType::Logbook, piece("Ballade No. 10"), NOW)
        .unwrap();
    let mut notes_only = entry(
        "2025-11-25T12:00:00.000Z",
        10,
        "thinking about ballade no. 1",
    );
    notes_only.insert("pieces".into(), json!([]));
    store.create(EntityType::Logbook, notes_only, NOW).unwrap();
    let hits = store.entries_by_piece("ballade no. 1").unwrap();
    assert_eq!(hits.into_iter().map(|e| e.id).collect::<Vec<_>>(), [a]);
    assert_eq!(store.entries_by_piece("scales").unwrap().len(), 2);
}

#[test]
fn search_in_other_types_uses_their_text_fields() {
    let mut store = store();
    let repertoire =
        fields(json!({"title": "Nocturne", "composer": "Chopin", "status": "learning"}));
    let id = store
        .create(EntityType::Repertoire, repertoire, NOW)
        .unwrap()
        .entity_id;
    let hits = store.search_in(EntityType::Repertoire, "chopin").unwrap();
    assert_eq!(hits.into_iter().map(|e| e.id).collect::<Vec<_>>(), [id]);
    assert!(
        store
            .search_in(EntityType::Goals, "chopin")
            .unwrap()
            .is_empty()
    );
    assert!(store.list(EntityType::Goals).unwrap().is_empty());
}
