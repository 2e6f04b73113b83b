//! `batch_body`: the bodies of `POST /api/sync/batch` (request and response) and of
//! `GET /api/sync/changes`.

use legato_protocol::{
    BatchRequest, BatchResponse, Change, ChangesResponse, ErrorCode, MAX_BATCH_ITEMS, Operation,
};
use legato_server::apply::{Evaluation, Stored, content_hash, data_hash, evaluate};
use legato_server::extract::parse_json;
use legato_server::http::{RawBatch, parse_item};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Properties:
/// - the server reads the body as its handler does (`parse_json::<RawBatch>`, then
///   `parse_item` per item); every failure is `invalid`, an item's error names its index;
/// - an item the server accepts serializes and parses back to the same change, and the
///   server's pure apply step (`apply::evaluate`) decides it against an unknown id without
///   panicking: only a `create` can be written, at version 1, and the same create evaluated
///   again on what it wrote changes nothing (rule 2, then rule 6);
/// - the content hash ignores `clientId` and `timestamp`, the data hash also `baseVersion`;
/// - what the client's `BatchRequest` type writes, the server reads item for item; the
///   `BatchResponse` and `ChangesResponse` a client reads round-trip.
pub fn batch_body(data: &[u8]) {
    match parse_json::<RawBatch>(data) {
        Ok(raw) => {
            // The handler answers `too_large` above this; parsing each item is what follows.
            if raw.items.len() <= MAX_BATCH_ITEMS {
                for (index, item) in raw.items.into_iter().enumerate() {
                    match parse_item(index, item) {
                        Ok(change) => check_change(&change),
                        Err((_change_id, error)) => {
                            assert_eq!(error.code, ErrorCode::Invalid);
                            let prefix = format!("items[{index}]");
                            assert!(error.message.starts_with(&prefix), "{}", error.message);
                        }
                    }
                }
            }
        }
        Err(err) => assert_eq!(err.code, ErrorCode::Invalid, "{}", err.message),
    }

    if let Some(request) = round_trip::<BatchRequest>(data) {
        let body = serde_json::to_vec(&request).expect("serializes");
        let raw = parse_json::<RawBatch>(&body).expect("the server reads the client's body");
        assert_eq!(raw.items.len(), request.items.len());
        for (index, (item, sent)) in raw.items.into_iter().zip(&request.items).enumerate() {
            let read = parse_item(index, item).expect("the server reads the client's item");
            assert_eq!(&read, sent);
        }
    }
    round_trip::<BatchResponse>(data);
    round_trip::<ChangesResponse>(data);
}

/// Parses `data` as `T`; when it parses, serializing and parsing again gives the same value.
fn round_trip<T>(data: &[u8]) -> Option<T>
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let value = serde_json::from_slice::<T>(data).ok()?;
    let json = serde_json::to_vec(&value).expect("protocol types serialize");
    let again: T = serde_json::from_slice(&json).expect("what we write parses back");
    assert_eq!(again, value, "round trip of {}", std::any::type_name::<T>());
    Some(value)
}

fn check_change(change: &Change) {
    let value = serde_json::to_value(change).expect("serializes");
    let again = parse_item(0, value).expect("a serialized change parses back");
    assert_eq!(&again, change);

    let hash = content_hash(change);
    assert_eq!(content_hash(&again), hash);
    let mut other = change.clone();
    other.client_id.push('x');
    other.timestamp = other.timestamp.wrapping_add(1);
    assert_eq!(
        content_hash(&other),
        hash,
        "clientId and timestamp are not content"
    );
    other.base_version = other.base_version.wrapping_add(1);
    assert_eq!(
        data_hash(&other),
        data_hash(change),
        "data hash ignores baseVersion"
    );

    match evaluate(None, change) {
        Evaluation::Reject { code, message } => {
            assert!(
                matches!(
                    code,
                    ErrorCode::Invalid | ErrorCode::NotFound | ErrorCode::TooLarge
                ),
                "{code}: {message}"
            );
            if code == ErrorCode::NotFound {
                assert_ne!(change.operation, Operation::Create);
            }
        }
        Evaluation::Write { record, touched } => {
            assert_eq!(change.operation, Operation::Create);
            assert_eq!(record.version, 1);
            assert!(!record.deleted);
            assert_eq!(record.state, touched);
            let stored = Stored {
                record: record.clone(),
                last_seq: 1,
            };
            match evaluate(Some(&stored), change) {
                Evaluation::Unchanged { version, seq, .. } => {
                    assert_eq!((version, seq), (1, 1));
                }
                other => panic!("the same create again must change nothing: {other:?}"),
            }
        }
        other => panic!("a change of an unknown id cannot be {other:?}"),
    }
}
