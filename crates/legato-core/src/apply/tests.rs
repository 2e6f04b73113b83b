use legato_protocol::{EntityId, deflate_string};
use serde_json::json;

use super::*;

use legato_testkit::fields;

fn change(operation: Operation, base_version: u64, data: Value) -> Change {
    Change {
        change_id: "c-1".into(),
        entity_type: EntityType::Logbook,
        entity_id: EntityId::new("e-1").unwrap(),
        operation,
        data: fields(data),
        base_version,
        client_id: "dev-1".into(),
        timestamp: 1_764_095_400_000,
    }
}

fn initial() -> Value {
    json!({
        "timestamp": "2026-11-25T18:30:00.000Z",
        "duration": 30,
        "notes": "scales",
        "tags": ["a"],
        "x-future": {"kept": ["as", "is"]},
    })
}

/// The record after creating [`initial`] (version 1).
fn created() -> EntityRecord {
    match apply(None, &change(Operation::Create, 0, initial())) {
        ApplyOutcome::Applied { record, .. } => record,
        other => panic!("create failed: {other:?}"),
    }
}

fn apply(current: Option<&EntityRecord>, change: &Change) -> ApplyOutcome {
    apply_change(current, change).unwrap_or_else(|err| panic!("{change:?}: {err}"))
}

/// Applies and expects `Applied`, returning the new record and touched values.
fn applied(current: Option<&EntityRecord>, change: &Change) -> (EntityRecord, Fields, bool) {
    match apply(current, change) {
        ApplyOutcome::Applied {
            record,
            touched,
            changed,
            ..
        } => (record, touched, changed),
        other => panic!("{change:?}: expected applied, got {other:?}"),
    }
}

fn conflict(fields: &[&str], remote_deleted: bool) -> ApplyOutcome {
    ApplyOutcome::Conflict {
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        remote_deleted,
    }
}

/// Version 3: `notes` changed at 2, `duration` at 3.
fn edited_twice() -> EntityRecord {
    let (v2, _, _) = applied(
        Some(&created()),
        &change(Operation::Update, 1, json!({"notes": "arpeggios"})),
    );
    let (v3, _, _) = applied(
        Some(&v2),
        &change(Operation::Update, 2, json!({"duration": 40})),
    );
    v3
}

#[test]
fn create_of_a_new_id_starts_at_version_one() {
    let outcome = apply(None, &change(Operation::Create, 0, initial()));
    let ApplyOutcome::Applied {
        record,
        touched,
        changed,
        operation,
    } = outcome
    else {
        panic!("not applied");
    };
    assert_eq!(record.version, 1);
    assert!(!record.deleted);
    assert!(changed);
    assert_eq!(operation, Operation::Create);
    assert_eq!(record.state, fields(initial()));
    assert_eq!(touched, record.state);
    assert!(record.field_versions.values().all(|&v| v == 1));
    assert_eq!(record.field_versions.len(), record.state.len());
}

#[test]
fn create_inflates_deflated_strings_and_keeps_unknown_fields_verbatim() {
    let notes = "long notes ".repeat(200);
    let mut data = initial();
    data["notes"] = json!({"$deflate": deflate_string(&notes)});
    let (record, touched, _) = applied(None, &change(Operation::Create, 0, data));
    assert_eq!(record.state["notes"], json!(notes));
    assert_eq!(touched["notes"], json!(notes));
    assert_eq!(record.state["x-future"], json!({"kept": ["as", "is"]}));
}

