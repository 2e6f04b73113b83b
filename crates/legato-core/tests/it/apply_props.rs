//! Properties of the apply rule (PROTOCOL.md section 3).

use legato_core::{ApplyOutcome, EntityRecord, Fields, apply_change, diff_fields, validate_state};
use legato_protocol::{Change, EntityId, EntityType, Operation};
use proptest::prelude::*;
use serde_json::json;

use crate::config;
use crate::strategies::{TAG_POOL, any_fields, logbook_state};

fn change(
    entity_type: EntityType,
    operation: Operation,
    base_version: u64,
    data: Fields,
) -> Change {
    Change {
        change_id: "c".into(),
        entity_type,
        entity_id: EntityId::new("e").unwrap(),
        operation,
        data,
        base_version,
        client_id: "dev".into(),
        timestamp: 0,
    }
}

fn applied(current: Option<&EntityRecord>, change: &Change) -> (EntityRecord, bool) {
    match apply_change(current, change) {
        Ok(ApplyOutcome::Applied {
            record, changed, ..
        }) => (record, changed),
        other => panic!("expected applied, got {other:?}"),
    }
}

fn create(state: Fields) -> EntityRecord {
    applied(
        None,
        &change(EntityType::Logbook, Operation::Create, 0, state),
    )
    .0
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reapplying_an_update_on_the_new_version_changes_nothing(
        initial in logbook_state(), edited in logbook_state(),
    ) {
        let v1 = create(initial);
        let data = diff_fields(&v1.state, &edited);
        let update = change(EntityType::Logbook, Operation::Update, 1, data.clone());
        let (v2, changed) = applied(Some(&v1), &update);
        prop_assert_eq!(changed, !data.is_empty());
        validate_state(EntityType::Logbook, &v2.state).unwrap();

        let again = change(EntityType::Logbook, Operation::Update, v2.version, data);
        let (v3, changed) = applied(Some(&v2), &again);
        prop_assert!(!changed);
        prop_assert_eq!(v3, v2);
    }

    #[test]
    fn add_to_set_is_idempotent(
        initial in logbook_state(), added in prop::sample::subsequence(TAG_POOL, 0..=TAG_POOL.len()),
        base in 0..3_u64,
    ) {
        let v1 = create(initial);
        let data: Fields = [("tags".to_owned(), json!({"$addToSet": added}))].into_iter().collect();
        let update = change(EntityType::Logbook, Operation::Update, base, data);
        let (once, _) = applied(Some(&v1), &update);
        let (twice, changed) = applied(Some(&once), &update);
        prop_assert!(!changed);
        prop_assert_eq!(twice, once);
    }

    #[test]
    fn increments_commute(initial in logbook_state(), a in -20..20_i64, b in -20..20_i64) {
        let v1 = create(initial);
        let inc = |n: i64| {
            let data: Fields = [("x-count".to_owned(), json!({"$inc": n}))].into_iter().collect();
            change(EntityType::Logbook, Operation::Update, 1, data)
        };
        let (ab, _) = applied(Some(&applied(Some(&v1), &inc(a)).0), &inc(b));
        let (ba, _) = applied(Some(&applied(Some(&v1), &inc(b)).0), &inc(a));
        prop_assert_eq!(&ab.state, &ba.state);
        prop_assert_eq!(&ab.state["x-count"], &json!(a + b));
    }

    #[test]
    fn apply_change_never_panics(
        data in any_fields(),
        current in proptest::option::of((any_fields(), 0..4_u64, any::<bool>())),
        entity_type in prop::sample::select(&EntityType::ALL[..]),
        operation in prop::sample::select(&[Operation::Create, Operation::Update, Operation::Delete][..]),
        base in 0..4_u64,
    ) {
        let record = current.map(|(state, version, deleted)| EntityRecord {
            field_versions: state.keys().map(|k| (k.clone(), version)).collect(),
            state,
            version,
            deleted,
        });
        let change = change(entity_type, operation, base, data);
        if let Ok(ApplyOutcome::Applied { record: new, changed: true, .. }) =
            apply_change(record.as_ref(), &change)
        {
            prop_assert!(new.version > record.as_ref().map_or(0, |r| r.version));
        }
    }

    /// Garbage updates against a valid record: never a panic, and whatever is applied
    /// leaves a valid state with the version rules intact.
    #[test]
    fn garbage_updates_keep_valid_records_valid(
        initial in logbook_state(), data in any_fields(), base in 0..3_u64,
        operation in prop::sample::select(&[Operation::Create, Operation::Update][..]),
    ) {
        let v1 = create(initial);
        let (v2, _) = applied(Some(&v1), &change(EntityType::Logbook, Operation::Update, 1,
            [("notes".to_owned(), json!("edited"))].into_iter().collect()));
        match apply_change(Some(&v2), &change(EntityType::Logbook, operation, base, data.clone())) {
            Ok(ApplyOutcome::Applied { record, changed, touched, .. }) => {
                prop_assert!(validate_state(EntityType::Logbook, &record.state).is_ok());
                prop_assert_eq!(record.version, v2.version + u64::from(changed));
                prop_assert_eq!(touched.keys().collect::<Vec<_>>(), data.keys().collect::<Vec<_>>());
                for (name, value) in &touched {
                    prop_assert_eq!(record.state.get(name).unwrap_or(&serde_json::Value::Null), value);
                }
            }
            Ok(ApplyOutcome::Conflict { fields, remote_deleted }) => {
                prop_assert!(!remote_deleted);
                prop_assert!(fields.iter().all(|f| data.contains_key(f)));
                prop_assert!(fields.windows(2).all(|w| w[0] < w[1]));
            }
            Err(_) => {}
        }
    }

    #[test]
    fn a_created_state_is_always_valid(data in any_fields(), entity_type in prop::sample::select(&EntityType::ALL[..])) {
        let change = change(entity_type, Operation::Create, 0, data);
        if let Ok(ApplyOutcome::Applied { record, .. }) = apply_change(None, &change) {
            prop_assert!(validate_state(entity_type, &record.state).is_ok());
        }
    }
}
