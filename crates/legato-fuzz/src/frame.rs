//! `frame`: one WebSocket text frame, read by both sides' real parsers.

use legato_protocol::{ClientMessage, ServerMessage};
use serde_json::Value;

/// Parses `data` as a client→server frame (what the server reads) and as a server→client
/// frame (what a client reads). Properties:
/// - parsing never panics, and a failure is a typed error that the server can describe
///   (`describe_parse_error`, the `invalid` answer it sends);
/// - a parsed message serializes and parses back to the same message, and its
///   serialization is stable (the second `to_json` gives the same text);
/// - the message's type is the frame's `type` (the last one, as in a JSON object where a
///   later key wins), so the type check and the payload parse agree.
pub fn frame(data: &[u8]) {
    // Text frames are UTF-8 by the WebSocket protocol: the server never sees other bytes.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ClientMessage::parse(text) {
        Ok(message) => {
            let json = message.to_json();
            let again = ClientMessage::parse(&json)
                .unwrap_or_else(|err| panic!("{json} does not parse back: {err}"));
            assert_eq!(again, message, "client frame round trip");
            assert_eq!(
                again.to_json(),
                json,
                "client frame serialization is stable"
            );
            assert_same_type(text, &json);
        }
        Err(err) => {
            let (message, _change_id) = legato_server::ws::describe_parse_error(text, &err);
            assert!(!message.is_empty(), "an `invalid` answer names the problem");
        }
    }
    match ServerMessage::parse(text) {
        Ok(message) => {
            let json = message.to_json();
            let again = ServerMessage::parse(&json)
                .unwrap_or_else(|err| panic!("{json} does not parse back: {err}"));
            assert_eq!(again, message, "server frame round trip");
            assert_eq!(
                again.to_json(),
                json,
                "server frame serialization is stable"
            );
            assert_same_type(text, &json);
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }
}

/// The `type` of the parsed frame equals the `type` of the message it parsed into.
///
/// Only for frames that also parse as a `serde_json::Value`: the message parsers skip the
/// fields they do not read without building them, and serde_json skips a string with a
/// lone surrogate escape (`"\ud800"`, legal JSON syntax but no Unicode text) that a
/// `Value` refuses; such a frame still parses into the same message (found by this target:
/// `fuzz/regressions/frame/lone_surrogate_in_unknown_field`).
fn assert_same_type(frame: &str, serialized: &str) {
    let Ok(frame) = serde_json::from_str::<Value>(frame) else {
        return;
    };
    let serialized: Value = serde_json::from_str(serialized).expect("we write JSON");
    assert_eq!(
        frame.get("type"),
        serialized.get("type"),
        "the frame's `type` and the parsed message's differ"
    );
}
