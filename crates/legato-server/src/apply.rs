//! What to do with one change, as a pure function of the stored entity and the change, and
//! the hash of its content that tells a retry from another change under the same id.
//!
//! Storage backends call [`evaluate`] inside their transaction (after the duplicate check of
//! rule 1) and execute the answer; the rule itself is `legato_core::apply_change`. Keeping
//! this step pure means every backend applies changes the same way and it is tested by table.

use legato_core::{ApplyError, ApplyOutcome, EntityRecord};
use legato_protocol::{
    Change, ConflictData, ErrorCode, Fields, MAX_MESSAGE_BYTES, UpdateData, has_deflated,
    inflate_fields,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::db::{ChangeOutcome, UserId};

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
        Err(err @ (ApplyError::Invalid(_) | ApplyError::TooLarge(_))) => Evaluation::Reject {
            code: err.code(),
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
pub(crate) fn serialized_len(fields: &Fields) -> usize {
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
    check_id("changeId", &change.change_id)?;
    check_id("clientId", &change.client_id)?;
    if change.timestamp < 0 {
        return Err("field `timestamp`: must be milliseconds since the Unix epoch".to_owned());
    }
    Ok(())
}

/// A `changeId` or `clientId` (of a change or of `hello`): 1 to [`MAX_ID_CHARS`] characters,
/// none of them a control character (they end up in logs and in other devices' views).
pub fn check_id(name: &str, value: &str) -> Result<(), String> {
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
    Ok(())
}

/// The answer to `change` sent again under a change id that was answered `conflict`, whose
/// data hashed to `recorded` and conflicted on `fields` (see `0004_conflicted_changes.sql`):
/// `change_id_reused` for other data; else `conflict` again, against the current state. The
/// fields are those of a fresh evaluation when it still conflicts, the recorded ones when
/// it would now apply, or, once they were pruned (`None`), the fields the change names
/// (those a conflict can be on; for a delete, which names none, the fields of the current
/// state). Writes nothing either way.
pub fn repeat_conflict(
    current: Option<&Stored>,
    change: &Change,
    recorded: &ContentHash,
    fields: Option<Vec<String>>,
) -> ChangeOutcome {
    if data_hash(change) != *recorded {
        return ChangeOutcome::Rejected {
            code: ErrorCode::ChangeIdReused,
            message: format!(
                "changeId `{}` was already used for a different change; nothing was \
                 applied: send this change under a new changeId",
                change.change_id
            ),
        };
    }
    match evaluate(current, change) {
        Evaluation::Conflict(conflict) => ChangeOutcome::Conflict(conflict),
        Evaluation::Reject { code, message } => ChangeOutcome::Rejected { code, message },
        Evaluation::Unchanged { .. } | Evaluation::Write { .. } => {
            let Some(stored) = current else {
                // Only an existing entity answers a conflict, and entities are never removed.
                return ChangeOutcome::Rejected {
                    code: ErrorCode::Internal,
                    message: "a conflicted change's entity is gone".to_owned(),
                };
            };
            let fields = fields.unwrap_or_else(|| {
                let named = if change.data.is_empty() {
                    &stored.record.state
                } else {
                    &change.data
                };
                // Sorted: the order of a JSON object's keys depends on serde_json's
                // features, which the workspace's other crates may switch on.
                let mut names: Vec<String> = named.keys().cloned().collect();
                names.sort();
                names
            });
            ChangeOutcome::Conflict(ConflictData {
                change_id: change.change_id.clone(),
                entity_type: change.entity_type,
                entity_id: change.entity_id.clone(),
                base_version: change.base_version,
                remote_version: stored.record.version,
                remote_deleted: stored.record.deleted,
                local: change.data.clone(),
                remote: stored.record.state.clone(),
                fields,
            })
        }
    }
}

/// SHA-256 of what a change does, recorded next to its change id.
///
/// Rule 1 answers a seen change id with its recorded result. That is right for a retry of
/// the same change, but a device restored from a copy of another device's data can fold a
/// new edit into an unsent change whose id the original device already sent; a `duplicate`
/// answer would drop that edit silently. Comparing this hash tells the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(pub [u8; 32]);

/// Tags the canonical form below: a different form must take a new tag, so that hashes of
/// the two forms can never be mistaken for one another.
const CONTENT_HASH_TAG: &str = "legato-change-content-v1";

/// Hashes the content of `change`: `entityType`, `entityId`, `operation`, `baseVersion` and
/// `data`, as the canonical JSON array `[tag, entityType, entityId, operation, baseVersion,
/// data]` (no whitespace, object keys sorted by their UTF-8 bytes at every depth, strings
/// and numbers as serde_json writes them).
///
/// Not content: `clientId` (a restored device resends the original's changes under its new
/// client id), `timestamp` (clamped by the server, so a retry may differ), key order, and
/// whether a top-level string travels as `$deflate` (it is hashed inflated, so a retry that
/// compresses differently is still the same change; when any value does not inflate, or
/// they go over the change's inflate budget, the data is hashed as sent).
pub fn content_hash(change: &Change) -> ContentHash {
    hash_change(change, CONTENT_HASH_TAG, Some(change.base_version))
}

/// Tags [`data_hash`]'s form.
const DATA_HASH_TAG: &str = "legato-change-data-v1";

/// Hashes what a change does without its base version: `[tag, entityType, entityId,
/// operation, data]` in [`content_hash`]'s canonical form. A change answered `conflict` is
/// told from another change under its id by this hash: the same change comes again with
/// another base version when an earlier change of its entity was acknowledged meanwhile.
pub fn data_hash(change: &Change) -> ContentHash {
    hash_change(change, DATA_HASH_TAG, None)
}

fn hash_change(change: &Change, tag: &str, base_version: Option<u64>) -> ContentHash {
    let mut hasher = Sha256::new();
    let out = &mut hasher;
    write_str(out, "[");
    for part in [
        tag,
        change.entity_type.as_str(),
        change.entity_id.as_str(),
        change.operation.as_str(),
    ] {
        write_json(out, &part);
        write_str(out, ",");
    }
    if let Some(base_version) = base_version {
        write_json(out, &base_version);
        write_str(out, ",");
    }
    // Inflated within the change's budget; data that does not inflate is hashed as sent.
    let inflated = has_deflated(&change.data)
        .then(|| inflate_fields(&change.data).ok())
        .flatten();
    write_object(
        out,
        inflated.as_ref().unwrap_or(&change.data),
        write_canonical,
    );
    write_str(out, "]");
    ContentHash(hasher.finalize().into())
}

fn write_str(out: &mut Sha256, text: &str) {
    out.update(text.as_bytes());
}

/// A scalar or string as JSON. Writing into a hasher cannot fail.
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Sha256, value: &T) {
    serde_json::to_writer(&mut *out, value).expect("JSON scalars always serialize into a hasher");
}

/// `map` with its keys sorted, each value written by `write_value`.
fn write_object(out: &mut Sha256, map: &Fields, write_value: impl Fn(&mut Sha256, &Value)) {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    write_str(out, "{");
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            write_str(out, ",");
        }
        write_json(out, key);
        write_str(out, ":");
        write_value(out, value);
    }
    write_str(out, "}");
}

