//! What to do with one change, as a pure function of the stored entity and the change.
//!
//! Storage backends call [`evaluate`] inside their transaction (after the duplicate check of
//! rule 1) and execute the answer; the rule itself is `legato_core::apply_change`. Keeping
//! this step pure means every backend applies changes the same way and it is tested by table.

use legato_core::{ApplyError, ApplyOutcome, EntityRecord};
use legato_protocol::{Change, ConflictData, ErrorCode, Fields, MAX_MESSAGE_BYTES, UpdateData};

use crate::db::UserId;

/// Longest `changeId` / `clientId` accepted (UUIDs are 36; this leaves room for prefixes).
pub const MAX_ID_CHARS: usize = 128;

/// The entity as stored, with the seq of its last change.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub record: EntityRecord,
    pub last_seq: u64,
}

/// What the backend must do for one change.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    /// Answer `error` with this code; write nothing.
    Reject { code: ErrorCode, message: String },
    /// Answer `conflict`; write nothing.
    Conflict(ConflictData),
    /// Rule 6: nothing changes. Record the change id with the current version and the seq
    /// of the entity's last change, and acknowledge `applied`.
    Unchanged {
        version: u64,
        seq: u64,
        touched: Fields,
    },
    /// Store `record` under the user's next seq and record the change id.
    Write {
        record: EntityRecord,
        touched: Fields,
    },
}

/// Decides the fate of `change` given the stored entity (`None`: the id is unknown to this
/// user). Rule 1 (duplicates) and timestamp clamping happen before this.
pub fn evaluate(current: Option<&Stored>, change: &Change) -> Evaluation {
    if let Err(message) = check_envelope(change) {
        return Evaluation::Reject {
            code: ErrorCode::Invalid,
            message,
        };
    }
    match legato_core::apply_change(current.map(|s| &s.record), change) {
        Err(ApplyError::NotFound) => Evaluation::Reject {
            code: ErrorCode::NotFound,
            message: format!(
                "{} `{}` does not exist",
                change.entity_type, change.entity_id
            ),
        },
        Err(ApplyError::Invalid(err)) => Evaluation::Reject {
            code: ErrorCode::Invalid,
            message: err.to_string(),
        },
        Ok(ApplyOutcome::Conflict {
            fields,
            remote_deleted,
        }) => {
            let Some(stored) = current else {
                // The rule only reports conflicts against an existing record.
                return Evaluation::Reject {
                    code: ErrorCode::Internal,
                    message: "conflict without a stored entity".to_owned(),
                };
            };
            Evaluation::Conflict(ConflictData {
                change_id: change.change_id.clone(),
                entity_type: change.entity_type,
                entity_id: change.entity_id.clone(),
                base_version: change.base_version,
                remote_version: stored.record.version,
                remote_deleted,
                local: change.data.clone(),
                remote: stored.record.state.clone(),
                fields,
            })
        }
        Ok(ApplyOutcome::Applied {
            record,
            touched,
            changed: false,
            ..
        }) => Evaluation::Unchanged {
            version: record.version,
            seq: current.map_or(0, |s| s.last_seq),
            touched,
        },
        Ok(ApplyOutcome::Applied {
            record,
            touched,
            changed: true,
            ..
        }) => {
            if serialized_len(&record.state) > MAX_MESSAGE_BYTES {
                return Evaluation::Reject {
                    code: ErrorCode::TooLarge,
                    message: format!(
                        "the entity's state would exceed {MAX_MESSAGE_BYTES} bytes serialized"
                    ),
                };
            }
            Evaluation::Write { record, touched }
        }
    }
}

/// Length of the JSON text of `fields`, without building it.
fn serialized_len(fields: &Fields) -> usize {
    #[derive(Default)]
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count::default();
    match serde_json::to_writer(&mut count, fields) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// The envelope rules the protocol crate's types do not enforce.
fn check_envelope(change: &Change) -> Result<(), String> {
    for (name, value) in [
        ("changeId", &change.change_id),
        ("clientId", &change.client_id),
    ] {
        if value.is_empty() {
            return Err(format!("field `{name}`: must not be empty"));
        }
        if value.chars().count() > MAX_ID_CHARS {
            return Err(format!(
                "field `{name}`: longer than {MAX_ID_CHARS} characters"
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(format!(
                "field `{name}`: must not contain control characters"
            ));
        }
    }
    if change.timestamp < 0 {
        return Err("field `timestamp`: must be milliseconds since the Unix epoch".to_owned());
    }
    Ok(())
}

/// The partial `update` other devices receive for a written change.
pub fn live_update(
    user: &UserId,
    change: &Change,
    record: &EntityRecord,
    touched: Fields,
    seq: u64,
) -> UpdateData {
    UpdateData {
        entity_type: change.entity_type,
        entity_id: change.entity_id.clone(),
        data: touched,
        version: record.version,
        deleted: record.deleted,
        seq,
        timestamp: change.timestamp,
        user_id: user.0.clone(),
        client_id: change.client_id.clone(),
        change_id: change.change_id.clone(),
        full: false,
    }
}

#[cfg(test)]
mod tests {
    use legato_protocol::{EntityId, EntityType, Operation};
    use serde_json::json;

    use super::*;

    fn change(id: &str) -> Change {
        Change {
            change_id: id.to_owned(),
            entity_type: EntityType::Goals,
            entity_id: EntityId::new("g1").unwrap(),
            operation: Operation::Update,
            data: json!({"title": "x"}).as_object().unwrap().clone(),
            base_version: 1,
            client_id: "dev".to_owned(),
            timestamp: 1,
        }
    }

    #[test]
    fn envelope_is_checked_before_the_rule() {
        // These never reach legato-core (whose rule may not exist yet in a skeleton build).
        for (c, field) in [
            (change(""), "changeId"),
            (change(&"x".repeat(129)), "changeId"),
            (change("a\u{0}b"), "changeId"),
            (
                Change {
                    client_id: String::new(),
                    ..change("c1")
                },
                "clientId",
            ),
            (
                Change {
                    timestamp: -5,
                    ..change("c1")
                },
                "timestamp",
            ),
        ] {
            match evaluate(None, &c) {
                Evaluation::Reject {
                    code: ErrorCode::Invalid,
                    message,
                } => {
                    assert!(message.contains(field), "{message}")
                }
                other => panic!("expected invalid for {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn serialized_len_counts_json_bytes() {
        let f = json!({"a": "é", "b": [1, 2]}).as_object().unwrap().clone();
        assert_eq!(serialized_len(&f), serde_json::to_string(&f).unwrap().len());
    }
}
