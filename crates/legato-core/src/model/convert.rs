//! Reading typed values out of a validated state and writing them back. The state was
//! checked by `validate_state` first, so a type mismatch here means a bug; it is still an
//! error, never a panic.

use chrono::{DateTime, Utc};
use legato_protocol::{EntityId, Fields};
use serde_json::{Map, Value};

use super::datetime;
use crate::validate::ValidationError;

type Result<T> = std::result::Result<T, ValidationError>;

fn mismatch(path: &str, expected: &str) -> ValidationError {
    ValidationError::new(path, format!("must be {expected}"))
}

/// Reads the fields of one JSON object; `path` prefixes error field names.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reader<'a> {
    object: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Reader<'a> {
    pub(super) fn new(object: &'a Map<String, Value>) -> Self {
        Reader { object, path: "" }
    }

    /// A reader for a nested object at `path`.
    pub(super) fn nested(path: &'a str, value: &'a Value) -> Result<Self> {
        let object = value
            .as_object()
            .ok_or_else(|| mismatch(path, "an object"))?;
        Ok(Reader { object, path })
    }

    fn path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// The value of `name`; absent and `null` are both `None`.
    fn value(&self, name: &str) -> Option<&'a Value> {
        self.object.get(name).filter(|value| !value.is_null())
    }

    fn required<T>(&self, name: &str, value: Option<T>) -> Result<T> {
        value.ok_or_else(|| ValidationError::new(self.path(name), "is required"))
    }

    pub(super) fn string(&self, name: &str) -> Result<Option<String>> {
        self.value(name)
            .map(|value| {
                value
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| mismatch(&self.path(name), "a string"))
            })
            .transpose()
    }

    pub(super) fn required_string(&self, name: &str) -> Result<String> {
        self.required(name, self.string(name)?)
    }

    pub(super) fn int(&self, name: &str) -> Result<Option<i64>> {
        self.value(name)
            .map(|value| {
                value
                    .as_i64()
                    .ok_or_else(|| mismatch(&self.path(name), "an integer"))
            })
            .transpose()
    }

    /// An integer converted to a narrower type (`u32`, `u8`) within its validated range.
    pub(super) fn int_as<T: TryFrom<i64>>(&self, name: &str) -> Result<Option<T>> {
        self.int(name)?
            .map(|n| T::try_from(n).map_err(|_| mismatch(&self.path(name), "in range")))
            .transpose()
    }

    pub(super) fn bool(&self, name: &str) -> Result<Option<bool>> {
        self.value(name)
            .map(|value| {
                value
                    .as_bool()
                    .ok_or_else(|| mismatch(&self.path(name), "true or false"))
            })
            .transpose()
    }

    pub(super) fn date(&self, name: &str) -> Result<Option<DateTime<Utc>>> {
        self.string(name)?
            .map(|text| {
                datetime::parse(&text)
                    .map_err(|_| mismatch(&self.path(name), "an RFC 3339 date-time"))
            })
            .transpose()
    }

    pub(super) fn required_date(&self, name: &str) -> Result<DateTime<Utc>> {
        self.required(name, self.date(name)?)
    }

    /// A string parsed with `FromStr` (the wire enums).
    pub(super) fn parsed<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        self.string(name)?
            .map(|text| {
                text.parse()
                    .map_err(|err: T::Err| ValidationError::new(self.path(name), err.to_string()))
            })
            .transpose()
    }

    pub(super) fn object(&self, name: &str) -> Result<Fields> {
        self.value(name)
            .map(|value| {
                value
                    .as_object()
                    .cloned()
                    .ok_or_else(|| mismatch(&self.path(name), "an object"))
            })
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// The elements of an array field, each read by `read` (`null`/absent: empty).
    pub(super) fn list<T>(
        &self,
        name: &str,
        read: impl Fn(&str, &Value) -> Result<T>,
    ) -> Result<Vec<T>> {
        let Some(value) = self.value(name) else {
            return Ok(Vec::new());
        };
        let items = value
            .as_array()
            .ok_or_else(|| mismatch(&self.path(name), "an array"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| read(&format!("{}[{i}]", self.path(name)), item))
            .collect()
    }

    pub(super) fn strings(&self, name: &str) -> Result<Vec<String>> {
        self.list(name, |path, value| {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| mismatch(path, "a string"))
        })
    }

    pub(super) fn ids(&self, name: &str) -> Result<Vec<EntityId>> {
        self.list(name, |path, value| {
            let text = value
                .as_str()
                .ok_or_else(|| mismatch(path, "an entity id"))?;
            EntityId::new(text).map_err(|err| ValidationError::new(path, err.to_string()))
        })
    }

    /// Every field not named in `known`, verbatim.
    pub(super) fn extra(&self, known: &[&str]) -> Fields {
        self.object
            .iter()
            .filter(|(name, _)| !known.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }
}

/// Builds a JSON object field by field.
#[derive(Debug, Default)]
pub(super) struct Writer(Fields);

impl Writer {
    pub(super) fn new() -> Self {
        Writer::default()
    }

    pub(super) fn put(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.0.insert(name.to_owned(), value.into());
        self
    }

    /// Writes `Some` values and `null` for `None` (top-level fields: explicit clearing).
    pub(super) fn put_opt(self, name: &str, value: Option<impl Into<Value>>) -> Self {
        let value = value.map_or(Value::Null, Into::into);
        self.put(name, value)
    }

    /// Writes `Some` values and omits `None` (optional keys of nested objects).
    pub(super) fn put_some(self, name: &str, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(value) => self.put(name, value),
            None => self,
        }
    }

    pub(super) fn date(self, name: &str, time: &DateTime<Utc>) -> Self {
        self.put(name, datetime::format(time))
    }

    pub(super) fn opt_date(self, name: &str, time: Option<&DateTime<Utc>>) -> Self {
        self.put_opt(name, time.map(datetime::format))
    }

    pub(super) fn list<T>(self, name: &str, items: &[T], write: impl Fn(&T) -> Value) -> Self {
        self.put(name, Value::Array(items.iter().map(write).collect()))
    }

    pub(super) fn strings(self, name: &str, items: &[String]) -> Self {
        self.list(name, items, |item| Value::String(item.clone()))
    }

    pub(super) fn ids(self, name: &str, items: &[EntityId]) -> Self {
        self.list(name, items, |id| Value::String(id.as_str().to_owned()))
    }

    /// Adds the unknown fields, never overwriting a known one.
    pub(super) fn extra(mut self, extra: &Fields) -> Fields {
        for (name, value) in extra {
            self.0.entry(name.clone()).or_insert_with(|| value.clone());
        }
        self.0
    }
}
