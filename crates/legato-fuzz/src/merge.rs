//! `merge`: legato-core's three-way merge and conflict resolution (section 4).

use legato_core::merge::{NOTES_SEPARATOR, SET_FIELDS, is_bookkeeping_only, is_commutative};
use legato_core::{
    DeleteRule, Resolution, Strategy, apply_patch, delete_against_edit, merge_three_way,
    resolve_conflict, same_value,
};
use legato_protocol::{ConflictData, EntityId, EntityType, FieldValue, Fields};
use serde::Deserialize;
use serde_json::Value;

/// One merge case: the three states, the two write times, and the conflict the server
/// answered (the rejected change's `data`, the conflicting field names, whether the remote
/// entity is deleted). Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct MergeCase {
    /// `None`: no stored base (the merge strategy then merges against `{}`).
    base: Option<Fields>,
    local: Fields,
    remote: Fields,
    local_ts: i64,
    remote_ts: i64,
    /// The conflicted change's `data` (plain values and operators).
    pushed: Fields,
    fields: Vec<String>,
    remote_deleted: bool,
}

/// Set fields with more elements than this skip the quadratic membership checks.
const SET_CHECK_LEN: usize = 256;

/// Properties of `merge_three_way` (each one stated in `docs/core-choices.md`):
/// - an unchanged local side gives the remote exactly: `merge(b, b, r) == r`;
/// - both sides equal gives that side exactly: `merge(b, x, x) == x`;
/// - an unchanged remote side gives local (absent = `null`): `merge(b, l, b) ≈ l`;
/// - per field changed on both sides to different values: `duration` the larger integer,
///   `notes` the two texts joined by the separator, set fields a three-way set merge (no
///   duplicates, nothing invented, common elements and additions kept), any field without
///   a rule the later write (local only when strictly later);
/// - the merge is deterministic.
///
/// And of `resolve_conflict` under every strategy: `manual` asks unless the conflict is
/// bookkeeping only; a deleted remote is accepted (`remote`) or re-created (`local`,
/// `merge`) with the local state; a push is never empty, keeps every commutative operation
/// of the change as the operation it was, and its data applied to the remote gives its
/// state. `delete_against_edit` follows its table.
pub fn merge(data: &[u8]) {
    let Ok(case) = serde_json::from_slice::<MergeCase>(data) else {
        return;
    };
    let base = case.base.clone().unwrap_or_default();
    let (local, remote) = (&case.local, &case.remote);
    let (lt, rt) = (case.local_ts, case.remote_ts);

    assert_eq!(&merge_three_way(&base, &base, remote, lt, rt), remote);
    assert_eq!(&merge_three_way(&base, local, local, lt, rt), local);
    assert_equivalent(&merge_three_way(&base, local, &base, lt, rt), local);
    let merged = merge_three_way(&base, local, remote, lt, rt);
    assert_eq!(merge_three_way(&base, local, remote, lt, rt), merged);
    for name in merged.keys() {
        assert!(
            base.contains_key(name) || local.contains_key(name) || remote.contains_key(name),
            "{name} came from nowhere"
        );
    }
    for name in base.keys().chain(local.keys()).chain(remote.keys()) {
        check_field(name, &base, local, remote, &merged, lt > rt);
    }

    check_resolutions(&case);
}

/// Equal field by field, counting an absent field as `null`.
fn assert_equivalent(a: &Fields, b: &Fields) {
    for name in a.keys().chain(b.keys()) {
        assert!(
            same_value(a.get(name), b.get(name)),
            "{name}: {:?} vs {:?}",
            a.get(name),
            b.get(name)
        );
    }
}

fn check_field(
    name: &str,
    base: &Fields,
    local: &Fields,
    remote: &Fields,
    merged: &Fields,
    local_is_later: bool,
) {
    let (b, l, r, m) = (
        base.get(name),
        local.get(name),
        remote.get(name),
        merged.get(name),
    );
    if same_value(b, l) {
        assert_eq!(m, r, "{name}: unchanged locally takes remote");
        return;
    }
    if same_value(b, r) {
        assert_eq!(m, l, "{name}: unchanged remotely takes local");
        return;
    }
    if same_value(l, r) {
        assert_eq!(m, r, "{name}: the same change on both sides");
        return;
    }
    // Changed on both sides, to different values.
    match name {
        "duration" => {
            if let (Some(a), Some(b)) = (l.and_then(Value::as_i64), r.and_then(Value::as_i64)) {
                assert_eq!(
                    m.and_then(Value::as_i64),
                    Some(a.max(b)),
                    "duration: larger"
                );
            }
        }
        "notes" => {
            if let (Some(Value::String(a)), Some(Value::String(b))) = (l, r)
                && !a.is_empty()
                && !b.is_empty()
            {
                let joined = format!("{a}{NOTES_SEPARATOR}{b}");
                assert_eq!(m.and_then(Value::as_str), Some(joined.as_str()), "notes");
            }
        }
        "updatedAt" => {
            // The later date-time; if only one parses, that one; neither: the later write.
            assert!(m == l || m == r, "updatedAt takes one side");
        }
        _ if SET_FIELDS.contains(&name) => check_set(name, b, l, r, m),
        _ => {
            let later = if local_is_later { l } else { r };
            assert_eq!(m, later, "{name}: the later write");
        }
    }
}

