//! Validation of PROTOCOL.md section 1: known fields by type and range, unknown fields kept.
//!
//! Two entry points: [`validate_change`] checks what a client sends (operators allowed where
//! section 3 allows them), [`validate_state`] checks a full resolved state. Both are total:
//! any JSON gives `Ok` or a [`ValidationError`] naming the offending field, never a panic.
//!
//! Rules the spec leaves open, decided here (see `docs/core-choices.md`):
//! - every field that is not required may be `null` (section 3: `null` clears a field);
//! - date-times are any RFC 3339 date-time with `Z` or a numeric offset; they are stored as
//!   sent (the server never converts a field), clients write the `...000Z` form;
//! - an integer is a JSON integer that fits in an `i64` (`45.0` is not an integer);
//! - ranges and lengths are checked where section 1 gives them, plus the notes and metadata
//!   limits; unknown keys inside nested objects (pieces, milestones, status changes) are kept.

mod schema;

use std::collections::HashSet;

use chrono::DateTime;
use legato_protocol::{
    EntityId, EntityType, FieldInflateError, FieldValue, Fields, Operation, check_inflate_budget,
    inflate_string,
};
use serde_json::{Map, Value};

use crate::model::PieceStatus;
pub(crate) use schema::{FieldSpec, Item, Kind, lookup};
pub use schema::{
    MAX_INSTRUMENT_CHARS, MAX_LABEL_CHARS, MAX_METADATA_BYTES, MAX_MILESTONE_ID_CHARS,
    MAX_NOTES_CHARS, MAX_PIECES, MAX_TAGS, MAX_TECHNIQUES, MAX_TITLE_CHARS,
};

/// A field breaking section 1; `field` names it (dotted path for nested values, e.g.
/// `pieces[2].title`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<FieldInflateError> for ValidationError {
    fn from(err: FieldInflateError) -> Self {
        ValidationError::new(err.field, err.error.to_string())
    }
}

type Result<T = (), E = ValidationError> = std::result::Result<T, E>;

/// Checks the `data` of a change (operators allowed where section 3 allows them).
///
/// - `create`: the full state. Required fields present and not `null`; `$deflate` allowed on
///   string fields; the commutative operators are refused (there is nothing to apply them to).
/// - `update`: only the changed fields. `$inc` on integer fields, `$addToSet`/`$pull` on
///   array fields, `$deflate` on string fields (unknown fields take any operator); required
///   fields cannot be set to `null`. Whether the *result* is in range (a `$inc` pushing
///   `duration` past 1440, an `$addToSet` past 50 tags) is checked on the resulting state.
/// - `delete`: `data` carries no meaning and is ignored, so a client that sends the last
///   state along does not get its delete refused.
///
/// `$deflate` values are inflated to check their text; an argument that does not inflate
/// to UTF-8 is an error naming the field.
pub fn validate_change(entity_type: EntityType, operation: Operation, data: &Fields) -> Result {
    match operation {
        Operation::Delete => Ok(()),
        Operation::Create => {
            check_required_present(entity_type, data)?;
            check_change_fields(entity_type, data, false)
        }
        Operation::Update => check_change_fields(entity_type, data, true),
    }
}

/// Checks a full resolved state (no operators): required fields present, known fields valid.
pub fn validate_state(entity_type: EntityType, state: &Fields) -> Result {
    check_required_present(entity_type, state)?;
    for (name, value) in state {
        check_state_field(entity_type, name, value)?;
    }
    Ok(())
}

/// Checks the named fields of a full state only: what the apply rule uses after an update,
/// so an entity stored under older, looser rules stays editable in its other fields.
pub(crate) fn validate_state_fields<'a>(
    entity_type: EntityType,
    state: &Fields,
    names: impl IntoIterator<Item = &'a String>,
) -> Result {
    for name in names {
        let value = state.get(name).unwrap_or(&Value::Null);
        check_state_field(entity_type, name, value)?;
    }
    Ok(())
}

fn check_state_field(entity_type: EntityType, name: &str, value: &Value) -> Result {
    match FieldValue::classify(value) {
        FieldValue::Plain(value) => check_field(lookup(entity_type, name), name, value),
        _ => Err(ValidationError::new(
            name,
            "a stored state holds plain values, not operators",
        )),
    }
}

