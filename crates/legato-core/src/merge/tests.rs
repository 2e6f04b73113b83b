use legato_protocol::{EntityId, EntityType};
use serde_json::json;

use super::*;

use legato_testkit::fields;

const EARLY: i64 = 1_000;
const LATE: i64 = 2_000;

/// Table: (name, base, local, remote, local ts, remote ts, expected).
#[test]
fn three_way_merge_follows_the_field_rules() {
    let cases: Vec<(&str, Value, Value, Value, i64, i64, Value)> = vec![
        (
            "one side only: both edits survive",
            json!({"notes": "n", "duration": 30}),
            json!({"notes": "local", "duration": 30}),
            json!({"notes": "n", "duration": 45}),
            LATE,
            EARLY,
            json!({"notes": "local", "duration": 45}),
        ),
        (
            "both changed to the same value",
            json!({"mood": "neutral"}),
            json!({"mood": "excited"}),
            json!({"mood": "excited"}),
            EARLY,
            LATE,
            json!({"mood": "excited"}),
        ),
        (
            "notes concatenated local first",
            json!({"notes": "n"}),
            json!({"notes": "mine"}),
            json!({"notes": "theirs"}),
            EARLY,
            LATE,
            json!({"notes": "mine\n\n---\n\ntheirs"}),
        ),
        (
            "notes: the non-empty one",
            json!({"notes": "n"}),
            json!({"notes": ""}),
            json!({"notes": "theirs"}),
            LATE,
            EARLY,
            json!({"notes": "theirs"}),
        ),
        (
            "notes: null counts as empty",
            json!({"notes": "n"}),
            json!({"notes": "mine"}),
            json!({"notes": null}),
            EARLY,
            LATE,
            json!({"notes": "mine"}),
        ),
        (
            "duration: the larger",
            json!({"duration": 30}),
            json!({"duration": 60}),
            json!({"duration": 45}),
            EARLY,
            LATE,
            json!({"duration": 60}),
        ),
        (
            "tags: three-way set merge, local order then remote additions",
            json!({"tags": ["a", "b", "c"]}),
            json!({"tags": ["a", "c", "d"]}),
            json!({"tags": ["c", "a", "b", "e"]}),
            EARLY,
            LATE,
            json!({"tags": ["a", "c", "d", "e"]}),
        ),
        (
            "techniques: removed on both sides differently",
            json!({"techniques": ["a", "b", "c"]}),
            json!({"techniques": ["b", "c"]}),
            json!({"techniques": ["a", "b"]}),
            EARLY,
            LATE,
            json!({"techniques": ["b"]}),
        ),
        (
            "goalIds: missing base counts as empty; null side as empty",
            json!({}),
            json!({"goalIds": ["g1", "g2"]}),
            json!({"goalIds": ["g2", "g3"]}),
            EARLY,
            LATE,
            json!({"goalIds": ["g1", "g2", "g3"]}),
        ),
        (
            "pieceIds: cleared locally, added remotely",
            json!({"pieceIds": ["p1"]}),
            json!({"pieceIds": null}),
            json!({"pieceIds": ["p1", "p2"]}),
            EARLY,
            LATE,
            json!({"pieceIds": ["p2"]}),
        ),
        (
            "other fields: later write wins",
            json!({"mood": "neutral"}),
            json!({"mood": "excited"}),
            json!({"mood": "frustrated"}),
            LATE,
            EARLY,
            json!({"mood": "excited"}),
        ),
        (
            "other fields: ties go to remote",
            json!({"mood": "neutral"}),
            json!({"mood": "excited"}),
            json!({"mood": "frustrated"}),
            LATE,
            LATE,
            json!({"mood": "frustrated"}),
        ),
        (
            "arrays outside the set fields are last-write",
            json!({"pieces": [{"title": "a"}]}),
            json!({"pieces": [{"title": "b"}]}),
            json!({"pieces": [{"title": "c"}]}),
            EARLY,
            LATE,
            json!({"pieces": [{"title": "c"}]}),
        ),
        (
            "updatedAt: the later time, whatever the write times",
            json!({"updatedAt": "2026-11-25T10:00:00.000Z"}),
            json!({"updatedAt": "2026-11-25T12:00:00.000Z"}),
            json!({"updatedAt": "2026-11-25T13:00:00+02:00"}),
            EARLY,
            LATE,
            json!({"updatedAt": "2026-11-25T12:00:00.000Z"}),
        ),
        (
            "a field removed locally and untouched remotely stays removed",
            json!({"x": 1, "y": 2}),
            json!({"y": 2}),
            json!({"x": 1, "y": 3}),
            EARLY,
            LATE,
            json!({"y": 3}),
        ),
        (
            "added on both sides with different values: later write",
            json!({}),
            json!({"x-new": 1}),
            json!({"x-new": 2}),
            LATE,
            EARLY,
            json!({"x-new": 1}),
        ),
        (
            "values that do not fit a rule fall back to last write",
            json!({"duration": 30, "tags": ["a"]}),
            json!({"duration": "long", "tags": "a"}),
            json!({"duration": 40, "tags": ["a", "b"]}),
            LATE,
            EARLY,
            json!({"duration": "long", "tags": "a"}),
        ),
    ];
    for (name, base, local, remote, local_ts, remote_ts, expected) in cases {
        let merged = merge_three_way(
            &fields(base),
            &fields(local),
            &fields(remote),
            local_ts,
            remote_ts,
        );
        assert_eq!(merged, fields(expected), "{name}");
    }
}

