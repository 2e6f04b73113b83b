//! Test helpers shared by the workspace's tests: one definition of each, used as a
//! dev-dependency only (`cargo xtask invariants` checks that `fn fields(` lives here alone).
//!
//! Deliberately light (the protocol crate and serde_json): `legato-core`'s unit tests and the
//! server's `conformance` feature use it without a dependency cycle.

use legato_protocol::Fields;
use serde_json::Value;

/// The fields of a JSON object literal, e.g. `fields(json!({"title": "x"}))`.
///
/// # Panics
/// When `value` is not a JSON object.
#[must_use]
pub fn fields(value: Value) -> Fields {
    match value {
        Value::Object(map) => map,
        other => panic!("fields must be a JSON object, got {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_becomes_its_fields() {
        let f = fields(json!({"title": "x", "n": 1}));
        assert_eq!(f.len(), 2);
        assert_eq!(f["title"], json!("x"));
    }

    #[test]
    #[should_panic(expected = "fields must be a JSON object")]
    fn anything_else_panics() {
        let _ = fields(json!([1, 2]));
    }
}
