//! Differential sync on the wire: outbox changes already carry only the changed fields; long
//! strings additionally travel as `{"$deflate": ...}` when that is smaller (PROTOCOL.md
//! section 3).

use legato_protocol::{
    Change, DEFLATE_THRESHOLD_CHARS, FieldValue, Fields, Operation, deflate_string,
};
use serde_json::Value;

/// `{"$deflate":""}` around the base64 text.
const DEFLATE_WRAPPER_BYTES: usize = 14;

/// The change as it goes on the wire: top-level string values over the threshold replaced by
/// their `$deflate` form when that is smaller. The stored change is not touched (the store's
/// ack handling reads the plain values it kept).
pub fn wire_change(change: &Change, compress: bool) -> Change {
    let mut wire = change.clone();
    if compress && change.operation != Operation::Delete {
        compress_fields(&mut wire.data);
    }
    wire
}

/// Replaces long plain strings in `data` by `$deflate` values when smaller. Operator values
/// (`$inc`, `$addToSet`, ...) and short strings are left alone.
pub fn compress_fields(data: &mut Fields) {
    for value in data.values_mut() {
        if !matches!(FieldValue::classify(value), FieldValue::Plain(_)) {
            continue;
        }
        let Value::String(text) = value else { continue };
        // Cheap byte test first: fewer bytes than the threshold means fewer characters too.
        if text.len() <= DEFLATE_THRESHOLD_CHARS || text.chars().count() <= DEFLATE_THRESHOLD_CHARS
        {
            continue;
        }
        let encoded = deflate_string(text);
        if encoded.len() + DEFLATE_WRAPPER_BYTES < text.len() {
            *value = serde_json::json!({ "$deflate": encoded });
        }
    }
}

#[cfg(test)]
mod tests {
    use legato_protocol::{EntityId, EntityType, inflate_string};
    use serde_json::json;

    use super::*;

    fn change(operation: Operation, data: Value) -> Change {
        Change {
            change_id: "c".into(),
            entity_type: EntityType::Logbook,
            entity_id: EntityId::new("e").unwrap(),
            operation,
            data: data.as_object().unwrap().clone(),
            base_version: 1,
            client_id: "d".into(),
            timestamp: 1,
        }
    }

    fn noise(len: usize) -> String {
        // A linear congruential generator: text that DEFLATE cannot shrink much.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                char::from(b'!' + ((x >> 33) % 90) as u8)
            })
            .collect()
    }

    #[test]
    fn long_compressible_strings_are_deflated_others_kept() {
        let long = "slow practice, hands separately. ".repeat(60);
        let noise = noise(1500);
        let original = change(
            Operation::Update,
            json!({"notes": long, "title": "x", "duration": 5, "r": noise,
                   "tags": {"$addToSet": ["a"]}, "exactly": "a".repeat(1000)}),
        );
        let wire = wire_change(&original, true);
        let encoded = wire.data["notes"]["$deflate"].as_str().unwrap();
        assert_eq!(inflate_string(encoded).unwrap(), long);
        for key in ["title", "duration", "r", "tags", "exactly"] {
            assert_eq!(wire.data[key], original.data[key], "{key}");
        }
        assert_eq!(
            original.data["notes"],
            json!(long),
            "the stored change is untouched"
        );
    }

    #[test]
    fn disabled_or_delete_sends_as_stored() {
        let original = change(Operation::Update, json!({"notes": "n".repeat(5000)}));
        assert_eq!(wire_change(&original, false), original);
        let delete = change(Operation::Delete, json!({"notes": "n".repeat(5000)}));
        assert_eq!(wire_change(&delete, true), delete);
    }

    #[test]
    fn counts_characters_not_bytes() {
        // 600 characters, 1200 bytes: under the threshold.
        let text = "é".repeat(600);
        let mut data = json!({"notes": text}).as_object().unwrap().clone();
        compress_fields(&mut data);
        assert_eq!(data["notes"], json!(text));
    }
}