fn write_canonical(out: &mut Sha256, value: &Value) {
    match value {
        Value::Object(map) => write_object(out, map, write_canonical),
        Value::Array(items) => {
            write_str(out, "[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    write_str(out, ",");
                }
                write_canonical(out, item);
            }
            write_str(out, "]");
        }
        scalar => write_json(out, scalar),
    }
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

    /// The canonical form is fixed: a change of it would make every recorded change look
    /// reused. This pins it to a literal (SHA-256 of the documented array).
    #[test]
    fn content_hash_is_sha256_of_the_documented_canonical_form() {
        let mut c = change("c1");
        c.data = json!({"title": "x", "b": {"z": 1, "a": [2, {"y": null, "x": 1.5}]}})
            .as_object()
            .unwrap()
            .clone();
        let canonical = r#"["legato-change-content-v1","goals","g1","update",1,{"b":{"a":[2,{"x":1.5,"y":null}],"z":1},"title":"x"}]"#;
        assert_eq!(
            content_hash(&c),
            ContentHash(Sha256::digest(canonical.as_bytes()).into())
        );
    }

    #[test]
    fn content_hash_covers_content_only() {
        let base = change("c1");
        let hash = content_hash(&base);
        let same = [
            Change {
                client_id: "other-device".into(),
                timestamp: 99,
                ..base.clone()
            },
            Change {
                change_id: "c2".into(),
                ..base.clone()
            },
            Change {
                data: json!({"title": {"$deflate": legato_protocol::deflate_string("x")}})
                    .as_object()
                    .unwrap()
                    .clone(),
                ..base.clone()
            },
        ];
        for c in same {
            assert_eq!(content_hash(&c), hash, "{c:?}");
        }
        let differ = [
            Change {
                base_version: 2,
                ..base.clone()
            },
            Change {
                operation: Operation::Create,
                ..base.clone()
            },
            Change {
                entity_type: EntityType::Repertoire,
                ..base.clone()
            },
            Change {
                entity_id: EntityId::new("g2").unwrap(),
                ..base.clone()
            },
            Change {
                data: json!({"title": "y"}).as_object().unwrap().clone(),
                ..base.clone()
            },
            Change {
                data: json!({"title": "x", "notes": null})
                    .as_object()
                    .unwrap()
                    .clone(),
                ..base.clone()
            },
            // An operator is not the value it produces.
            Change {
                data: json!({"title": {"$inc": 1}}).as_object().unwrap().clone(),
                ..base.clone()
            },
            // A string that only looks like the JSON of another value.
            Change {
                data: json!({"title": "\"x\""}).as_object().unwrap().clone(),
                ..base.clone()
            },
        ];
        for c in differ {
            assert_ne!(content_hash(&c), hash, "{c:?}");
        }
        // A `$deflate` that does not inflate is hashed as sent, not as an error.
        let broken = Change {
            data: json!({"title": {"$deflate": "!!"}})
                .as_object()
                .unwrap()
                .clone(),
            ..base.clone()
        };
        assert_ne!(content_hash(&broken), hash);
        assert_eq!(content_hash(&broken), content_hash(&broken.clone()));
    }

    #[test]
    fn serialized_len_counts_json_bytes() {
        let f = json!({"a": "é", "b": [1, 2]}).as_object().unwrap().clone();
        assert_eq!(serialized_len(&f), serde_json::to_string(&f).unwrap().len());
    }
}
