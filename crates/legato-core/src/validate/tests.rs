use legato_protocol::deflate_string;
use serde_json::{Value, json};

use super::*;

use legato_testkit::fields;

fn logbook() -> Fields {
    fields(json!({
        "timestamp": "2026-11-25T18:30:00.000Z",
        "duration": 45,
        "type": "practice",
        "instrument": "piano",
        "pieces": [{"title": "Clair de lune", "composer": "Debussy", "tempo": 60, "scoreId": "s1"}],
        "techniques": ["scales"],
        "goalIds": ["g-1"],
        "notes": "slow practice",
        "mood": "satisfied",
        "tags": ["evening"],
        "metadata": {"device": "desktop"},
        "createdAt": "2026-11-25T18:30:00.000Z",
        "updatedAt": "2026-11-25T18:30:00.000Z",
        "x-future": {"anything": [1, 2, 3]}
    }))
}

fn repertoire() -> Fields {
    fields(json!({
        "title": "Clair de lune",
        "composer": null,
        "status": "learning",
        "difficulty": 4,
        "notes": null,
        "referenceLinks": ["https://example.com/score.pdf"],
        "tags": [],
        "statusHistory": [{"at": "2026-11-25T18:30:00.000Z", "from": null, "to": "learning"}],
    }))
}

fn goal() -> Fields {
    fields(json!({
        "title": "Practice daily",
        "description": "30 minutes a day",
        "type": "practice_time",
        "targetMinutes": 30,
        "period": "day",
        "progress": 0,
        "targetDate": null,
        "status": "active",
        "pieceIds": ["r-1"],
        "milestones": [{"id": "m1", "title": "First week", "done": false, "doneAt": null}],
    }))
}

fn with(mut state: Fields, key: &str, value: Value) -> Fields {
    state.insert(key.to_owned(), value);
    state
}

fn without(mut state: Fields, key: &str) -> Fields {
    state.remove(key);
    state
}

#[test]
fn valid_states_pass() {
    validate_state(EntityType::Logbook, &logbook()).unwrap();
    validate_state(EntityType::Repertoire, &repertoire()).unwrap();
    validate_state(EntityType::Goals, &goal()).unwrap();
    for op in [Operation::Create, Operation::Update] {
        validate_change(EntityType::Logbook, op, &logbook()).unwrap();
    }
}

