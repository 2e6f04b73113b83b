//! `deflate`: `$deflate` values (section 3) through the real decoder and its limit.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use legato_core::decode_deflated;
use legato_protocol::{
    Fields, InflateError, MAX_INFLATED_BYTES_PER_CHANGE, MAX_MESSAGE_BYTES, check_inflate_budget,
    deflate_string, inflate_fields, inflate_string,
};
use serde_json::{Value, json};

/// Texts up to this many bytes are also re-encoded and decoded again (round trip); larger
/// ones only cost time.
const ROUND_TRIP_BYTES: usize = 64 * 1024;

/// Reads `data` three ways:
/// - as the text of a `$deflate` argument (when UTF-8), through `inflate_string` and through
///   `decode_deflated` (what the server's apply and the client store call), which agree;
/// - as raw DEFLATE bytes, base64-encoded first, so the decoder itself meets every input
///   (the fuzzer rarely writes valid base64 of a valid stream on its own);
/// - as plain text that a sender compresses: `deflate_string` and the server's
///   `compress_fields` decode back to the same text.
///
/// Properties: decoding never panics, a decoded text is never over [`MAX_MESSAGE_BYTES`]
/// (the zip-bomb limit), a decoded text encodes and decodes back to itself, and the two
/// budget checks of a change (`check_inflate_budget`, `inflate_fields`) agree.
pub fn deflate(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let inflated = check_inflate(text);
        let field = Fields::from_iter([("notes".to_owned(), json!({ "$deflate": text }))]);
        match (decode_deflated(&field), inflated) {
            (Ok(decoded), Ok(inflated)) => assert_eq!(decoded["notes"], Value::String(inflated)),
            (Err(err), Err(_)) => assert_eq!(err.field, "notes"),
            (decoded, inflated) => {
                panic!("decode_deflated {decoded:?} disagrees with inflate_string {inflated:?}")
            }
        }
    }
    let encoded = BASE64.encode(data);
    let _ = check_inflate(&encoded);
    check_budget(&encoded);

    let text = String::from_utf8_lossy(data);
    assert_eq!(
        inflate_string(&deflate_string(&text)).as_deref(),
        Ok(&*text),
        "deflate then inflate"
    );
    let mut fields = Fields::from_iter([("notes".to_owned(), Value::String(text.to_string()))]);
    legato_server::ws::compress_fields(&mut fields);
    let decoded = decode_deflated(&fields).expect("what the server compresses decodes");
    assert_eq!(decoded["notes"].as_str(), Some(&*text));
}

fn check_inflate(encoded: &str) -> Result<String, InflateError> {
    let result = inflate_string(encoded);
    if let Ok(text) = &result {
        assert!(text.len() <= MAX_MESSAGE_BYTES, "inflated past the limit");
        if text.len() <= ROUND_TRIP_BYTES {
            assert_eq!(
                inflate_string(&deflate_string(text)).as_ref(),
                Ok(text),
                "re-encoding a decoded text"
            );
        }
    }
    result
}

/// The same value in three fields of one change: `inflate_fields` and the counting
/// `check_inflate_budget` agree on the total (within [`MAX_INFLATED_BYTES_PER_CHANGE`]) or
/// on the failing field and error (the counter does not look at UTF-8).
fn check_budget(encoded: &str) {
    let data = Fields::from_iter(
        ["a", "b", "c"].map(|name| (name.to_owned(), json!({ "$deflate": encoded }))),
    );
    let counted = check_inflate_budget(&data);
    match inflate_fields(&data) {
        Ok(inflated) => {
            let total: usize = inflated.values().map(|v| v.as_str().unwrap().len()).sum();
            assert!(
                total <= MAX_INFLATED_BYTES_PER_CHANGE,
                "inflated past the budget"
            );
            assert_eq!(counted, Ok(total), "the counted total");
        }
        Err(err) if err.error == InflateError::Utf8 => {}
        Err(err) => assert_eq!(counted, Err(err), "the budget checks disagree"),
    }
}
