//! Generators: realistic logbook states, and arbitrary JSON for robustness tests.

use legato_core::Fields;
use legato_protocol::deflate_string;
use proptest::prelude::*;
use proptest::sample::subsequence;
use serde_json::{Value, json};

pub const TAG_POOL: &[&str] = &[
    "warmup",
    "evening",
    "scales",
    "recital",
    "sight-reading",
    "duo",
    "slow",
    "metronome",
];
const TECHNIQUE_POOL: &[&str] = &[
    "arpeggios",
    "legato",
    "staccato",
    "trills",
    "octaves",
    "pedal",
];
const MOODS: &[&str] = &["frustrated", "neutral", "satisfied", "excited"];

/// Fields a generated logbook state may vary, for picking "a field" in properties.
pub const EDITABLE: &[&str] = &[
    "duration",
    "notes",
    "tags",
    "techniques",
    "mood",
    "x-custom",
    "instrument",
];

fn labels(pool: &'static [&'static str]) -> impl Strategy<Value = Value> {
    subsequence(pool, 0..=pool.len())
        .prop_shuffle()
        .prop_map(|items| json!(items))
}

fn notes() -> impl Strategy<Value = Value> {
    "[a-z ]{0,24}".prop_map(Value::String)
}

fn unknown_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(|n| json!(n)),
        "[a-z]{0,8}".prop_map(Value::String),
        (any::<bool>(), "[a-z]{0,4}").prop_map(|(b, s)| json!({"flag": b, "label": s})),
    ]
}

/// A valid logbook state as a client would hold it. Optional fields are either absent or
/// set (never `null`), so "equal" means identical.
pub fn logbook_state() -> impl Strategy<Value = Fields> {
    (
        prop::sample::select(&["2026-11-25T18:30:00.000Z", "2026-11-26T07:00:00.000Z"][..]),
        1..=1440_i64,
        proptest::option::of(notes()),
        proptest::option::of(labels(TAG_POOL)),
        proptest::option::of(labels(TECHNIQUE_POOL)),
        proptest::option::of(prop::sample::select(MOODS)),
        proptest::option::of(unknown_value()),
        proptest::option::of(prop::sample::select(&["piano", "violin", "cello"][..])),
    )
        .prop_map(
            |(timestamp, duration, notes, tags, techniques, mood, custom, instrument)| {
                let mut state = Fields::new();
                state.insert("timestamp".into(), json!(timestamp));
                state.insert("duration".into(), json!(duration));
                let optional = [
                    ("notes", notes),
                    ("tags", tags),
                    ("techniques", techniques),
                    ("mood", mood.map(|m| json!(m))),
                    ("x-custom", custom),
                    ("instrument", instrument.map(|i| json!(i))),
                ];
                for (name, value) in optional {
                    if let Some(value) = value {
                        state.insert(name.into(), value);
                    }
                }
                state
            },
        )
}

/// `state` with `name` set to `other`'s value (or removed when `other` lacks it).
pub fn with_field_of(state: &Fields, name: &str, other: &Fields) -> Fields {
    let mut state = state.clone();
    match other.get(name) {
        Some(value) => state.insert(name.to_owned(), value.clone()),
        None => state.remove(name),
    };
    state
}

/// Arbitrary JSON, with the operator shapes mixed in so every code path sees garbage.
pub fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e12..1e12_f64).prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        "[a-z0-9:/._ -]{0,30}".prop_map(Value::String),
        Just(json!("2026-11-25T18:30:00.000Z")),
        ".{0,40}".prop_map(|text| json!({"$deflate": deflate_string(&text)})),
        ".{0,12}".prop_map(|text| json!({"$deflate": text})),
        any::<i64>().prop_map(|n| json!({"$inc": n})),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner.clone(), 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"$addToSet": v})),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"$pull": v})),
            inner.prop_map(|v| json!({"$inc": v})),
        ]
    })
}

/// Field names: the known ones of every entity type (so validators see garbage) and others.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "timestamp",
                "duration",
                "type",
                "instrument",
                "pieces",
                "techniques",
                "goalIds",
                "notes",
                "mood",
                "tags",
                "metadata",
                "createdAt",
                "updatedAt",
                "title",
                "composer",
                "status",
                "difficulty",
                "referenceLinks",
                "statusHistory",
                "description",
                "targetMinutes",
                "period",
                "progress",
                "targetDate",
                "pieceIds",
                "milestones",
                "id",
                "done",
                "doneAt",
                "at",
                "from",
                "to",
                "tempo",
                "scoreId",
                "measures",
            ][..]
        )
        .prop_map(str::to_owned),
        "[a-zA-Z$]{1,8}",
    ]
}

pub fn any_fields() -> impl Strategy<Value = Fields> {
    prop::collection::btree_map(key(), any_json(), 0..8).prop_map(|map| map.into_iter().collect())
}