/// Table: (change, expected error field) for changes refused as `invalid`.
#[test]
fn invalid_changes_are_refused_with_the_field() {
    let record = created();
    let cases = [
        (
            change(Operation::Create, 0, json!({"duration": 30})),
            "timestamp",
        ),
        (
            change(
                Operation::Create,
                0,
                json!({"timestamp": "2026-11-25T18:30:00Z", "duration": {"$inc": 1}}),
            ),
            "duration",
        ),
        (
            change(Operation::Update, 1, json!({"duration": null})),
            "duration",
        ),
        (
            change(Operation::Update, 1, json!({"timestamp": null})),
            "timestamp",
        ),
        (
            change(Operation::Update, 1, json!({"duration": {"$inc": 1411}})),
            "duration",
        ),
        (
            change(Operation::Update, 1, json!({"duration": {"$inc": -30}})),
            "duration",
        ),
        (
            change(
                Operation::Update,
                1,
                json!({"tags": {"$addToSet": (0..50).map(|i| i.to_string()).collect::<Vec<_>>()}}),
            ),
            "tags",
        ),
        (
            change(Operation::Update, 1, json!({"notes": {"$deflate": "!!"}})),
            "notes",
        ),
        (
            change(Operation::Update, 1, json!({"notes": {"$inc": 1}})),
            "notes",
        ),
        (
            change(Operation::Update, 1, json!({"x-future": {"$inc": 1}})),
            "x-future",
        ),
        (
            change(
                Operation::Update,
                1,
                json!({"x-future": {"$addToSet": "x"}}),
            ),
            "x-future",
        ),
    ];
    for (change, field) in cases {
        match apply_change(Some(&record), &change) {
            Err(ApplyError::Invalid(err)) => assert_eq!(err.field, field, "{err}"),
            other => panic!("{:?}: expected invalid, got {other:?}", change.data),
        }
    }
    let err = apply_change(None, &change(Operation::Create, 0, json!({}))).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Invalid);
}

#[test]
fn update_or_delete_of_an_unknown_id_is_not_found() {
    for op in [Operation::Update, Operation::Delete] {
        let err = apply_change(None, &change(op, 1, json!({"notes": "x"}))).unwrap_err();
        assert_eq!(err, ApplyError::NotFound);
        assert_eq!(err.code(), ErrorCode::NotFound);
    }
}

/// Table for rule 3 on a record at version 3 (`notes` changed at 2, `duration` at 3):
/// (base version, data, expected conflicting fields or None when applied).
#[test]
fn stale_fields_conflict_only_when_the_value_differs() {
    let record = edited_twice();
    let cases: Vec<(u64, Value, Option<Vec<&str>>)> = vec![
        // Stale on notes, but pushes the value the server already has: no conflict.
        (1, json!({"notes": "arpeggios"}), None),
        // Stale on notes with a different value.
        (1, json!({"notes": "etudes"}), Some(vec!["notes"])),
        (2, json!({"notes": "etudes"}), None),
        // Stale on duration only: notes (changed at 2) is not stale on base 2.
        (
            2,
            json!({"duration": 50, "notes": "etudes"}),
            Some(vec!["duration"]),
        ),
        (
            1,
            json!({"duration": 50, "notes": "etudes", "tags": ["b"]}),
            Some(vec!["duration", "notes"]),
        ),
        // Fields the server has not touched since creation never conflict.
        (1, json!({"tags": ["b"], "mood": "excited"}), None),
        // Commutative operators never conflict, however stale.
        (
            0,
            json!({"duration": {"$inc": 5}, "tags": {"$addToSet": ["z"]}}),
            None,
        ),
        (3, json!({"notes": "etudes", "duration": 50}), None),
    ];
    for (base, data, expected) in cases {
        let outcome = apply(
            Some(&record),
            &change(Operation::Update, base, data.clone()),
        );
        match expected {
            Some(fields) => assert_eq!(outcome, conflict(&fields, false), "{data}"),
            None => assert!(
                matches!(outcome, ApplyOutcome::Applied { .. }),
                "{data}: {outcome:?}"
            ),
        }
    }
}

