//! Operations on field maps shared by server and client: patches with operators, diffs,
//! `$deflate` decoding.
//!
//! One convention runs through all of them: an absent field and a field holding `null` are
//! the same value ([`same_value`]). Section 3 stores `null` for a cleared field, section 4
//! counts a field missing from the base as unset; treating the two alike means neither a
//! diff nor the apply rule ever reports a change that is only a difference of spelling.

use std::collections::HashSet;

use legato_protocol::{FieldValue, Fields, has_deflated, inflate_fields};
use serde_json::Value;

use crate::validate::{ValidationError, inflate_field};

/// Replaces every `{"$deflate": ..}` value in `data` by its inflated string, all of them
/// within one budget ([`legato_protocol::inflate_fields`]). Error names the field whose
/// value does not inflate to UTF-8 or goes over the budget.
pub fn decode_deflated(data: &Fields) -> Result<Fields, ValidationError> {
    inflate_fields(data).map_err(ValidationError::from)
}

/// Applies a patch (plain values and `$inc`/`$addToSet`/`$pull`/`$deflate` operators) to a
/// state in place; returns the resulting values of the touched fields.
///
/// Operators on a missing or `null` field start from the empty value: `$inc` counts from 0,
/// `$addToSet` from `[]`, and `$pull` leaves it `null` (there is nothing to remove). On error
/// `state` is left untouched.
pub fn apply_patch(state: &mut Fields, patch: &Fields) -> Result<Fields, ValidationError> {
    // Inflated up front, so the patch's `$deflate` values share one budget.
    let inflated;
    let patch = if has_deflated(patch) {
        inflated = decode_deflated(patch)?;
        &inflated
    } else {
        patch
    };
    let resolved = patch
        .iter()
        .map(|(name, value)| Ok((name.clone(), resolve(state.get(name), name, value)?)))
        .collect::<Result<Fields, ValidationError>>()?;
    for (name, value) in &resolved {
        state.insert(name.clone(), value.clone());
    }
    Ok(resolved)
}

/// The fields of `new` that differ from `old` (a field absent from `new` but present in `old`
/// comes out as `null`): the `data` of an `update`.
pub fn diff_fields(old: &Fields, new: &Fields) -> Fields {
    let changed = new
        .iter()
        .filter(|(name, value)| !same_value(old.get(*name), Some(value)))
        .map(|(name, value)| (name.clone(), value.clone()));
    let removed = old
        .iter()
        .filter(|(name, value)| !new.contains_key(*name) && !value.is_null())
        .map(|(name, _)| (name.clone(), Value::Null));
    changed.chain(removed).collect()
}

/// Whether two field values are equal, counting an absent field as `null`.
pub fn same_value(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None | Some(Value::Null), None | Some(Value::Null)) => true,
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The new value of one field under one patch value.
fn resolve(current: Option<&Value>, name: &str, value: &Value) -> Result<Value, ValidationError> {
    match FieldValue::classify(value) {
        FieldValue::Plain(value) => Ok(value.clone()),
        FieldValue::Deflate(encoded) => inflate_field(name, encoded).map(Value::String),
        FieldValue::Inc(delta) => increment(current, name, delta),
        FieldValue::AddToSet(items) => {
            let mut list = current_list(current, name, "$addToSet")?;
            let mut present = ValueSet::new(&list);
            for item in items {
                if present.insert(item) {
                    list.push(item.clone());
                }
            }
            Ok(Value::Array(list))
        }
        FieldValue::Pull(items) => match current {
            None | Some(Value::Null) => Ok(Value::Null),
            Some(_) => {
                let list = current_list(current, name, "$pull")?;
                let pulled = ValueSet::new(items);
                Ok(Value::Array(
                    list.into_iter().filter(|v| !pulled.contains(v)).collect(),
                ))
            }
        },
        FieldValue::Malformed(op) => Err(ValidationError::new(
            name,
            format!("malformed `{op}` operator"),
        )),
    }
}

fn increment(current: Option<&Value>, name: &str, delta: i64) -> Result<Value, ValidationError> {
    let start = match current {
        None | Some(Value::Null) => 0,
        Some(value) => value
            .as_i64()
            .ok_or_else(|| ValidationError::new(name, "`$inc` needs an integer value"))?,
    };
    start
        .checked_add(delta)
        .map(Value::from)
        .ok_or_else(|| ValidationError::new(name, "`$inc` overflows a 64-bit integer"))
}

fn current_list(
    current: Option<&Value>,
    name: &str,
    op: &str,
) -> Result<Vec<Value>, ValidationError> {
    match current {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => Ok(list.clone()),
        Some(_) => Err(ValidationError::new(
            name,
            format!("`{op}` needs an array value"),
        )),
    }
}

/// A set of JSON values keyed by a canonical serialization, so set operations on large
/// arrays stay linear (a patch may carry thousands of elements for an unknown field).
pub(crate) struct ValueSet(HashSet<String>);

impl ValueSet {
    pub(crate) fn new<'a>(values: impl IntoIterator<Item = &'a Value>) -> Self {
        ValueSet(values.into_iter().map(canonical_key).collect())
    }

    /// Adds `value`; false if it was already present.
    pub(crate) fn insert(&mut self, value: &Value) -> bool {
        self.0.insert(canonical_key(value))
    }

    pub(crate) fn contains(&self, value: &Value) -> bool {
        self.0.contains(&canonical_key(value))
    }
}

