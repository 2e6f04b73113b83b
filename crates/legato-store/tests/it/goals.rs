//! Goal progress from the logbook and the repertoire, in the user's time zone; `$inc`
//! progress from two devices; each reaching reported once.

use jiff::tz::TimeZone;
use legato_protocol::{EntityId, EntityType, Fields, UpdateData};
use legato_store::{GoalProgress, ProgressUnit, Store};
use serde_json::{Value, json};

use crate::support::*;

fn ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

fn berlin() -> TimeZone {
    TimeZone::get("Europe/Berlin").unwrap()
}

fn goal(store: &mut Store, state: Value) -> EntityId {
    let mut state = fields(state);
    state.entry("title").or_insert(json!("A goal"));
    store
        .create(EntityType::Goals, state, NOW)
        .unwrap()
        .entity_id
}

fn log(store: &mut Store, timestamp: &str, minutes: u32) -> EntityId {
    store
        .create(EntityType::Logbook, entry(timestamp, minutes, ""), NOW)
        .unwrap()
        .entity_id
}

fn log_state(store: &mut Store, state: Value) -> EntityId {
    store
        .create(EntityType::Logbook, fields(state), NOW)
        .unwrap()
        .entity_id
}

fn progress(store: &Store, id: &EntityId, now: i64) -> GoalProgress {
    store
        .goal_progress_of(id, now, &berlin())
        .unwrap()
        .expect("a live goal")
}

#[test]
fn time_goals_count_their_local_window_across_dst() {
    let mut store = store();
    let day = goal(
        &mut store,
        json!({"type": "practice_time", "period": "day", "targetMinutes": 30}),
    );
    let week = goal(
        &mut store,
        json!({"type": "practice_time", "period": "week", "targetMinutes": 300}),
    );
    let month = goal(
        &mut store,
        json!({"type": "practice_time", "period": "month", "targetMinutes": 600}),
    );
    // Sunday 2026-03-29: clocks go forward in Berlin at 02:00 (UTC+1 -> UTC+2).
    let now = ms("2026-03-29T20:00:00Z");
    // Monday 23 March 00:30 CET is in the week; Sunday 22 March 23:30 CET is not.
    log(&mut store, "2026-03-22T23:30:00.000Z", 11);
    log(&mut store, "2026-03-22T22:30:00.000Z", 1000);
    // Sunday 29 March 00:30 CET and 23:30 CEST are today; Monday 00:30 CEST is not.
    log(&mut store, "2026-03-28T23:30:00.000Z", 20);
    log(&mut store, "2026-03-29T21:30:00.000Z", 15);
    log(&mut store, "2026-03-29T22:30:00.000Z", 500);
    // 1 March 00:30 CET is in the month, 28 February 23:30 CET is not.
    log(&mut store, "2026-02-28T23:30:00.000Z", 7);
    log(&mut store, "2026-02-28T22:30:00.000Z", 1400);

    let day = progress(&store, &day, now);
    assert_eq!(
        (day.unit, day.value, day.target),
        (ProgressUnit::Minutes, 35, Some(30))
    );
    assert_eq!(
        day.window,
        Some((ms("2026-03-28T23:00:00Z"), ms("2026-03-29T22:00:00Z")))
    );
    assert_eq!(day.percent(), Some(100));
    assert!(day.reached());
    let week = progress(&store, &week, now);
    assert_eq!(week.value, 11 + 20 + 15);
    assert_eq!(week.percent(), Some(15));
    let month = progress(&store, &month, now);
    // Monday 30 March 00:30 CEST is still March.
    assert_eq!(month.value, 11 + 20 + 15 + 1000 + 500 + 7);
    assert!(month.reached());
}