#[test]
fn an_unchanged_local_side_returns_remote_exactly() {
    let base = fields(json!({"notes": null, "tags": ["a"], "duration": 30}));
    let remote = fields(json!({"tags": ["b"], "duration": 30, "mood": "excited"}));
    assert_eq!(merge_three_way(&base, &base, &remote, LATE, EARLY), remote);
}

fn conflict(remote: Value, remote_deleted: bool) -> ConflictData {
    ConflictData {
        change_id: "c-1".into(),
        entity_type: EntityType::Logbook,
        entity_id: EntityId::new("e-1").unwrap(),
        base_version: 1,
        remote_version: 3,
        remote_deleted,
        local: Fields::new(),
        remote: fields(remote),
        fields: vec!["notes".into()],
    }
}

fn remote_state() -> Value {
    json!({
        "duration": 45, "notes": "theirs", "tags": ["a", "r"], "mood": "frustrated",
        "x-other-device": true, "updatedAt": "2026-11-25T12:00:00.000Z",
    })
}

fn base_state() -> Value {
    json!({"duration": 30, "notes": "n", "tags": ["a"], "mood": "neutral", "updatedAt": "2026-11-25T10:00:00.000Z"})
}

fn local_state() -> Value {
    json!({"duration": 30, "notes": "mine", "tags": ["a", "l"], "mood": "excited", "updatedAt": "2026-11-25T11:00:00.000Z"})
}

/// 2026-11-25T11:00:00Z, the local edit time (earlier than the remote `updatedAt`).
const LOCAL_TS: i64 = 1_764_068_400_000;

#[test]
fn merge_strategy_pushes_the_merged_fields_that_differ_from_remote() {
    let base = fields(base_state());
    let resolution = resolve_conflict(
        Strategy::Merge,
        Some(&base),
        &fields(local_state()),
        &conflict(remote_state(), false),
        LOCAL_TS,
    );
    let merged = json!({
        "duration": 45, "notes": "mine\n\n---\n\ntheirs", "tags": ["a", "l", "r"],
        "mood": "frustrated", "x-other-device": true, "updatedAt": "2026-11-25T12:00:00.000Z",
    });
    assert_eq!(
        resolution,
        Resolution::Push {
            data: fields(json!({"notes": "mine\n\n---\n\ntheirs", "tags": ["a", "l", "r"]})),
            state: fields(merged),
        }
    );
}

#[test]
fn merge_without_a_remote_write_time_lets_the_local_edit_win() {
    let mut remote = remote_state();
    remote.as_object_mut().unwrap().remove("updatedAt");
    let base = fields(base_state());
    let Resolution::Push { state, .. } = resolve_conflict(
        Strategy::Merge,
        Some(&base),
        &fields(local_state()),
        &conflict(remote, false),
        LOCAL_TS,
    ) else {
        panic!("expected a push");
    };
    assert_eq!(state["mood"], json!("excited"));
}

#[test]
fn merge_without_a_base_applies_the_field_rules_to_every_difference() {
    let Resolution::Push { state, data } = resolve_conflict(
        Strategy::Merge,
        None,
        &fields(local_state()),
        &conflict(remote_state(), false),
        LOCAL_TS,
    ) else {
        panic!("expected a push");
    };
    assert_eq!(state["duration"], json!(45));
    assert_eq!(state["tags"], json!(["a", "l", "r"]));
    assert_eq!(state["mood"], json!("frustrated"));
    assert_eq!(state["x-other-device"], json!(true));
    assert!(!data.contains_key("duration"));
}

#[test]
fn merge_that_lands_on_remote_accepts_remote() {
    let remote = remote_state();
    let resolution = resolve_conflict(
        Strategy::Merge,
        Some(&fields(base_state())),
        &fields(base_state()),
        &conflict(remote, false),
        LOCAL_TS,
    );
    assert_eq!(resolution, Resolution::AcceptRemote);
}