fn check_required_present(entity_type: EntityType, data: &Fields) -> Result {
    let missing = schema::fields(entity_type)
        .iter()
        .filter(|spec| spec.required)
        .find(|spec| data.get(spec.name).is_none_or(Value::is_null));
    match missing {
        Some(spec) => Err(ValidationError::new(spec.name, "is required")),
        None => Ok(()),
    }
}

fn check_change_fields(entity_type: EntityType, data: &Fields, ops_allowed: bool) -> Result {
    // The `$deflate` values share one budget; checked before any is inflated and kept.
    check_inflate_budget(data).map_err(ValidationError::from)?;
    for (name, value) in data {
        check_change_field(lookup(entity_type, name), name, value, ops_allowed)?;
    }
    Ok(())
}

fn check_change_field(
    spec: Option<&FieldSpec>,
    name: &str,
    value: &Value,
    ops_allowed: bool,
) -> Result {
    let kind = spec.map(|spec| spec.kind);
    match FieldValue::classify(value) {
        FieldValue::Plain(value) => check_field(spec, name, value),
        FieldValue::Deflate(encoded) => {
            if kind.is_some_and(|kind| !kind.is_string()) {
                return Err(ValidationError::new(
                    name,
                    "`$deflate` is only allowed on string fields",
                ));
            }
            let text = inflate_field(name, encoded)?;
            check_field(spec, name, &Value::String(text))
        }
        FieldValue::Inc(_) => {
            require_update("$inc", name, ops_allowed)?;
            if kind.is_some_and(|kind| !kind.is_integer()) {
                return Err(ValidationError::new(
                    name,
                    "`$inc` is only allowed on integer fields",
                ));
            }
            Ok(())
        }
        FieldValue::AddToSet(items) => {
            require_update("$addToSet", name, ops_allowed)?;
            match kind {
                None => Ok(()),
                Some(kind) => {
                    let item = list_item(kind, name, "$addToSet")?;
                    for (i, value) in items.iter().enumerate() {
                        check_item(item, &format!("{name}.$addToSet[{i}]"), value)?;
                    }
                    Ok(())
                }
            }
        }
        FieldValue::Pull(_) => {
            require_update("$pull", name, ops_allowed)?;
            // Removing values can never break an element rule, so the values are not checked.
            kind.map_or(Ok(()), |kind| list_item(kind, name, "$pull").map(drop))
        }
        FieldValue::Malformed(op) => Err(ValidationError::new(
            name,
            format!("malformed `{op}` operator: {}", operator_argument(op)),
        )),
    }
}

fn operator_argument(op: &str) -> &'static str {
    match op {
        "$inc" => "the argument must be an integer",
        "$addToSet" | "$pull" => "the argument must be an array",
        "$deflate" => "the argument must be a base64 string",
        _ => "unexpected argument",
    }
}

fn require_update(op: &str, name: &str, ops_allowed: bool) -> Result {
    if ops_allowed {
        Ok(())
    } else {
        Err(ValidationError::new(
            name,
            format!("`{op}` is only allowed in an update"),
        ))
    }
}

fn list_item(kind: Kind, name: &str, op: &str) -> Result<Item> {
    kind.list_item().ok_or_else(|| {
        ValidationError::new(name, format!("`{op}` is only allowed on array fields"))
    })
}

/// Inflates a `$deflate` argument, naming the field on failure.
pub(crate) fn inflate_field(name: &str, encoded: &str) -> Result<String> {
    inflate_string(encoded).map_err(|err| ValidationError::new(name, err.to_string()))
}

/// Checks one plain top-level value against its spec (`None`: unknown field, kept verbatim).
fn check_field(spec: Option<&FieldSpec>, name: &str, value: &Value) -> Result {
    let Some(spec) = spec else {
        return Ok(());
    };
    if value.is_null() {
        return if spec.required {
            Err(ValidationError::new(name, "is required and cannot be null"))
        } else {
            Ok(())
        };
    }
    check_kind(spec.kind, name, value)
}

