//! `Store::entries_matching`: the logbook list's filters, in one SQL query.

use chrono::NaiveDate;
use legato_core::model::EntryType;
use legato_protocol::{EntityId, EntityType};
use legato_store::{EntryFilter, Store};
use serde_json::{Value, json};

use crate::support::*;

fn log(store: &mut Store, state: Value) -> EntityId {
    store
        .create(EntityType::Logbook, fields(state), NOW)
        .unwrap()
        .entity_id
}

/// Four entries over two local days at +01:00 (the 23:30 UTC one is the 26th there).
fn logbook(store: &mut Store) -> [EntityId; 4] {
    [
        log(
            store,
            json!({"timestamp": "2025-11-25T08:00:00.000Z", "duration": 10, "instrument": "piano",
                   "tags": ["warmup"], "pieces": [{"title": "Scales"}], "notes": "slow"}),
        ),
        log(
            store,
            json!({"timestamp": "2025-11-25T12:00:00.000Z", "duration": 20, "type": "lesson",
                   "instrument": "violin", "tags": ["Exam", "école"],
                   "pieces": [{"title": "Études Op. 10", "composer": "Chopin"}]}),
        ),
        log(
            store,
            json!({"timestamp": "2025-11-25T23:30:00.000Z", "duration": 30, "instrument": "piano",
                   "tags": ["exam"], "pieces": [{"title": "Clair de lune", "composer": "Debussy"}],
                   "notes": "with pedal"}),
        ),
        log(
            store,
            json!({"timestamp": "2025-11-20T09:00:00.000Z", "duration": 5, "type": "practice",
                   "notes": "100% focus"}),
        ),
    ]
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// (day, total, ids) per day.
fn days(store: &Store, filter: &EntryFilter) -> Vec<(String, u64, Vec<EntityId>)> {
    store
        .entries_matching(filter, 60)
        .unwrap()
        .into_iter()
        .map(|day| {
            let ids = day.entries.into_iter().map(|e| e.id).collect();
            (day.date.to_string(), day.total_minutes, ids)
        })
        .collect()
}

fn ids(store: &Store, filter: EntryFilter) -> Vec<EntityId> {
    days(store, &filter)
        .into_iter()
        .flat_map(|(_, _, ids)| ids)
        .collect()
}

#[test]
fn no_filter_lists_every_day_with_its_total() {
    let mut store = store();
    let [a, b, c, d] = logbook(&mut store);
    assert_eq!(
        days(&store, &EntryFilter::default()),
        vec![
            ("2025-11-26".to_owned(), 30, vec![c]),
            ("2025-11-25".to_owned(), 30, vec![b, a]),
            ("2025-11-20".to_owned(), 5, vec![d]),
        ]
    );
}

#[test]
fn a_long_history_is_read_in_pages_of_whole_local_days() {
    let mut store = store();
    let [a, b, c, d] = logbook(&mut store);
    let page = |days: Option<u32>, before: Option<&str>| {
        let filter = EntryFilter {
            days,
            before: before.map(date),
            ..EntryFilter::default()
        };
        self::days(&store, &filter)
            .into_iter()
            .map(|(day, _, ids)| (day, ids))
            .collect::<Vec<_>>()
    };
    // Local days at +01:00: the 26th (c), the 25th (b, a: never split), the 20th (d).
    assert_eq!(
        page(Some(1), None),
        [("2025-11-26".to_owned(), vec![c.clone()])]
    );
    assert_eq!(
        page(Some(2), None),
        [
            ("2025-11-26".to_owned(), vec![c.clone()]),
            ("2025-11-25".to_owned(), vec![b.clone(), a.clone()]),
        ]
    );
    // The next page starts before the last day shown.
    assert_eq!(
        page(Some(1), Some("2025-11-26")),
        [("2025-11-25".to_owned(), vec![b.clone(), a.clone()])]
    );
    assert_eq!(
        page(Some(5), Some("2025-11-25")),
        [("2025-11-20".to_owned(), vec![d.clone()])]
    );
    assert_eq!(page(Some(5), Some("2025-11-20")), []);
    assert_eq!(page(Some(0), None), []);
    assert_eq!(page(None, None).len(), 3);
    // With the other filters: the days counted are the days that match.
    let practice = EntryFilter {
        entry_type: Some(EntryType::Practice),
        days: Some(2),
        ..EntryFilter::default()
    };
    assert_eq!(ids(&store, practice), [c, a]);
    // Local days west of UTC (-10:00): the 08:00 UTC entry is on the 24th there.
    let west = store
        .entries_matching(
            &EntryFilter {
                days: Some(2),
                ..EntryFilter::default()
            },
            -600,
        )
        .unwrap();
    let dates: Vec<String> = west.iter().map(|day| day.date.to_string()).collect();
    assert_eq!(dates, ["2025-11-25", "2025-11-24"]);
}

#[test]
fn the_day_range_is_in_local_days() {
    let mut store = store();
    let [a, b, c, _] = logbook(&mut store);
    let only_25th = EntryFilter {
        from: Some(date("2025-11-25")),
        to: Some(date("2025-11-25")),
        ..EntryFilter::default()
    };
    assert_eq!(ids(&store, only_25th), [b.clone(), a.clone()]);
    let from_25th = EntryFilter {
        from: Some(date("2025-11-25")),
        ..EntryFilter::default()
    };
    assert_eq!(ids(&store, from_25th), [c, b, a]);
    // At UTC the late entry is still on the 25th.
    let utc = store
        .entries_matching(
            &EntryFilter {
                to: Some(date("2025-11-25")),
                from: Some(date("2025-11-25")),
                ..EntryFilter::default()
            },
            0,
        )
        .unwrap();
    assert_eq!(
        (utc.len(), utc[0].entries.len(), utc[0].total_minutes),
        (1, 3, 60)
    );
}

#[test]
fn instrument_and_type_match_whole_values() {
    let mut store = store();
    let [a, b, c, d] = logbook(&mut store);
    let piano = EntryFilter {
        instrument: Some(" PIANO ".into()),
        ..EntryFilter::default()
    };
    assert_eq!(ids(&store, piano), [c.clone(), a.clone()]);
    let partial = EntryFilter {
        instrument: Some("pian".into()),
        ..EntryFilter::default()
    };
    assert!(ids(&store, partial).is_empty());
    let lessons = EntryFilter {
        entry_type: Some(EntryType::Lesson),
        ..EntryFilter::default()
    };
    assert_eq!(ids(&store, lessons), [b]);
    let practice = EntryFilter {
        entry_type: Some(EntryType::Practice),
        ..EntryFilter::default()
    };
    assert_eq!(ids(&store, practice), [c, a, d], "absent type is practice");
}

#[test]
fn pieces_match_part_of_a_title_and_tags_a_whole_tag_ignoring_case() {
    let mut store = store();
    let [a, b, c, _] = logbook(&mut store);
    let piece = |text: &str| EntryFilter {
        piece: Some(text.into()),
        ..EntryFilter::default()
    };
    assert_eq!(
        ids(&store, piece("ÉTUDES")),
        std::slice::from_ref(&b),
        "Unicode case folding"
    );
    assert_eq!(ids(&store, piece("de")), [c.clone(), b.clone()]);
    assert!(
        ids(&store, piece("chopin")).is_empty(),
        "composers are not titles"
    );
    let tag = |text: &str| EntryFilter {
        tag: Some(text.into()),
        ..EntryFilter::default()
    };
    assert_eq!(ids(&store, tag("exam")), [c.clone(), b.clone()]);
    assert_eq!(ids(&store, tag("ÉCOLE")), std::slice::from_ref(&b));
    assert!(ids(&store, tag("ex")).is_empty(), "whole tags only");
    assert_eq!(ids(&store, tag("warmup")), [a]);
    assert_eq!(ids(&store, tag("  ")).len(), 4, "blank is no filter");
}

#[test]
fn free_text_and_filters_combine() {
    let mut store = store();
    let [_, b, c, d] = logbook(&mut store);
    let search = |text: &str| EntryFilter {
        search: Some(text.into()),
        ..EntryFilter::default()
    };
    assert_eq!(ids(&store, search("DEBUSSY")), std::slice::from_ref(&c));
    assert_eq!(ids(&store, search("chopin")), std::slice::from_ref(&b));
    assert_eq!(
        ids(&store, search("100%")),
        [d],
        "wildcards match themselves"
    );
    assert!(ids(&store, search("50%")).is_empty());
    let combined = EntryFilter {
        from: Some(date("2025-11-26")),
        instrument: Some("piano".into()),
        tag: Some("EXAM".into()),
        piece: Some("lune".into()),
        search: Some("pedal".into()),
        entry_type: Some(EntryType::Practice),
        ..EntryFilter::default()
    };
    assert_eq!(ids(&store, combined.clone()), std::slice::from_ref(&c));
    store.delete(EntityType::Logbook, &c, NOW).unwrap();
    assert!(
        ids(&store, combined).is_empty(),
        "deleted entries never show"
    );
}