#[test]
fn a_total_goal_counts_since_it_was_set_plus_the_counter() {
    let mut store = store();
    log(&mut store, "2025-11-01T10:00:00.000Z", 500);
    let id = goal(
        &mut store,
        json!({"type": "practice_time", "period": "total", "targetMinutes": 100,
               "progress": 25, "createdAt": "2025-11-20T00:00:00.000Z"}),
    );
    log(&mut store, "2025-11-21T10:00:00.000Z", 40);
    let p = progress(&store, &id, NOW);
    assert_eq!((p.logged_minutes, p.counted, p.value), (40, 25, 65));
    assert_eq!(p.percent(), Some(65));

    // A periodic goal leaves the undated counter out.
    let weekly = goal(
        &mut store,
        json!({"type": "practice_time", "period": "week", "targetMinutes": 100, "progress": 90}),
    );
    assert_eq!(progress(&store, &weekly, NOW).value, 0);
}

#[test]
fn piece_goals_count_their_pieces_and_linked_entries() {
    let mut store = store();
    let clair = store
        .create(
            EntityType::Repertoire,
            fields(json!({"title": "Clair de lune", "composer": "Debussy", "status": "learning"})),
            NOW,
        )
        .unwrap()
        .entity_id;
    let elise = store
        .create(
            EntityType::Repertoire,
            fields(json!({"title": "Für Elise", "status": "polished"})),
            NOW,
        )
        .unwrap()
        .entity_id;
    let time = goal(
        &mut store,
        json!({"type": "practice_time", "period": "week", "targetMinutes": 60,
               "pieceIds": [clair.as_str()]}),
    );
    log_state(
        &mut store,
        json!({"timestamp": "2025-11-24T10:00:00.000Z", "duration": 20,
               "pieces": [{"title": "clair de lune"}]}),
    );
    log_state(
        &mut store,
        json!({"timestamp": "2025-11-24T11:00:00.000Z", "duration": 7,
               "pieces": [{"title": "Für Elise"}]}),
    );
    log_state(
        &mut store,
        json!({"timestamp": "2025-11-24T12:00:00.000Z", "duration": 9,
               "goalIds": [time.as_str()]}),
    );
    // Both ways at once: counted once.
    log_state(
        &mut store,
        json!({"timestamp": "2025-11-24T13:00:00.000Z", "duration": 4,
               "goalIds": [time.as_str()], "pieces": [{"title": "x", "scoreId": clair.as_str()}]}),
    );
    assert_eq!(progress(&store, &time, NOW).value, 20 + 9 + 4);

    let pieces = goal(
        &mut store,
        json!({"type": "repertoire", "pieceIds": [clair.as_str(), elise.as_str(), elise.as_str()]}),
    );
    let p = progress(&store, &pieces, NOW);
    assert_eq!(
        (p.unit, p.value, p.target),
        (ProgressUnit::Pieces, 1, Some(2))
    );
    store
        .set_piece_status(&clair, legato_core::model::PieceStatus::Performed, NOW)
        .unwrap();
    assert!(progress(&store, &pieces, NOW).reached());
}

#[test]
fn custom_goals_count_milestones_or_the_counter() {
    let mut store = store();
    let milestones = goal(
        &mut store,
        json!({"type": "custom", "milestones": [
            {"id": "m1", "title": "Notes", "done": true, "doneAt": "2025-11-20T00:00:00.000Z"},
            {"id": "m2", "title": "Memory", "done": false},
            {"id": "m3", "title": "Perform", "done": false}]}),
    );
    let p = progress(&store, &milestones, NOW);
    assert_eq!(
        (p.unit, p.value, p.target, p.percent()),
        (ProgressUnit::Milestones, 1, Some(3), Some(33))
    );
    let counter = goal(
        &mut store,
        json!({"type": "custom", "targetMinutes": 10, "progress": 4}),
    );
    let p = progress(&store, &counter, NOW);
    assert_eq!(
        (p.unit, p.value, p.target),
        (ProgressUnit::Count, 4, Some(10))
    );
    let untargeted = goal(&mut store, json!({"type": "custom"}));
    assert_eq!(progress(&store, &untargeted, NOW).percent(), None);
}