#[test]
fn non_overlapping_concurrent_edits_both_apply() {
    let v1 = created();
    let (v2, _, _) = applied(
        Some(&v1),
        &change(Operation::Update, 1, json!({"notes": "from A"})),
    );
    let (v3, touched, changed) = applied(
        Some(&v2),
        &change(Operation::Update, 1, json!({"duration": 50})),
    );
    assert!(changed);
    assert_eq!(touched, fields(json!({"duration": 50})));
    assert_eq!(v3.version, 3);
    assert_eq!(v3.state["notes"], json!("from A"));
    assert_eq!(v3.state["duration"], json!(50));
    assert_eq!(v3.field_versions["notes"], 2);
    assert_eq!(v3.field_versions["duration"], 3);
    assert_eq!(v3.field_versions["tags"], 1);
}

#[test]
fn increments_from_two_clients_commute() {
    let v1 = created();
    let a = change(Operation::Update, 1, json!({"duration": {"$inc": 5}}));
    let b = change(Operation::Update, 1, json!({"duration": {"$inc": 10}}));
    let (ab, _, _) = applied(Some(&applied(Some(&v1), &a).0), &b);
    let (ba, touched, _) = applied(Some(&applied(Some(&v1), &b).0), &a);
    assert_eq!(ab.state["duration"], json!(45));
    assert_eq!(ab.state, ba.state);
    assert_eq!(touched, fields(json!({"duration": 45})));
}

#[test]
fn inc_on_a_missing_field_counts_from_zero() {
    let (record, touched, _) = applied(
        Some(&created()),
        &change(Operation::Update, 1, json!({"x-count": {"$inc": 3}})),
    );
    assert_eq!(record.state["x-count"], json!(3));
    assert_eq!(touched, fields(json!({"x-count": 3})));
}

#[test]
fn add_to_set_is_idempotent() {
    let add = change(
        Operation::Update,
        1,
        json!({"tags": {"$addToSet": ["b", "a"]}}),
    );
    let (once, touched, changed) = applied(Some(&created()), &add);
    assert!(changed);
    assert_eq!(once.state["tags"], json!(["a", "b"]));
    assert_eq!(touched, fields(json!({"tags": ["a", "b"]})));
    let (twice, touched, changed) = applied(Some(&once), &add);
    assert!(!changed);
    assert_eq!(twice, once);
    assert_eq!(touched, fields(json!({"tags": ["a", "b"]})));

    let pull = change(Operation::Update, 2, json!({"tags": {"$pull": ["a"]}}));
    let (pulled, _, _) = applied(Some(&once), &pull);
    assert_eq!(pulled.state["tags"], json!(["b"]));
}

#[test]
fn a_no_op_update_changes_nothing() {
    let v1 = created();
    let data = json!({"notes": "scales", "duration": 30, "mood": null, "tags": {"$pull": ["zz"]}});
    let outcome = apply(Some(&v1), &change(Operation::Update, 1, data));
    assert_eq!(
        outcome,
        ApplyOutcome::Applied {
            record: v1,
            touched: fields(
                json!({"notes": "scales", "duration": 30, "mood": null, "tags": ["a"]})
            ),
            changed: false,
            operation: Operation::Update,
        }
    );
}

#[test]
fn only_fields_that_change_get_a_new_field_version() {
    let v1 = created();
    let (v2, touched, _) = applied(
        Some(&v1),
        &change(
            Operation::Update,
            1,
            json!({"notes": "scales", "duration": 35}),
        ),
    );
    assert_eq!(v2.version, 2);
    assert_eq!(v2.field_versions["notes"], 1);
    assert_eq!(v2.field_versions["duration"], 2);
    assert_eq!(touched, fields(json!({"notes": "scales", "duration": 35})));
}

#[test]
fn null_clears_an_optional_field() {
    let (v2, touched, changed) = applied(
        Some(&created()),
        &change(Operation::Update, 1, json!({"notes": null})),
    );
    assert!(changed);
    assert_eq!(v2.state["notes"], Value::Null);
    assert_eq!(touched, fields(json!({"notes": null})));
}

#[test]
fn unknown_fields_are_stored_verbatim() {
    let value = json!({"nested": [1, {"$inc": 1}], "n": 1.5});
    let (v2, touched, _) = applied(
        Some(&created()),
        &change(Operation::Update, 1, json!({"x-new": value.clone()})),
    );
    assert_eq!(v2.state["x-new"], value);
    assert_eq!(touched["x-new"], value);
    assert_eq!(v2.state["x-future"], json!({"kept": ["as", "is"]}));
}