/// The rejected change: the local edit of notes, mood and tags on the base.
fn pushed_change() -> Value {
    json!({"notes": "mine", "tags": ["a", "l"], "mood": "excited", "updatedAt": "2026-11-25T11:00:00.000Z"})
}

fn conflict_on(fields_in_conflict: &[&str]) -> ConflictData {
    ConflictData {
        local: fields(pushed_change()),
        fields: fields_in_conflict.iter().map(|f| (*f).to_owned()).collect(),
        ..conflict(remote_state(), false)
    }
}

#[test]
fn local_strategy_pushes_the_change_again_and_keeps_other_devices_edits() {
    let resolution = resolve_conflict(
        Strategy::Local,
        Some(&fields(base_state())),
        &fields(local_state()),
        &conflict_on(&["mood", "notes", "tags", "updatedAt"]),
        LOCAL_TS,
    );
    let Resolution::Push { data, state } = resolution else {
        panic!("expected a push");
    };
    assert_eq!(data, fields(pushed_change()));
    // The remote's duration (45) was changed by another device; local never touched it.
    assert_eq!(state["duration"], json!(45));
    assert_eq!(state["x-other-device"], json!(true));
    assert_eq!(state["notes"], json!("mine"));
}

#[test]
fn remote_strategy_takes_the_conflicting_fields_and_still_pushes_the_rest() {
    let resolution = resolve_conflict(
        Strategy::Remote,
        Some(&fields(base_state())),
        &fields(local_state()),
        &conflict_on(&["notes", "updatedAt"]),
        LOCAL_TS,
    );
    let Resolution::Push { data, state } = resolution else {
        panic!("expected a push");
    };
    assert_eq!(data, fields(json!({"tags": ["a", "l"], "mood": "excited"})));
    assert_eq!(state["notes"], json!("theirs"));
    let all = resolve_conflict(
        Strategy::Remote,
        None,
        &fields(local_state()),
        &conflict_on(&["mood", "notes", "tags", "updatedAt"]),
        LOCAL_TS,
    );
    assert_eq!(all, Resolution::AcceptRemote);
}

#[test]
fn a_conflict_only_on_updated_at_is_merged_even_under_manual() {
    let base =
        fields(json!({"duration": 30, "notes": "n", "updatedAt": "2026-11-25T10:00:00.000Z"}));
    let local =
        fields(json!({"duration": 50, "notes": "n", "updatedAt": "2026-11-25T11:00:00.000Z"}));
    let remote = fields(
        json!({"duration": 30, "notes": "other device", "updatedAt": "2026-11-25T12:00:00.000Z"}),
    );
    let conflict = ConflictData {
        local: fields(json!({"duration": 50, "updatedAt": "2026-11-25T11:00:00.000Z"})),
        fields: vec!["updatedAt".into()],
        ..conflict(Value::Object(remote.clone()), false)
    };
    for strategy in [
        Strategy::Manual,
        Strategy::Remote,
        Strategy::Local,
        Strategy::Merge,
    ] {
        let resolution = resolve_conflict(strategy, Some(&base), &local, &conflict, LOCAL_TS);
        let Resolution::Push { data, state } = resolution else {
            panic!("{strategy:?}: expected a push");
        };
        assert_eq!(data, fields(json!({"duration": 50})), "{strategy:?}");
        assert_eq!(state["notes"], json!("other device"));
    }
}

/// Table: (strategy, remote deleted, expected).
#[test]
fn strategies_and_deleted_remotes() {
    let local = fields(local_state());
    let cases = [
        (Strategy::Manual, false, Resolution::Manual),
        (Strategy::Remote, true, Resolution::AcceptRemote),
        (Strategy::Manual, true, Resolution::Manual),
        (
            Strategy::Local,
            true,
            Resolution::Recreate {
                state: local.clone(),
            },
        ),
        (
            Strategy::Merge,
            true,
            Resolution::Recreate {
                state: local.clone(),
            },
        ),
    ];
    for (strategy, deleted, expected) in cases {
        let resolution = resolve_conflict(
            strategy,
            Some(&fields(base_state())),
            &local,
            &conflict(remote_state(), deleted),
            LOCAL_TS,
        );
        assert_eq!(resolution, expected, "{strategy:?}, deleted: {deleted}");
    }
}

#[test]
fn strategies_serialize_lowercase() {
    assert_eq!(
        serde_json::to_value(Strategy::Merge).unwrap(),
        json!("merge")
    );
    assert_eq!(Strategy::default(), Strategy::Merge);
    assert_eq!(
        write_time_ms(&fields(json!({"updatedAt": "1970-01-01T00:00:01.500Z"}))),
        Some(1500)
    );
    assert_eq!(write_time_ms(&fields(json!({"updatedAt": 5}))), None);
}
