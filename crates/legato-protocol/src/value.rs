//! Value encodings that may stand in place of a field value in a change (section 3).

use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use serde_json::Value;

use crate::{Fields, MAX_MESSAGE_BYTES};

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
    /// The `$deflate` values of one change (or update) together inflate past
    /// [`MAX_INFLATED_BYTES_PER_CHANGE`].
    #[error(
        "the $deflate values of one change inflate to more than {MAX_INFLATED_BYTES_PER_CHANGE} bytes together"
    )]
    OverBudget,
}

impl InflateError {
    /// True when the input is too big rather than malformed (`too_large`, not `invalid`).
    pub fn is_too_large(&self) -> bool {
        matches!(self, InflateError::TooLarge | InflateError::OverBudget)
    }
}

/// Most bytes the `$deflate` values of one change (or one update) may inflate to, all of
/// them together: the state limit, since every inflated value ends up in the entity's state.
/// Without a shared budget, a change of many small values each inflating to just under the
/// per-value limit makes the receiver inflate and copy gigabytes before any size check.
pub const MAX_INFLATED_BYTES_PER_CHANGE: usize = MAX_MESSAGE_BYTES;

/// A `$deflate` value that failed, and the field that held it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {error}")]
pub struct FieldInflateError {
    pub field: String,
    pub error: InflateError,
}

/// Replaces every top-level `{"$deflate": ..}` value of `data` by its text, all of them
/// inflating within one [`MAX_INFLATED_BYTES_PER_CHANGE`] budget: inflation stops as soon as
/// the running total passes it, so a bomb costs at most the budget in time and memory.
pub fn inflate_fields(data: &Fields) -> Result<Fields, FieldInflateError> {
    let mut left = MAX_INFLATED_BYTES_PER_CHANGE;
    data.iter()
        .map(|(name, value)| {
            let value = match FieldValue::classify(value) {
                FieldValue::Deflate(encoded) => {
                    let text =
                        inflate_within(encoded, left).map_err(|error| FieldInflateError {
                            field: name.clone(),
                            error: budget_error(error, left),
                        })?;
                    left -= text.len();
                    Value::String(text)
                }
                _ => value.clone(),
            };
            Ok((name.clone(), value))
        })
        .collect()
}

/// Checks the `$deflate` values of `data` against the [`MAX_INFLATED_BYTES_PER_CHANGE`]
/// budget without keeping what they inflate to (a fixed buffer, nothing allocated per byte);
/// returns the total inflated size. Cheap enough to run before queueing a change for work
/// that inflates it again. Does not check that the text is UTF-8.
pub fn check_inflate_budget(data: &Fields) -> Result<usize, FieldInflateError> {
    let mut total = 0usize;
    for (name, value) in data {
        if let FieldValue::Deflate(encoded) = FieldValue::classify(value) {
            let left = MAX_INFLATED_BYTES_PER_CHANGE - total;
            total += inflated_len_within(encoded, left).map_err(|error| FieldInflateError {
                field: name.clone(),
                error: budget_error(error, left),
            })?;
        }
    }
    Ok(total)
}

/// True when `data` holds a `$deflate` value at the top level.
pub fn has_deflated(data: &Fields) -> bool {
    data.values()
        .any(|value| matches!(FieldValue::classify(value), FieldValue::Deflate(_)))
}

/// A value over what was left of the budget is over the budget, unless it alone is over the
/// per-value limit.
fn budget_error(error: InflateError, left: usize) -> InflateError {
    if error == InflateError::TooLarge && left < MAX_MESSAGE_BYTES {
        InflateError::OverBudget
    } else {
        error
    }
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
    inflate_within(encoded, MAX_MESSAGE_BYTES)
}

/// [`inflate_string`] with at most `limit` (≤ [`MAX_MESSAGE_BYTES`]) inflated bytes: reading
/// stops at `limit + 1`, which is [`InflateError::TooLarge`].
fn inflate_within(encoded: &str, limit: usize) -> Result<String, InflateError> {
    let compressed = BASE64.decode(encoded).map_err(|_| InflateError::Base64)?;
    let mut out = Vec::new();
    DeflateDecoder::new(compressed.as_slice())
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| InflateError::Deflate)?;
    if out.len() > limit {
        return Err(InflateError::TooLarge);
    }
    String::from_utf8(out).map_err(|_| InflateError::Utf8)
}

/// How many bytes `encoded` inflates to, reading at most `limit + 1` of them into a fixed
/// buffer ([`InflateError::TooLarge`] past `limit`).
fn inflated_len_within(encoded: &str, limit: usize) -> Result<usize, InflateError> {
    let compressed = BASE64.decode(encoded).map_err(|_| InflateError::Base64)?;
    let mut decoder = DeflateDecoder::new(compressed.as_slice()).take(limit as u64 + 1);
    let mut buf = [0u8; 8192];
    let mut total = 0usize;
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(InflateError::Deflate),
        }
    }
    if total > limit {
        return Err(InflateError::TooLarge);
    }
    Ok(total)
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

    /// The issue-11 bomb: many values, each inflating to just under the per-value limit.
    /// Together they are over the change's budget, and both checks say so having inflated
    /// no more than the budget.
    #[test]
    fn the_values_of_one_change_share_one_inflate_budget() {
        let almost = deflate_string(&"a".repeat(MAX_MESSAGE_BYTES - 10));
        let bomb: Fields = (0..740)
            .map(|i| (format!("x{i}"), json!({"$deflate": almost})))
            .collect();
        let over = Err(FieldInflateError {
            field: "x1".to_owned(),
            error: InflateError::OverBudget,
        });
        assert_eq!(check_inflate_budget(&bomb), over.clone().map(|_: Fields| 0));
        assert_eq!(inflate_fields(&bomb), over);
        assert!(InflateError::OverBudget.is_too_large());

        // Within the budget: both agree on the size, and the text comes back.
        let half = "b".repeat(MAX_INFLATED_BYTES_PER_CHANGE / 2);
        let fits: Fields = [
            ("a".to_owned(), json!({"$deflate": deflate_string(&half)})),
            ("b".to_owned(), json!({"$deflate": deflate_string(&half)})),
            ("c".to_owned(), json!(3)),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            check_inflate_budget(&fits),
            Ok(MAX_INFLATED_BYTES_PER_CHANGE)
        );
        let inflated = inflate_fields(&fits).unwrap();
        assert_eq!(inflated["a"], json!(half));
        assert_eq!(inflated["c"], json!(3));
        assert!(has_deflated(&fits) && !has_deflated(&inflated));

        // One more byte is over, and a malformed value is reported as such.
        let mut over_by_one = fits.clone();
        over_by_one.insert("d".to_owned(), json!({"$deflate": deflate_string("z")}));
        assert_eq!(
            check_inflate_budget(&over_by_one).map_err(|e| e.error),
            Err(InflateError::OverBudget)
        );
        let mut bad = fits;
        bad.insert("a".to_owned(), json!({"$deflate": "***"}));
        assert_eq!(
            inflate_fields(&bad).map_err(|e| (e.field, e.error)),
            Err(("a".to_owned(), InflateError::Base64))
        );
    }
}
