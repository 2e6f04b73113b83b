//! Value encodings that may stand in place of a field value in a change (section 3).

use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use serde_json::Value;

use crate::MAX_MESSAGE_BYTES;

/// One field value of a change's `data`, with the operator encodings recognised.
///
/// An operator is a JSON object with exactly one key, which is one of `$inc`, `$addToSet`,
/// `$pull`, `$deflate`, and whose argument has the right JSON type. Anything else (including
/// an object with a `$`-key and a wrong argument type) is [`FieldValue::Malformed`] when the
/// key is a known operator, so a typo never gets stored as a plain value by accident.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    Plain(&'a Value),
    Inc(i64),
    AddToSet(&'a [Value]),
    Pull(&'a [Value]),
    Deflate(&'a str),
    /// A known operator with an argument of the wrong type; the string names the operator.
    Malformed(&'static str),
}

impl<'a> FieldValue<'a> {
    pub fn classify(value: &'a Value) -> FieldValue<'a> {
        let Value::Object(map) = value else {
            return FieldValue::Plain(value);
        };
        if map.len() != 1 {
            return FieldValue::Plain(value);
        }
        let (key, arg) = map.iter().next().expect("len is 1");
        match key.as_str() {
            "$inc" => arg
                .as_i64()
                .map_or(FieldValue::Malformed("$inc"), FieldValue::Inc),
            "$addToSet" => arg
                .as_array()
                .map_or(FieldValue::Malformed("$addToSet"), |a| {
                    FieldValue::AddToSet(a)
                }),
            "$pull" => arg
                .as_array()
                .map_or(FieldValue::Malformed("$pull"), |a| FieldValue::Pull(a)),
            "$deflate" => arg
                .as_str()
                .map_or(FieldValue::Malformed("$deflate"), FieldValue::Deflate),
            _ => FieldValue::Plain(value),
        }
    }

    /// True for the commutative operators, which never conflict.
    pub fn is_commutative(&self) -> bool {
        matches!(
            self,
            FieldValue::Inc(_) | FieldValue::AddToSet(_) | FieldValue::Pull(_)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    #[error("$deflate value is not valid base64")]
    Base64,
    #[error("$deflate value is not valid raw DEFLATE data")]
    Deflate,
    #[error("$deflate value inflates to more than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    #[error("$deflate value does not inflate to UTF-8 text")]
    Utf8,
}

/// Compresses `text` as raw DEFLATE and encodes it in standard base64 (the `$deflate` form).
pub fn deflate_string(text: &str) -> String {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(text.as_bytes())
        .expect("writing to a Vec cannot fail");
    BASE64.encode(encoder.finish().expect("writing to a Vec cannot fail"))
}

/// Decodes a `$deflate` argument. The inflated size is bounded by [`MAX_MESSAGE_BYTES`] so a
/// small "zip bomb" cannot make the receiver allocate without limit.
pub fn inflate_string(encoded: &str) -> Result<String, InflateError> {
    let compressed = BASE64.decode(encoded).map_err(|_| InflateError::Base64)?;
    let mut out = Vec::new();
    DeflateDecoder::new(compressed.as_slice())
        .take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| InflateError::Deflate)?;
    if out.len() > MAX_MESSAGE_BYTES {
        return Err(InflateError::TooLarge);
    }
    String::from_utf8(out).map_err(|_| InflateError::Utf8)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn classifies_operators() {
        let inc = json!({"$inc": 5});
        assert_eq!(FieldValue::classify(&inc), FieldValue::Inc(5));
        let add = json!({"$addToSet": ["a"]});
        assert!(matches!(FieldValue::classify(&add), FieldValue::AddToSet(a) if a.len() == 1));
        let pull = json!({"$pull": ["a", "b"]});
        assert!(matches!(FieldValue::classify(&pull), FieldValue::Pull(a) if a.len() == 2));
        let bad = json!({"$inc": "x"});
        assert_eq!(FieldValue::classify(&bad), FieldValue::Malformed("$inc"));
        let plain = json!({"$inc": 1, "other": 2});
        assert!(matches!(FieldValue::classify(&plain), FieldValue::Plain(_)));
        let meta = json!({"key": "value"});
        assert!(matches!(FieldValue::classify(&meta), FieldValue::Plain(_)));
        assert!(FieldValue::classify(&inc).is_commutative());
    }

    #[test]
    fn deflate_round_trips_and_rejects_garbage() {
        let text = "slow practice, ".repeat(200) + "ünïcödé";
        let encoded = deflate_string(&text);
        assert!(encoded.len() < text.len());
        assert_eq!(inflate_string(&encoded).unwrap(), text);
        assert_eq!(inflate_string("***"), Err(InflateError::Base64));
        assert_eq!(
            inflate_string(&BASE64.encode([0xff, 0xff, 0xff])),
            Err(InflateError::Deflate)
        );

        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&[0xc3, 0x28]).unwrap();
        let not_utf8 = BASE64.encode(encoder.finish().unwrap());
        assert_eq!(inflate_string(&not_utf8), Err(InflateError::Utf8));
    }

    #[test]
    fn inflation_is_bounded() {
        let bomb = deflate_string(&"a".repeat(MAX_MESSAGE_BYTES + 10));
        assert!(bomb.len() < 10_000);
        assert_eq!(inflate_string(&bomb), Err(InflateError::TooLarge));
    }
}