/// Compact JSON with object keys sorted: equal values (by `Value`'s `==`) give equal keys
/// even if serde_json's `preserve_order` feature gets unified into the build, where maps
/// iterate in insertion order.
fn canonical_key(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use legato_protocol::deflate_string;
    use serde_json::json;

    use super::*;

    use legato_testkit::fields;

    #[test]
    fn decode_inflates_deflated_values_only() {
        let long = "ünïcödé ".repeat(300);
        let data = fields(json!({
            "notes": {"$deflate": deflate_string(&long)},
            "duration": 5,
            "tags": {"$addToSet": ["a"]},
        }));
        let decoded = decode_deflated(&data).unwrap();
        assert_eq!(decoded["notes"], json!(long));
        assert_eq!(decoded["duration"], json!(5));
        assert_eq!(decoded["tags"], json!({"$addToSet": ["a"]}));

        let bad = fields(json!({"notes": {"$deflate": "%%%"}}));
        let err = decode_deflated(&bad).unwrap_err();
        assert_eq!(err.field, "notes");
    }

    /// Table: (current value or absent, patch value, resulting value).
    #[test]
    fn patch_values_resolve() {
        let cases: Vec<(Option<Value>, Value, Value)> = vec![
            (Some(json!(1)), json!(2), json!(2)),
            (Some(json!(1)), json!(null), json!(null)),
            (None, json!({"$inc": 5}), json!(5)),
            (Some(json!(null)), json!({"$inc": 5}), json!(5)),
            (Some(json!(40)), json!({"$inc": -5}), json!(35)),
            (
                None,
                json!({"$addToSet": ["a", "a", "b"]}),
                json!(["a", "b"]),
            ),
            (
                Some(json!(["b", "c"])),
                json!({"$addToSet": ["a", "b"]}),
                json!(["b", "c", "a"]),
            ),
            (
                Some(json!([{"k": 1}])),
                json!({"$addToSet": [{"k": 1}]}),
                json!([{"k": 1}]),
            ),
            (
                Some(json!(["a", "b", "a"])),
                json!({"$pull": ["a", "z"]}),
                json!(["b"]),
            ),
            (None, json!({"$pull": ["a"]}), json!(null)),
            (
                Some(json!([1])),
                json!({"$deflate": deflate_string("text")}),
                json!("text"),
            ),
            (Some(json!({"a": 1})), json!({"a": 2}), json!({"a": 2})),
        ];
        for (current, patch_value, expected) in cases {
            let mut state = Fields::new();
            if let Some(current) = current.clone() {
                state.insert("f".into(), current);
            }
            let patch = fields(json!({ "f": patch_value }));
            let touched = apply_patch(&mut state, &patch).unwrap();
            assert_eq!(state["f"], expected, "{current:?} + {patch_value}");
            assert_eq!(touched, fields(json!({ "f": expected })));
        }
    }

    #[test]
    fn patch_errors_leave_the_state_alone() {
        let cases = [
            (json!("text"), json!({"$inc": 1})),
            (json!(1.5), json!({"$inc": 1})),
            (json!(i64::MAX), json!({"$inc": 1})),
            (json!("text"), json!({"$addToSet": [1]})),
            (json!(5), json!({"$pull": [1]})),
            (json!(5), json!({"$inc": "x"})),
        ];
        for (current, patch_value) in cases {
            let mut state = fields(json!({"f": current, "g": 1}));
            let before = state.clone();
            let patch = fields(json!({"g": 2, "f": patch_value}));
            let err = apply_patch(&mut state, &patch).unwrap_err();
            assert_eq!(err.field, "f");
            assert_eq!(state, before);
        }
    }

    #[test]
    fn diff_reports_changed_added_and_removed_fields() {
        let old = fields(json!({"a": 1, "b": [1], "c": "x", "d": null, "e": 1}));
        let new = fields(json!({"a": 1, "b": [1, 2], "e": 1, "f": true, "g": null}));
        assert_eq!(
            diff_fields(&old, &new),
            fields(json!({"b": [1, 2], "c": null, "f": true}))
        );
        assert!(diff_fields(&new, &new).is_empty());
    }

    #[test]
    fn value_sets_compare_like_json_equality() {
        let mut set = ValueSet::new(&[json!({"a": 1, "b": [1, {"c": null}]}), json!("x")]);
        assert!(set.contains(&json!({"b": [1, {"c": null}], "a": 1})));
        assert!(!set.contains(&json!({"a": 1})));
        assert!(!set.contains(&json!(["x"])));
        assert!(!set.insert(&json!("x")));
        assert!(set.insert(&json!(1.0)));
        assert!(set.insert(&json!(1)));
    }

    #[test]
    fn absent_equals_null() {
        assert!(same_value(None, Some(&Value::Null)));
        assert!(same_value(None, None));
        assert!(!same_value(None, Some(&json!(0))));
        assert!(!same_value(Some(&json!([])), Some(&Value::Null)));
        assert!(same_value(
            Some(&json!({"a": [1]})),
            Some(&json!({"a": [1]}))
        ));
    }
}