#[test]
fn deflated_update_values_are_stored_inflated() {
    let notes = "ü".repeat(3000);
    let data = json!({"notes": {"$deflate": deflate_string(&notes)}});
    let (v2, touched, _) = applied(Some(&created()), &change(Operation::Update, 1, data));
    assert_eq!(v2.state["notes"], json!(notes));
    assert_eq!(touched["notes"], json!(notes));
}

#[test]
fn create_on_an_existing_id_is_an_update_on_version_zero() {
    let v1 = created();
    // Same content: nothing changes.
    let outcome = apply(Some(&v1), &change(Operation::Create, 0, initial()));
    assert!(matches!(
        outcome,
        ApplyOutcome::Applied {
            changed: false,
            operation: Operation::Update,
            ..
        }
    ));
    // Different values conflict on exactly those fields.
    let mut other = initial();
    other["duration"] = json!(60);
    other["notes"] = json!("other device");
    other["mood"] = json!("excited");
    let outcome = apply(Some(&v1), &change(Operation::Create, 0, other));
    assert_eq!(outcome, conflict(&["duration", "notes"], false));
    // New fields only: applied as an update.
    let mut more = initial();
    more["mood"] = json!("excited");
    let (v2, _, changed) = applied(Some(&v1), &change(Operation::Create, 0, more));
    assert!(changed);
    assert_eq!(v2.version, 2);
    assert_eq!(v2.state["mood"], json!("excited"));
}

#[test]
fn delete_tombstones_and_keeps_the_last_state() {
    let v1 = created();
    let (tomb, touched, changed) = applied(Some(&v1), &change(Operation::Delete, 1, json!({})));
    assert!(changed);
    assert!(touched.is_empty());
    assert!(tomb.deleted);
    assert_eq!(tomb.version, 2);
    assert_eq!(tomb.state, v1.state);
    assert_eq!(tomb.field_versions, v1.field_versions);
}

#[test]
fn delete_on_a_stale_base_conflicts_with_the_changed_fields() {
    let record = edited_twice();
    let outcome = apply(Some(&record), &change(Operation::Delete, 1, json!({})));
    assert_eq!(outcome, conflict(&["duration", "notes"], false));
    let outcome = apply(Some(&record), &change(Operation::Delete, 2, json!({})));
    assert_eq!(outcome, conflict(&["duration"], false));
    let (tomb, _, _) = applied(Some(&record), &change(Operation::Delete, 3, json!({})));
    assert!(tomb.deleted);
    assert_eq!(tomb.version, 4);
}

#[test]
fn changes_to_a_deleted_entity_conflict_as_remote_deleted() {
    let (tomb, _, _) = applied(Some(&created()), &change(Operation::Delete, 1, json!({})));
    let cases = [
        (
            change(
                Operation::Update,
                2,
                json!({"notes": "x", "duration": {"$inc": 1}}),
            ),
            vec!["duration", "notes"],
        ),
        (
            change(Operation::Create, 0, initial()),
            vec!["duration", "notes", "tags", "timestamp", "x-future"],
        ),
        (change(Operation::Delete, 2, json!({})), vec![]),
    ];
    for (change, fields) in cases {
        assert_eq!(
            apply(Some(&tomb), &change),
            conflict(&fields, true),
            "{:?}",
            change.operation
        );
    }
}

#[test]
fn a_field_without_a_recorded_version_counts_as_current() {
    let mut record = created();
    record.version = 5;
    record.field_versions.remove("notes");
    assert_eq!(record.field_version("notes"), 5);
    assert_eq!(record.field_version("never-set"), 0);
    let outcome = apply(
        Some(&record),
        &change(Operation::Update, 4, json!({"notes": "x"})),
    );
    assert_eq!(outcome, conflict(&["notes"], false));
}