fn goal_update(id: &EntityId, data: Value, version: u64, seq: u64) -> UpdateData {
    UpdateData {
        entity_type: EntityType::Goals,
        entity_id: id.clone(),
        data: fields(data),
        version,
        deleted: false,
        seq,
        timestamp: NOW,
        user_id: "user-1".to_owned(),
        client_id: "other-device".to_owned(),
        change_id: format!("remote-{seq}"),
        full: false,
    }
}

#[test]
fn increments_from_two_devices_add_up() {
    let mut store = store();
    let id = goal(
        &mut store,
        json!({"type": "practice_time", "period": "total", "targetMinutes": 60}),
    );
    let create = outbox(&store).pop().unwrap().change.change_id;
    store.mark_in_flight(&[&create]).unwrap();
    store.apply_ack(&create, 1, &Fields::new()).unwrap();

    // This device adds 10 (not sent yet) ...
    let inc = |n: i64| fields(json!({"progress": {"$inc": n}}));
    let mine = store
        .patch(EntityType::Goals, &id, inc(10), NOW)
        .unwrap()
        .unwrap();
    assert_eq!(progress(&store, &id, NOW).value, 10);
    // ... while the other device's +35 reaches the server first.
    store
        .apply_remote(&goal_update(&id, json!({"progress": 35}), 2, 2))
        .unwrap();
    assert_eq!(progress(&store, &id, NOW).value, 45);
    // The server adds ours on top and acknowledges the sum.
    store.mark_in_flight(&[&mine]).unwrap();
    store
        .apply_ack(&mine, 3, &fields(json!({"progress": 45})))
        .unwrap();
    assert_eq!(progress(&store, &id, NOW).value, 45);
    assert!(outbox(&store).is_empty());
    // With one more remote +20 it is reached.
    store
        .apply_remote(&goal_update(&id, json!({"progress": 65}), 4, 4))
        .unwrap();
    let p = progress(&store, &id, NOW);
    assert_eq!((p.value, p.percent()), (65, Some(100)));
}

