use chrono::{TimeZone, Utc};
use legato_protocol::{EntityId, EntityType, Fields};
use serde_json::{Value, json};

use super::*;
use crate::validate::validate_state;

fn id(text: &str) -> EntityId {
    EntityId::new(text).unwrap()
}

fn at(hour: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, hour, 30, 0).unwrap()
}

use legato_testkit::fields;

fn unknown() -> Fields {
    fields(json!({"x-future": {"nested": [1, 2]}, "rating": 4.5}))
}

fn sample_entry() -> LogbookEntry {
    let mut piece = PieceRef::new("Clair de lune");
    piece.composer = Some("Debussy".into());
    piece.tempo = Some(60);
    piece.extra = fields(json!({"hand": "left"}));
    LogbookEntry {
        entry_type: EntryType::Lesson,
        instrument: Some("piano".into()),
        pieces: vec![piece, PieceRef::new("Scales")],
        techniques: vec!["arpeggios".into()],
        goal_ids: vec![id("g-1")],
        notes: Some("slow practice".into()),
        mood: Some(Mood::Satisfied),
        tags: vec!["evening".into()],
        metadata: fields(json!({"device": "desktop"})),
        created_at: Some(at(18)),
        updated_at: Some(at(19)),
        extra: unknown(),
        ..LogbookEntry::new(id("e-1"), at(17), 45)
    }
}

fn sample_item() -> RepertoireItem {
    let mut item = RepertoireItem {
        composer: Some("Debussy".into()),
        difficulty: Some(4),
        notes: Some("bars 15-20".into()),
        reference_links: vec!["https://example.com/score".into()],
        tags: vec!["impressionism".into()],
        created_at: Some(at(10)),
        extra: unknown(),
        ..RepertoireItem::new(id("r-1"), "Clair de lune")
    };
    item.set_status(PieceStatus::Learning, at(11));
    item
}

fn sample_goal() -> Goal {
    let mut goal = Goal {
        description: Some("every day".into()),
        goal_type: GoalType::PracticeTime,
        target_minutes: Some(30),
        period: GoalPeriod::Day,
        progress: 15,
        target_date: Some(at(20)),
        piece_ids: vec![id("r-1")],
        milestones: vec![
            Milestone::new("m1", "First week"),
            Milestone::new("m2", "Second"),
        ],
        notes: None,
        tags: vec!["daily".into()],
        updated_at: Some(at(12)),
        extra: unknown(),
        ..Goal::new(id("g-1"), "Practice daily")
    };
    goal.set_milestone_done("m1", true, at(13));
    goal
}

/// `to_fields` output validates, and reads back into the same value (unknown fields too).
#[test]
fn typed_entities_round_trip_through_valid_states() {
    let entry = sample_entry();
    let state = entry.to_fields();
    validate_state(EntityType::Logbook, &state).unwrap();
    assert_eq!(
        LogbookEntry::from_fields(entry.id.clone(), &state).unwrap(),
        entry
    );
    assert_eq!(state["x-future"], json!({"nested": [1, 2]}));
    assert_eq!(state["pieces"][0]["hand"], json!("left"));

    let item = sample_item();
    let state = item.to_fields();
    validate_state(EntityType::Repertoire, &state).unwrap();
    assert_eq!(
        RepertoireItem::from_fields(item.id.clone(), &state).unwrap(),
        item
    );

    let goal = sample_goal();
    let state = goal.to_fields();
    validate_state(EntityType::Goals, &state).unwrap();
    assert_eq!(Goal::from_fields(goal.id.clone(), &state).unwrap(), goal);
}

#[test]
fn states_use_the_exact_wire_names() {
    let state = sample_entry().to_fields();
    assert_eq!(state["timestamp"], json!("2026-11-25T17:30:00.000Z"));
    assert_eq!(state["type"], json!("lesson"));
    assert_eq!(state["goalIds"], json!(["g-1"]));
    assert_eq!(
        state["pieces"],
        json!([
            {"title": "Clair de lune", "composer": "Debussy", "tempo": 60, "hand": "left"},
            {"title": "Scales"},
        ])
    );
    assert_eq!(state["createdAt"], json!("2026-11-25T18:30:00.000Z"));

    let state = sample_item().to_fields();
    assert_eq!(
        state["statusHistory"],
        json!([{"at": "2026-11-25T11:30:00.000Z", "from": "planned", "to": "learning"}])
    );
    assert_eq!(
        state["referenceLinks"],
        json!(["https://example.com/score"])
    );
    assert_eq!(state["updatedAt"], Value::Null);

    let state = sample_goal().to_fields();
    assert_eq!(state["type"], json!("practice_time"));
    assert_eq!(state["targetMinutes"], json!(30));
    assert_eq!(state["pieceIds"], json!(["r-1"]));
    assert_eq!(
        state["milestones"],
        json!([
            {"id": "m1", "title": "First week", "done": true, "doneAt": "2026-11-25T13:30:00.000Z"},
            {"id": "m2", "title": "Second", "done": false, "doneAt": null},
        ])
    );
}

/// The serde form (for the UI) is `to_fields` plus `id`: the two cannot drift apart.
#[test]
fn serde_form_matches_to_fields() {
    fn check<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        value: &T,
        id: &str,
        state: Fields,
    ) {
        let mut expected = state;
        expected.insert("id".into(), json!(id));
        assert_eq!(
            serde_json::to_value(value).unwrap(),
            Value::Object(expected)
        );
        let back: T = serde_json::from_value(serde_json::to_value(value).unwrap()).unwrap();
        assert_eq!(&back, value);
    }
    check(&sample_entry(), "e-1", sample_entry().to_fields());
    check(&sample_item(), "r-1", sample_item().to_fields());
    check(&sample_goal(), "g-1", sample_goal().to_fields());
}