fn check_kind(kind: Kind, path: &str, value: &Value) -> Result {
    match kind {
        Kind::DateTime => check_date_time(path, value),
        Kind::Integer { min, max } => check_integer(path, value, min, max).map(drop),
        Kind::OneOf(names) => check_one_of(path, value, names),
        Kind::Text {
            min_chars,
            max_chars,
            lowercase,
        } => {
            let text = check_text(path, value, min_chars, max_chars)?;
            if lowercase && text.chars().any(char::is_uppercase) {
                return Err(ValidationError::new(path, "must be lowercase"));
            }
            Ok(())
        }
        Kind::Object { max_bytes } => check_object_size(path, value, max_bytes),
        Kind::List { item, max_items } => check_list(path, value, item, max_items),
    }
}

fn check_date_time(path: &str, value: &Value) -> Result {
    let valid = value
        .as_str()
        .is_some_and(|s| DateTime::parse_from_rfc3339(s).is_ok());
    if valid {
        Ok(())
    } else {
        Err(ValidationError::new(
            path,
            "must be an RFC 3339 date-time such as \"2026-11-25T18:30:00.000Z\"",
        ))
    }
}

fn check_integer(path: &str, value: &Value, min: i64, max: i64) -> Result<i64> {
    let Some(n) = value.as_i64() else {
        let message = if value.is_u64() {
            format!("must be at most {max}")
        } else {
            "must be an integer".to_owned()
        };
        return Err(ValidationError::new(path, message));
    };
    if (min..=max).contains(&n) {
        return Ok(n);
    }
    let message = match (min, max) {
        (i64::MIN, max) => format!("must be at most {max}"),
        (min, i64::MAX) => format!("must be at least {min}"),
        (min, max) => format!("must be between {min} and {max}"),
    };
    Err(ValidationError::new(path, message))
}

fn check_one_of(path: &str, value: &Value, names: &[&str]) -> Result {
    match value.as_str() {
        Some(s) if names.contains(&s) => Ok(()),
        _ => Err(ValidationError::new(
            path,
            format!("must be one of: {}", names.join(", ")),
        )),
    }
}

fn check_text<'v>(path: &str, value: &'v Value, min: usize, max: usize) -> Result<&'v str> {
    let Some(text) = value.as_str() else {
        return Err(ValidationError::new(path, "must be a string"));
    };
    // Count at most `max + 1` characters: enough to decide, and bounded work.
    let chars = text.chars().take(max.saturating_add(1)).count();
    if chars < min {
        let message = if min == 1 {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {min} characters")
        };
        return Err(ValidationError::new(path, message));
    }
    if chars > max {
        return Err(ValidationError::new(
            path,
            format!("must be at most {max} characters"),
        ));
    }
    if let Some(c) = text.chars().find(|&c| is_refused_control(c)) {
        return Err(ValidationError::new(
            path,
            format!(
                "must not contain control characters (found U+{:04X}; tab and line breaks are fine)",
                u32::from(c)
            ),
        ));
    }
    Ok(text)
}

/// C0 control characters other than tab, line feed and carriage return (text pasted from
/// Windows carries CR LF; refusing it would refuse ordinary notes). NUL and the rest break
/// terminals, logs and other programs that read an export.
fn is_refused_control(c: char) -> bool {
    c < ' ' && !matches!(c, '\t' | '\n' | '\r')
}

fn check_object_size(path: &str, value: &Value, max_bytes: usize) -> Result {
    if !value.is_object() {
        return Err(ValidationError::new(path, "must be an object"));
    }
    if serialized_len(value) > max_bytes {
        return Err(ValidationError::new(
            path,
            format!("must be at most {max_bytes} bytes serialized"),
        ));
    }
    Ok(())
}