/// Table: (entity type, state, field named in the error).
#[test]
fn invalid_states_name_the_field() {
    use EntityType::{Goals, Logbook, Repertoire};
    let cases: Vec<(EntityType, Fields, &str)> = vec![
        (Logbook, without(logbook(), "timestamp"), "timestamp"),
        (Logbook, without(logbook(), "duration"), "duration"),
        (
            Logbook,
            with(logbook(), "duration", json!(null)),
            "duration",
        ),
        (Logbook, with(logbook(), "duration", json!(0)), "duration"),
        (
            Logbook,
            with(logbook(), "duration", json!(1441)),
            "duration",
        ),
        (
            Logbook,
            with(logbook(), "duration", json!(45.0)),
            "duration",
        ),
        (
            Logbook,
            with(logbook(), "duration", json!("45")),
            "duration",
        ),
        (
            Logbook,
            with(logbook(), "duration", json!(u64::MAX)),
            "duration",
        ),
        (
            Logbook,
            with(logbook(), "timestamp", json!("2026-11-25")),
            "timestamp",
        ),
        (
            Logbook,
            with(logbook(), "timestamp", json!("2026-11-25T18:30:00")),
            "timestamp",
        ),
        (
            Logbook,
            with(logbook(), "timestamp", json!(1764095400000_i64)),
            "timestamp",
        ),
        (Logbook, with(logbook(), "type", json!("jam")), "type"),
        (
            Logbook,
            with(logbook(), "instrument", json!("Piano")),
            "instrument",
        ),
        (
            Logbook,
            with(logbook(), "instrument", json!("x".repeat(51))),
            "instrument",
        ),
        (Logbook, with(logbook(), "pieces", json!({})), "pieces"),
        (
            Logbook,
            with(logbook(), "pieces", json!(vec![json!({"title": "a"}); 21])),
            "pieces",
        ),
        (
            Logbook,
            with(
                logbook(),
                "pieces",
                json!([{"title": "a"}, {"title": "b"}, {"composer": "c"}]),
            ),
            "pieces[2].title",
        ),
        (
            Logbook,
            with(logbook(), "pieces", json!([{"title": ""}])),
            "pieces[0].title",
        ),
        (
            Logbook,
            with(logbook(), "pieces", json!([{"title": "x".repeat(201)}])),
            "pieces[0].title",
        ),
        (
            Logbook,
            with(
                logbook(),
                "pieces",
                json!([{"title": "a", "tempo": "fast"}]),
            ),
            "pieces[0].tempo",
        ),
        (
            Logbook,
            with(logbook(), "pieces", json!([{"title": "a", "scoreId": 7}])),
            "pieces[0].scoreId",
        ),
        (
            Logbook,
            with(logbook(), "pieces", json!(["a"])),
            "pieces[0]",
        ),
        (
            Logbook,
            with(logbook(), "techniques", json!(vec!["t"; 31])),
            "techniques",
        ),
        (
            Logbook,
            with(logbook(), "techniques", json!(["x".repeat(51)])),
            "techniques[0]",
        ),
        (
            Logbook,
            with(logbook(), "goalIds", json!(["not an id"])),
            "goalIds[0]",
        ),
        (
            Logbook,
            with(logbook(), "goalIds", json!([""])),
            "goalIds[0]",
        ),
        (
            Logbook,
            with(logbook(), "notes", json!("x".repeat(20_001))),
            "notes",
        ),
        (Logbook, with(logbook(), "notes", json!(["a"])), "notes"),
        (Logbook, with(logbook(), "mood", json!("happy")), "mood"),
        (
            Logbook,
            with(logbook(), "tags", json!(vec!["t"; 51])),
            "tags",
        ),
        (Logbook, with(logbook(), "tags", json!([1])), "tags[0]"),
        (Logbook, with(logbook(), "metadata", json!([])), "metadata"),
        (
            Logbook,
            with(
                logbook(),
                "metadata",
                json!({"blob": "x".repeat(16 * 1024)}),
            ),
            "metadata",
        ),
        (
            Logbook,
            with(logbook(), "createdAt", json!("yesterday")),
            "createdAt",
        ),
        (
            Logbook,
            with(logbook(), "notes", json!({"$inc": 1})),
            "notes",
        ),
        (
            Logbook,
            with(logbook(), "x-future", json!({"$deflate": "abc"})),
            "x-future",
        ),
        (Repertoire, without(repertoire(), "title"), "title"),
        (Repertoire, with(repertoire(), "title", json!("")), "title"),
        (
            Repertoire,
            with(repertoire(), "status", json!("mastered")),
            "status",
        ),
        (
            Repertoire,
            with(repertoire(), "difficulty", json!(6)),
            "difficulty",
        ),
        (
            Repertoire,
            with(repertoire(), "difficulty", json!(0)),
            "difficulty",
        ),
        (
            Repertoire,
            with(repertoire(), "referenceLinks", json!(["ftp://x.org/a"])),
            "referenceLinks[0]",
        ),
        (
            Repertoire,
            with(
                repertoire(),
                "referenceLinks",
                json!(["javascript:alert(1)"]),
            ),
            "referenceLinks[0]",
        ),
        (
            Repertoire,
            with(repertoire(), "referenceLinks", json!(["https://"])),
            "referenceLinks[0]",
        ),
        (
            Repertoire,
            with(repertoire(), "referenceLinks", json!(["https://a.org/x y"])),
            "referenceLinks[0]",
        ),
        (
            Repertoire,
            with(
                repertoire(),
                "statusHistory",
                json!([{"at": "2026-11-25T18:30:00Z", "to": "done"}]),
            ),
            "statusHistory[0].to",
        ),
        (
            Repertoire,
            with(
                repertoire(),
                "statusHistory",
                json!([{"from": "planned", "to": "learning"}]),
            ),
            "statusHistory[0].at",
        ),
        (
            Repertoire,
            with(
                repertoire(),
                "statusHistory",
                json!([{"at": "2026-11-25T18:30:00Z", "from": "x", "to": "learning"}]),
            ),
            "statusHistory[0].from",
        ),
        (Goals, with(goal(), "title", json!(null)), "title"),
        (Goals, with(goal(), "type", json!("time")), "type"),
        (Goals, with(goal(), "period", json!("year")), "period"),
        (Goals, with(goal(), "progress", json!(1.5)), "progress"),
        (
            Goals,
            with(goal(), "targetMinutes", json!("30")),
            "targetMinutes",
        ),
        (
            Goals,
            with(goal(), "targetDate", json!("soon")),
            "targetDate",
        ),
        (Goals, with(goal(), "status", json!("done")), "status"),
        (
            Goals,
            with(goal(), "pieceIds", json!(["a/b"])),
            "pieceIds[0]",
        ),
        (
            Goals,
            with(
                goal(),
                "milestones",
                json!([{"id": "", "title": "t", "done": false}]),
            ),
            "milestones[0].id",
        ),
        (
            Goals,
            with(goal(), "milestones", json!([{"id": "m", "title": "t"}])),
            "milestones[0].done",
        ),
        (
            Goals,
            with(
                goal(),
                "milestones",
                json!([{"id": "m", "title": "t", "done": "yes"}]),
            ),
            "milestones[0].done",
        ),
        (
            Goals,
            with(
                goal(),
                "milestones",
                json!([{"id": "m", "title": "t", "done": true, "doneAt": "now"}]),
            ),
            "milestones[0].doneAt",
        ),
        (
            Goals,
            with(
                goal(),
                "milestones",
                json!([{"id": "m", "title": "a", "done": true}, {"id": "m", "title": "b", "done": false}]),
            ),
            "milestones[1].id",
        ),
    ];
    for (entity_type, state, field) in cases {
        let err = validate_state(entity_type, &state).expect_err(&format!(
            "{entity_type} state should be invalid at {field}: {state:?}"
        ));
        assert_eq!(err.field, field, "{err}");
        assert!(!err.message.is_empty());
    }
}