#[test]
fn minimal_states_read_with_defaults() {
    let entry = LogbookEntry::from_fields(
        id("e"),
        &fields(json!({"timestamp": "2026-11-25T18:30:00+01:00", "duration": 5, "tags": null})),
    )
    .unwrap();
    assert_eq!(entry, LogbookEntry::new(id("e"), at(17), 5));

    let item = RepertoireItem::from_fields(id("r"), &fields(json!({"title": "T"}))).unwrap();
    assert_eq!(item, RepertoireItem::new(id("r"), "T"));
    assert_eq!(item.status, PieceStatus::Planned);

    let goal = Goal::from_fields(id("g"), &fields(json!({"title": "T"}))).unwrap();
    assert_eq!(goal, Goal::new(id("g"), "T"));
    assert_eq!(
        (goal.period, goal.status, goal.goal_type),
        (GoalPeriod::Total, GoalStatus::Active, GoalType::Custom)
    );
}

#[test]
fn invalid_states_name_the_field() {
    let err = LogbookEntry::from_fields(id("e"), &fields(json!({"duration": 5}))).unwrap_err();
    assert_eq!(
        err,
        ModelError::Invalid(ValidationError::new("timestamp", "is required"))
    );
    let state =
        fields(json!({"title": "T", "statusHistory": [{"at": "2026-11-25T18:30:00Z", "to": "x"}]}));
    let ModelError::Invalid(err) = RepertoireItem::from_fields(id("r"), &state).unwrap_err();
    assert_eq!(err.field, "statusHistory[0].to");
}

#[test]
fn set_status_appends_history_only_on_a_change() {
    let mut item = RepertoireItem::new(id("r"), "T");
    assert!(!item.set_status(PieceStatus::Planned, at(1)));
    assert!(item.status_history.is_empty());
    assert!(item.set_status(PieceStatus::Learning, at(2)));
    assert!(item.set_status(PieceStatus::Performed, at(3)));
    assert_eq!(item.status, PieceStatus::Performed);
    assert_eq!(
        item.status_history
            .iter()
            .map(|c| (c.from, c.to))
            .collect::<Vec<_>>(),
        vec![
            (Some(PieceStatus::Planned), PieceStatus::Learning),
            (Some(PieceStatus::Learning), PieceStatus::Performed),
        ]
    );
    assert_eq!(item.notes, None);
}

#[test]
fn milestones_toggle_by_id() {
    let mut goal = sample_goal();
    assert!(!goal.set_milestone_done("m1", true, at(14)));
    assert!(!goal.set_milestone_done("nope", true, at(14)));
    assert!(goal.set_milestone_done("m1", false, at(14)));
    assert_eq!(goal.milestones[0].done_at, None);
}

#[test]
fn known_fields_win_over_extra() {
    let mut entry = sample_entry();
    entry.extra.insert("duration".into(), json!(999));
    assert_eq!(entry.to_fields()["duration"], json!(45));
}

#[test]
fn dates_are_normalized_to_utc_milliseconds() {
    let state = fields(json!({"timestamp": "2026-11-25T19:30:00.123456+01:00", "duration": 5}));
    let entry = LogbookEntry::from_fields(id("e"), &state).unwrap();
    assert_eq!(
        entry.to_fields()["timestamp"],
        json!("2026-11-25T18:30:00.123Z")
    );
}

#[test]
fn normalise_gives_one_stored_form_for_any_client() {
    let mut entry = LogbookEntry::new(id("e1"), at(9), 30);
    entry.instrument = Some("  Piano ".into());
    entry.notes = Some("   ".into());
    let mut piece = PieceRef::new("  Ballade No. 1 ");
    piece.composer = Some(" ".into());
    piece.measures = Some(" 1-32 ".into());
    entry.pieces = vec![piece];
    entry.techniques = vec![
        "Scales".into(),
        "scales ".into(),
        "".into(),
        "arpeggios".into(),
    ];
    entry.tags = vec![
        " Morning".into(),
        "MORNING".into(),
        "  ".into(),
        "exam".into(),
    ];
    entry.normalise();
    assert_eq!(entry.instrument.as_deref(), Some("piano"));
    assert_eq!(entry.notes, None);
    assert_eq!(entry.pieces[0].title, "Ballade No. 1");
    assert_eq!(entry.pieces[0].composer, None);
    assert_eq!(entry.pieces[0].measures.as_deref(), Some("1-32"));
    assert_eq!(entry.techniques, ["Scales", "arpeggios"]);
    assert_eq!(entry.tags, ["Morning", "exam"]);
    let again = entry.clone();
    entry.normalise();
    assert_eq!(entry, again, "normalising twice changes nothing");
}

#[test]
fn milestone_ids_are_one_more_than_the_highest_number() {
    let mut goal = Goal::new(id("g1"), "Recital");
    assert_eq!(goal.next_milestone_id(), "m1");
    goal.milestones.push(Milestone::new("m1", "Notes"));
    goal.milestones.push(Milestone::new("m7", "Memory"));
    goal.milestones.push(Milestone::new("custom", "Perform"));
    assert_eq!(goal.next_milestone_id(), "m8");
}