/// Bytes of the compact JSON form, counted without building the string.
fn serialized_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` to an infallible writer cannot fail; if it ever did, count it as
    // too large rather than too small.
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

fn check_list(path: &str, value: &Value, item: Item, max_items: usize) -> Result {
    let Some(items) = value.as_array() else {
        return Err(ValidationError::new(path, "must be an array"));
    };
    if items.len() > max_items {
        return Err(ValidationError::new(
            path,
            format!("must have at most {max_items} elements"),
        ));
    }
    for (i, value) in items.iter().enumerate() {
        check_item(item, &format!("{path}[{i}]"), value)?;
    }
    if item == Item::Milestone {
        check_unique_milestone_ids(path, items)?;
    }
    Ok(())
}

fn check_item(item: Item, path: &str, value: &Value) -> Result {
    match item {
        Item::Label { max_chars } => check_text(path, value, 0, max_chars).map(drop),
        Item::EntityId => check_entity_id(path, value),
        Item::Url => check_url(path, value),
        Item::Piece => check_piece(path, value),
        Item::Milestone => check_milestone(path, value),
        Item::StatusChange => check_status_change(path, value),
    }
}

fn check_entity_id(path: &str, value: &Value) -> Result {
    let Some(id) = value.as_str() else {
        return Err(ValidationError::new(path, "must be an entity id string"));
    };
    EntityId::new(id)
        .map(drop)
        .map_err(|err| ValidationError::new(path, err.to_string()))
}

/// A deliberately simple URL check: an `http`/`https` scheme, a non-empty host part, no
/// whitespace or control characters. Enough to keep `javascript:` and typos out without a
/// URL parser dependency.
fn check_url(path: &str, value: &Value) -> Result {
    let valid = value.as_str().is_some_and(|url| {
        let Some((scheme, rest)) = url.split_once("://") else {
            return false;
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
            && !host.is_empty()
            && !url.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if valid {
        Ok(())
    } else {
        Err(ValidationError::new(path, "must be an http(s) URL"))
    }
}

fn as_object<'v>(path: &str, value: &'v Value) -> Result<&'v Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| ValidationError::new(path, "must be an object"))
}

/// Checks `key` of a nested object: absent or `null` is an error when `required`.
fn check_key(
    object: &Map<String, Value>,
    path: &str,
    key: &str,
    required: bool,
    check: impl FnOnce(&str, &Value) -> Result,
) -> Result {
    let key_path = format!("{path}.{key}");
    match object.get(key) {
        None | Some(Value::Null) if required => Err(ValidationError::new(key_path, "is required")),
        None | Some(Value::Null) => Ok(()),
        Some(value) => check(&key_path, value),
    }
}

fn any_string(path: &str, value: &Value) -> Result {
    check_text(path, value, 0, usize::MAX).map(drop)
}

fn title(path: &str, value: &Value) -> Result {
    check_text(path, value, 1, MAX_TITLE_CHARS).map(drop)
}

fn status(path: &str, value: &Value) -> Result {
    check_one_of(path, value, PieceStatus::NAMES)
}

fn check_piece(path: &str, value: &Value) -> Result {
    let piece = as_object(path, value)?;
    check_key(piece, path, "title", true, title)?;
    check_key(piece, path, "composer", false, any_string)?;
    check_key(piece, path, "measures", false, any_string)?;
    check_key(piece, path, "tempo", false, |path, value| {
        check_integer(path, value, i64::MIN, i64::MAX).map(drop)
    })?;
    check_key(piece, path, "scoreId", false, any_string)
}

fn check_milestone(path: &str, value: &Value) -> Result {
    let milestone = as_object(path, value)?;
    check_key(milestone, path, "id", true, |path, value| {
        check_text(path, value, 1, MAX_MILESTONE_ID_CHARS).map(drop)
    })?;
    check_key(milestone, path, "title", true, title)?;
    check_key(milestone, path, "done", true, |path, value| {
        if value.is_boolean() {
            Ok(())
        } else {
            Err(ValidationError::new(path, "must be true or false"))
        }
    })?;
    check_key(milestone, path, "doneAt", false, check_date_time)
}

/// Milestones are addressed by id (toggling one in the UI), so ids must be unique.
fn check_unique_milestone_ids(path: &str, items: &[Value]) -> Result {
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(id) = item.get("id").and_then(Value::as_str)
            && !seen.insert(id)
        {
            return Err(ValidationError::new(
                format!("{path}[{i}].id"),
                format!("duplicate milestone id `{id}`"),
            ));
        }
    }
    Ok(())
}

fn check_status_change(path: &str, value: &Value) -> Result {
    let change = as_object(path, value)?;
    check_key(change, path, "at", true, check_date_time)?;
    check_key(change, path, "from", false, status)?;
    check_key(change, path, "to", true, status)
}

#[cfg(test)]
mod tests;
