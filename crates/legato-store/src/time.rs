//! Time conversions: protocol date-times (RFC 3339 UTC with milliseconds) and local days.

use chrono::{DateTime, NaiveDate, SecondsFormat};

pub(crate) const MS_PER_DAY: i64 = 86_400_000;
const MS_PER_MINUTE: i64 = 60_000;

/// `ms` since the Unix epoch as a protocol date-time (`2026-11-25T18:30:00.000Z`).
pub fn rfc3339_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 date-time (any offset) to milliseconds since the Unix epoch.
pub(crate) fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The local day number (days since 1970-01-01, local) of an instant, for a fixed UTC offset.
pub(crate) fn local_day(ms: i64, utc_offset_minutes: i32) -> i64 {
    (ms + i64::from(utc_offset_minutes) * MS_PER_MINUTE).div_euclid(MS_PER_DAY)
}

/// The UTC instant (ms) at which local day `day` starts.
pub(crate) fn day_start_ms(day: i64, utc_offset_minutes: i32) -> i64 {
    day * MS_PER_DAY - i64::from(utc_offset_minutes) * MS_PER_MINUTE
}

const UNIX_EPOCH_DAY_FROM_CE: i64 = 719_163;

pub(crate) fn day_to_date(day: i64) -> NaiveDate {
    i32::try_from(day + UNIX_EPOCH_DAY_FROM_CE)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .unwrap_or_default()
}

pub(crate) fn date_to_day(date: NaiveDate) -> i64 {
    i64::from(chrono::Datelike::num_days_from_ce(&date)) - UNIX_EPOCH_DAY_FROM_CE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_protocol_date_times() {
        assert_eq!(rfc3339_ms(1_764_095_400_000), "2025-11-25T18:30:00.000Z");
        assert_eq!(
            parse_rfc3339_ms("2025-11-25T18:30:00.000Z"),
            Some(1_764_095_400_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2025-11-25T19:30:00.000+01:00"),
            Some(1_764_095_400_000)
        );
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }

    #[test]
    fn local_days_follow_the_offset() {
        let ms = parse_rfc3339_ms("2025-11-25T23:30:00.000Z").unwrap();
        let utc = local_day(ms, 0);
        assert_eq!(day_to_date(utc).to_string(), "2025-11-25");
        assert_eq!(day_to_date(local_day(ms, 60)).to_string(), "2025-11-26");
        assert_eq!(day_to_date(local_day(ms, -600)).to_string(), "2025-11-25");
        assert_eq!(date_to_day(day_to_date(utc)), utc);
        assert_eq!(
            day_start_ms(local_day(ms, 60), 60),
            parse_rfc3339_ms("2025-11-25T23:00:00Z").unwrap()
        );
        assert_eq!(local_day(-1, 0), -1);
    }
}
