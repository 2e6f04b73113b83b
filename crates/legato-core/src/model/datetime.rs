//! Date-times in entity fields: RFC 3339 UTC with milliseconds, `2026-11-25T18:30:00.000Z`.
//!
//! Use as `#[serde(with = "rfc3339_ms")]` on a `DateTime<Utc>`, or
//! `#[serde(with = "rfc3339_ms::option")]` on an `Option<DateTime<Utc>>`. Parsing accepts
//! any RFC 3339 date-time (any offset, any fraction) and converts to UTC; writing always
//! gives the canonical millisecond `Z` form, truncating finer fractions.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// The canonical text of a date-time: `2026-11-25T18:30:00.000Z`.
pub fn format(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses any RFC 3339 date-time into UTC.
pub fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|time| time.with_timezone(&Utc))
}

pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(time))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// The same for `Option<DateTime<Utc>>`: `None` is `null`. Pair with `#[serde(default)]`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(
        time: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => super::serialize(time, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn formats_with_milliseconds_and_z() {
        let time = Utc.with_ymd_and_hms(2026, 11, 25, 18, 30, 0).unwrap();
        assert_eq!(format(&time), "2026-11-25T18:30:00.000Z");
        assert_eq!(parse("2026-11-25T19:30:00+01:00").unwrap(), time);
        assert_eq!(parse("2026-11-25T18:30:00.000Z").unwrap(), time);
        assert!(parse("2026-11-25 18:30").is_err());
    }
}