#[test]
fn a_reaching_is_reported_once_per_window_wherever_it_came_from() {
    let mut store = store();
    let zone = berlin();
    let daily = goal(
        &mut store,
        json!({"type": "practice_time", "period": "day", "targetMinutes": 30}),
    );
    goal(
        &mut store,
        json!({"type": "practice_time", "period": "day", "targetMinutes": 30, "status": "paused"}),
    );
    let now = ms("2025-11-25T18:30:00Z");
    log(&mut store, "2025-11-25T08:00:00.000Z", 20);
    assert!(store.newly_reached_goals(now, &zone).unwrap().is_empty());

    // The reaching entry comes from another device.
    let other = EntityId::new("entry-from-elsewhere").unwrap();
    let mut created = update(
        &other,
        json!({"timestamp": "2025-11-25T17:00:00.000Z", "duration": 15, "type": "practice"}),
        1,
        1,
        true,
    );
    created
        .data
        .insert("createdAt".into(), json!("2025-11-25T17:00:00.000Z"));
    store.apply_remote(&created).unwrap();
    let reached = store.newly_reached_goals(now, &zone).unwrap();
    assert_eq!(
        reached.iter().map(|g| g.id.clone()).collect::<Vec<_>>(),
        [daily],
        "the paused goal is not reported"
    );
    // Once: more practice the same day, a reopened store.
    log(&mut store, "2025-11-25T18:00:00.000Z", 10);
    assert!(store.newly_reached_goals(now, &zone).unwrap().is_empty());
    assert!(
        store
            .newly_reached_goals(now + MINUTE, &zone)
            .unwrap()
            .is_empty()
    );

    // Next day's window: reached again, reported again.
    let tomorrow = now + DAY;
    log(&mut store, "2025-11-26T18:00:00.000Z", 30);
    let again = store.newly_reached_goals(tomorrow, &zone).unwrap();
    assert_eq!(again.len(), 1);
    assert!(
        store
            .newly_reached_goals(tomorrow, &zone)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_mark_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let zone = berlin();
    {
        let mut store = Store::open(&path).unwrap();
        goal(
            &mut store,
            json!({"type": "practice_time", "period": "total", "targetMinutes": 10}),
        );
        // After the goal was set (NOW): counts for `total`.
        log(&mut store, "2025-11-25T18:40:00.000Z", 20);
        assert_eq!(store.newly_reached_goals(NOW, &zone).unwrap().len(), 1);
    }
    let mut store = Store::open(&path).unwrap();
    assert!(store.newly_reached_goals(NOW, &zone).unwrap().is_empty());
}

fn remote(entity_type: EntityType, id: &str, mut data: Value, seq: u64) -> UpdateData {
    data["createdAt"] = json!("2025-11-25T07:00:00.000Z");
    let mut update = update(&EntityId::new(id).unwrap(), data, 1, seq, true);
    update.entity_type = entity_type;
    update
}

#[test]
fn a_new_device_does_not_report_goals_reached_before_it_synced() {
    let mut store = store();
    let zone = berlin();
    let now = ms("2025-11-25T18:30:00Z");
    let daily = |target: u32| {
        json!({"title": "Daily", "type": "practice_time", "period": "day",
               "targetMinutes": target, "status": "active"})
    };
    // The first catch-up, page by page: the goals, then the entries that reached one.
    let pages = [
        vec![
            remote(EntityType::Goals, "goal-reached-elsewhere", daily(30), 1),
            remote(EntityType::Goals, "goal-reached-here", daily(60), 2),
        ],
        vec![remote(
            EntityType::Logbook,
            "entry-1",
            json!({"timestamp": "2025-11-25T08:00:00.000Z", "duration": 40, "type": "practice"}),
            3,
        )],
    ];
    for page in &pages {
        let seq = page.last().unwrap().seq;
        store.apply_remote_batch(page, Some(seq)).unwrap();
        assert!(store.newly_reached_goals(now, &zone).unwrap().is_empty());
    }
    store.record_caught_up(now, &zone).unwrap();
    assert!(store.newly_reached_goals(now, &zone).unwrap().is_empty());

    // A live update seen here takes the other goal over 100 %: reported.
    let live = remote(
        EntityType::Logbook,
        "entry-2",
        json!({"timestamp": "2025-11-25T17:00:00.000Z", "duration": 25, "type": "practice"}),
        4,
    );
    store.apply_remote_batch(&[live], Some(4)).unwrap();
    let reached = store.newly_reached_goals(now, &zone).unwrap();
    assert_eq!(
        reached.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        ["goal-reached-here"]
    );
    // Later catch-ups change nothing; the next day's reaching by a local edit is reported.
    store.record_caught_up(now, &zone).unwrap();
    log(&mut store, "2025-11-26T18:00:00.000Z", 30);
    let tomorrow = store.newly_reached_goals(now + DAY, &zone).unwrap();
    assert_eq!(
        tomorrow.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        ["goal-reached-elsewhere"]
    );
}

/// The shell checks goals after each page it is told about; the check for the first
/// catch-up's last page can run only after that catch-up is recorded as finished. The goal
/// that page reached was reached before this device synced: still not reported.
#[test]
fn a_check_that_runs_after_the_first_catch_up_ends_reports_nothing_reached_before_it() {
    let mut store = store();
    let zone = berlin();
    let now = ms("2025-11-25T18:30:00Z");
    let page = [
        remote(
            EntityType::Goals,
            "goal",
            json!({"title": "Daily", "type": "practice_time", "period": "day",
                   "targetMinutes": 30, "status": "active"}),
            1,
        ),
        remote(
            EntityType::Logbook,
            "entry-1",
            json!({"timestamp": "2025-11-25T08:00:00.000Z", "duration": 40, "type": "practice"}),
            2,
        ),
    ];
    store.apply_remote_batch(&page, Some(2)).unwrap();
    store.record_caught_up(now, &zone).unwrap();
    assert!(store.newly_reached_goals(now, &zone).unwrap().is_empty());
}