#[test]
fn optional_fields_accept_null_and_unknown_fields_anything() {
    let state = fields(json!({
        "timestamp": "2026-11-25T18:30:00+01:00",
        "duration": 1,
        "type": null, "instrument": null, "pieces": null, "notes": null, "mood": null,
        "tags": null, "metadata": null, "createdAt": null,
        "pieces2": [1, "x", null], "newField": {"$unknown": 1}, "n": 1.5
    }));
    validate_state(EntityType::Logbook, &state).unwrap();
    let nested = with(
        logbook(),
        "pieces",
        json!([{"title": "a", "composer": null, "measures": null, "tempo": null, "extra": 1}]),
    );
    validate_state(EntityType::Logbook, &nested).unwrap();
}

#[test]
fn date_times_accept_any_rfc3339_with_offset() {
    for ok in [
        "2026-11-25T18:30:00.000Z",
        "2026-11-25T18:30:00Z",
        "2026-11-25T18:30:00.123456+05:30",
        "2026-11-25t18:30:00z",
    ] {
        let state = with(logbook(), "timestamp", json!(ok));
        validate_state(EntityType::Logbook, &state).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn limits_count_characters_not_bytes() {
    let notes = "é".repeat(MAX_NOTES_CHARS);
    validate_state(EntityType::Logbook, &with(logbook(), "notes", json!(notes))).unwrap();
    let title = "ü".repeat(MAX_TITLE_CHARS);
    validate_state(
        EntityType::Repertoire,
        &with(repertoire(), "title", json!(title)),
    )
    .unwrap();
}

#[test]
fn create_requires_required_fields_and_refuses_commutative_operators() {
    let missing = without(logbook(), "duration");
    let err = validate_change(EntityType::Logbook, Operation::Create, &missing).unwrap_err();
    assert_eq!(err.field, "duration");

    let inc = with(logbook(), "duration", json!({"$inc": 5}));
    let err = validate_change(EntityType::Logbook, Operation::Create, &inc).unwrap_err();
    assert_eq!(err.field, "duration");
    assert!(err.message.contains("only allowed in an update"), "{err}");

    let add = with(logbook(), "x-new", json!({"$addToSet": [1]}));
    let err = validate_change(EntityType::Logbook, Operation::Create, &add).unwrap_err();
    assert_eq!(err.field, "x-new");

    let deflated = with(
        repertoire(),
        "title",
        json!({"$deflate": deflate_string("Clair de lune")}),
    );
    validate_change(EntityType::Repertoire, Operation::Create, &deflated).unwrap();
}

/// Table: (entity type, update data, Ok or the field named in the error).
#[test]
fn update_operators_follow_the_field_kind() {
    use EntityType::{Goals, Logbook, Repertoire};
    let long_notes = "x".repeat(MAX_NOTES_CHARS + 1);
    let cases: Vec<(EntityType, Value, Option<&str>)> = vec![
        (Logbook, json!({"duration": {"$inc": 5}}), None),
        (Logbook, json!({"duration": {"$inc": -5}}), None),
        (Logbook, json!({"x-count": {"$inc": 1}}), None),
        (Repertoire, json!({"difficulty": {"$inc": 1}}), None),
        (
            Goals,
            json!({"progress": {"$inc": 30}, "targetMinutes": {"$inc": 5}}),
            None,
        ),
        (Logbook, json!({"notes": {"$inc": 1}}), Some("notes")),
        (
            Logbook,
            json!({"timestamp": {"$inc": 1}}),
            Some("timestamp"),
        ),
        (
            Logbook,
            json!({"duration": {"$inc": 1.5}}),
            Some("duration"),
        ),
        (Logbook, json!({"tags": {"$addToSet": ["a", "b"]}}), None),
        (Logbook, json!({"tags": {"$pull": ["a"]}}), None),
        (Logbook, json!({"x-list": {"$addToSet": [{"a": 1}]}}), None),
        (Logbook, json!({"goalIds": {"$addToSet": ["g-2"]}}), None),
        (
            Logbook,
            json!({"goalIds": {"$addToSet": ["bad id"]}}),
            Some("goalIds.$addToSet[0]"),
        ),
        (
            Logbook,
            json!({"pieces": {"$addToSet": [{"composer": "x"}]}}),
            Some("pieces.$addToSet[0].title"),
        ),
        (
            Logbook,
            json!({"tags": {"$addToSet": [1]}}),
            Some("tags.$addToSet[0]"),
        ),
        (Logbook, json!({"tags": {"$pull": [1]}}), None),
        (
            Logbook,
            json!({"notes": {"$addToSet": ["a"]}}),
            Some("notes"),
        ),
        (
            Logbook,
            json!({"metadata": {"$pull": ["a"]}}),
            Some("metadata"),
        ),
        (Logbook, json!({"tags": {"$addToSet": "a"}}), Some("tags")),
        (
            Logbook,
            json!({"notes": {"$deflate": deflate_string("hello")}}),
            None,
        ),
        (
            Logbook,
            json!({"instrument": {"$deflate": deflate_string("piano")}}),
            None,
        ),
        (
            Logbook,
            json!({"instrument": {"$deflate": deflate_string("Piano")}}),
            Some("instrument"),
        ),
        (
            Logbook,
            json!({"notes": {"$deflate": deflate_string(&long_notes)}}),
            Some("notes"),
        ),
        (
            Logbook,
            json!({"notes": {"$deflate": "not base64!"}}),
            Some("notes"),
        ),
        (Logbook, json!({"notes": {"$deflate": 5}}), Some("notes")),
        (
            Logbook,
            json!({"duration": {"$deflate": deflate_string("45")}}),
            Some("duration"),
        ),
        (
            Logbook,
            json!({"x-text": {"$deflate": deflate_string("anything")}}),
            None,
        ),
        (
            Repertoire,
            json!({"composer": {"$deflate": deflate_string("Debussy")}}),
            None,
        ),
        (
            Goals,
            json!({"description": {"$deflate": deflate_string("d")}}),
            None,
        ),
        (Logbook, json!({"duration": null}), Some("duration")),
        (Logbook, json!({"timestamp": null}), Some("timestamp")),
        (Repertoire, json!({"title": null}), Some("title")),
        (Goals, json!({"title": null}), Some("title")),
        (
            Logbook,
            json!({"notes": null, "mood": null, "tags": null}),
            None,
        ),
        (Logbook, json!({}), None),
        (Logbook, json!({"duration": 2000}), Some("duration")),
    ];
    for (entity_type, data, expected) in cases {
        let result = validate_change(entity_type, Operation::Update, &fields(data.clone()));
        match (result, expected) {
            (Ok(()), None) => {}
            (Err(err), Some(field)) => assert_eq!(err.field, field, "{data}: {err}"),
            (result, expected) => panic!("{data}: got {result:?}, expected error at {expected:?}"),
        }
    }
}

#[test]
fn delete_ignores_its_data() {
    let data = fields(json!({"duration": "garbage", "x": {"$inc": "y"}}));
    validate_change(EntityType::Logbook, Operation::Delete, &data).unwrap();
}

#[test]
fn errors_display_the_field() {
    let err = ValidationError::new("pieces[2].title", "must not be empty");
    assert_eq!(
        err.to_string(),
        "field `pieces[2].title`: must not be empty"
    );
}

#[test]
fn text_refuses_control_characters_but_keeps_tabs_and_line_breaks() {
    let fine = with(logbook(), "notes", json!("bar 12:\tslower\r\nthen\nfaster"));
    validate_state(EntityType::Logbook, &fine).unwrap();
    for (field, text, shown) in [
        ("notes", "a\u{0}b", "U+0000"),
        ("notes", "colour \u{1b}[31m", "U+001B"),
        ("instrument", "pia\u{7}no", "U+0007"),
    ] {
        let err =
            validate_state(EntityType::Logbook, &with(logbook(), field, json!(text))).unwrap_err();
        assert_eq!(err.field, field);
        assert!(err.message.contains(shown), "{err}");
    }
    // Inside lists of text too (tags, the pieces' titles), and for updates.
    let tag = validate_change(
        EntityType::Logbook,
        Operation::Update,
        &fields(json!({"techniques": {"$addToSet": ["ok", "bad\u{0}"]}})),
    )
    .unwrap_err();
    assert!(tag.field.starts_with("techniques"), "{tag}");
    // Unknown fields are kept verbatim (a newer client's data), whatever they hold.
    validate_state(
        EntityType::Logbook,
        &with(logbook(), "future", json!("\u{0}")),
    )
    .unwrap();
}