/// Elements of a set field: absent and `null` are the empty set; `None` for a non-array.
fn elements(value: Option<&Value>) -> Option<&[Value]> {
    match value {
        None | Some(Value::Null) => Some(&[]),
        Some(Value::Array(items)) => Some(items),
        Some(_) => None,
    }
}

fn check_set(
    name: &str,
    base: Option<&Value>,
    local: Option<&Value>,
    remote: Option<&Value>,
    merged: Option<&Value>,
) {
    let (Some(l), Some(r)) = (elements(local), elements(remote)) else {
        // Not a set on both sides: the last-write fallback takes one side.
        assert!(merged == local || merged == remote, "{name}: fallback");
        return;
    };
    let b = elements(base).unwrap_or_default();
    let Some(Value::Array(m)) = merged else {
        panic!("{name}: a set merge gives an array, got {merged:?}");
    };
    if [l.len(), r.len(), b.len(), m.len()]
        .iter()
        .any(|&n| n > SET_CHECK_LEN)
    {
        return;
    }
    for (i, item) in m.iter().enumerate() {
        assert!(!m[..i].contains(item), "{name}: {item} twice");
        assert!(
            l.contains(item) || r.contains(item),
            "{name}: {item} invented"
        );
        if b.contains(item) {
            assert!(
                l.contains(item) && r.contains(item),
                "{name}: {item} was removed on one side and came back"
            );
        }
    }
    for item in l.iter().chain(r) {
        let kept = (l.contains(item) && r.contains(item)) || !b.contains(item);
        assert_eq!(m.contains(item), kept, "{name}: {item}");
    }
}

const STRATEGIES: [Strategy; 4] = [
    Strategy::Local,
    Strategy::Remote,
    Strategy::Merge,
    Strategy::Manual,
];

fn check_resolutions(case: &MergeCase) {
    let conflict = ConflictData {
        change_id: "fuzz-change".to_owned(),
        entity_type: EntityType::Logbook,
        entity_id: EntityId::new("fuzz").expect("a valid id"),
        base_version: 1,
        remote_version: 2,
        remote_deleted: case.remote_deleted,
        local: case.pushed.clone(),
        remote: case.remote.clone(),
        fields: case.fields.clone(),
    };
    let bookkeeping = is_bookkeeping_only(&conflict);
    let ops: Vec<(&String, &Value)> = case
        .pushed
        .iter()
        .filter(|(_, value)| is_commutative(value))
        .collect();
    // States never hold operator-shaped values; with such garbage a pushed value would be
    // read as an operator again, and the last check below does not apply.
    let plain_states = [case.base.as_ref(), Some(&case.local), Some(&case.remote)]
        .into_iter()
        .flatten()
        .all(|state| {
            state
                .values()
                .all(|value| matches!(FieldValue::classify(value), FieldValue::Plain(_)))
        });

    for strategy in STRATEGIES {
        let resolution = resolve_conflict(
            strategy,
            case.base.as_ref(),
            &case.local,
            &conflict,
            case.local_ts,
        );
        let effective = if bookkeeping && !case.remote_deleted {
            Strategy::Merge
        } else {
            strategy
        };
        match (effective, case.remote_deleted) {
            (Strategy::Manual, _) => assert_eq!(resolution, Resolution::Manual),
            (Strategy::Remote, true) => assert_eq!(resolution, Resolution::AcceptRemote),
            (Strategy::Local | Strategy::Merge, true) => assert_eq!(
                resolution,
                Resolution::Recreate {
                    state: case.local.clone()
                }
            ),
            (_, false) => match &resolution {
                Resolution::Push { data, state } => {
                    assert!(!data.is_empty(), "{strategy:?}: an empty push");
                    for (name, op) in &ops {
                        assert_eq!(data.get(*name), Some(*op), "{strategy:?}: {name} lost");
                    }
                    let mut patched = case.remote.clone();
                    if plain_states && apply_patch(&mut patched, data).is_ok() {
                        assert_equivalent(&patched, state);
                    }
                }
                Resolution::AcceptRemote => {
                    assert!(ops.is_empty(), "{strategy:?}: operations dropped")
                }
                other => panic!("{strategy:?}: unexpected {other:?}"),
            },
        }

        let rule = delete_against_edit(strategy, &conflict);
        let expected = if bookkeeping {
            Some(DeleteRule::DeleteWins)
        } else {
            match strategy {
                Strategy::Local => Some(DeleteRule::DeleteWins),
                Strategy::Remote | Strategy::Merge => Some(DeleteRule::EditWins),
                Strategy::Manual => None,
            }
        };
        assert_eq!(rule, expected, "delete against edit under {strategy:?}");
    }
}
