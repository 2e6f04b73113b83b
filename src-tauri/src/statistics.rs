//! The statistics screen's views of the store's figures (pure conversions), and where a
//! chart saved as PNG goes.
//!
//! A chart's PNG is written to the user's Downloads directory (XDG `DOWNLOAD` on Linux),
//! or to `<data dir>/exports` when the system names none; never over an existing file
//! (`legato-trend-2026-05-14.png`, then `-2`, `-3`...). The UI says where it went.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use legato_store as store;
use legato_store::TimeZone;

use crate::ipc::error::IpcError;
use crate::ipc::types::{
    AmountView, BreakdownView, ChartKind, ComparisonView, DayMinutesView, DistributionView,
    HeatmapView, ShareView, StatTotalsView, StatisticsRequest, StatisticsView, StatsPeriod,
    StreaksView, TrendPointView, TrendUnit, TrendView,
};

/// The largest PNG accepted (a chart at twice the screen's resolution is well under 2 MB).
pub const MAX_PNG_BYTES: usize = 16 * 1024 * 1024;
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The store's query for a request at `now_ms` in `zone`.
pub fn query(request: StatisticsRequest, now_ms: i64, zone: TimeZone) -> store::StatsQuery {
    store::StatsQuery {
        now_ms,
        zone,
        trend: match request.trend {
            TrendUnit::Day => store::TrendUnit::Day,
            TrendUnit::Week => store::TrendUnit::Week,
            TrendUnit::Month => store::TrendUnit::Month,
        },
        heatmap_year: request.year,
        distribution: period_of(request.period),
    }
}

fn period_of(period: StatsPeriod) -> store::StatsPeriod {
    match period {
        StatsPeriod::Week => store::StatsPeriod::Week,
        StatsPeriod::Month => store::StatsPeriod::Month,
        StatsPeriod::Year => store::StatsPeriod::Year,
        StatsPeriod::All => store::StatsPeriod::All,
    }
}

fn period_view(period: store::StatsPeriod) -> StatsPeriod {
    match period {
        store::StatsPeriod::Week => StatsPeriod::Week,
        store::StatsPeriod::Month => StatsPeriod::Month,
        store::StatsPeriod::Year => StatsPeriod::Year,
        store::StatsPeriod::All => StatsPeriod::All,
    }
}

fn unit_view(unit: store::TrendUnit) -> TrendUnit {
    match unit {
        store::TrendUnit::Day => TrendUnit::Day,
        store::TrendUnit::Week => TrendUnit::Week,
        store::TrendUnit::Month => TrendUnit::Month,
    }
}

fn amount(a: store::Amount) -> AmountView {
    AmountView {
        minutes: a.minutes,
        sessions: a.sessions,
    }
}

fn breakdown(b: store::Breakdown) -> BreakdownView {
    BreakdownView {
        top: b
            .top
            .into_iter()
            .map(|s| ShareView {
                label: s.label,
                minutes: s.minutes,
                sessions: s.sessions,
            })
            .collect(),
        other_minutes: b.other_minutes,
        other_groups: b.other_groups,
    }
}

fn comparison(c: store::Comparison) -> ComparisonView {
    ComparisonView {
        current: amount(c.current),
        previous: amount(c.previous),
        previous_to_date: amount(c.previous_to_date),
    }
}

/// The zone's IANA name, or its current offset when it has none.
pub fn zone_name(zone: &TimeZone, now_ms: i64) -> String {
    zone.iana_name().map_or_else(
        || {
            jiff::Timestamp::from_millisecond(now_ms)
                .map(|t| zone.to_offset(t).to_string())
                .unwrap_or_else(|_| "UTC".into())
        },
        str::to_owned,
    )
}

pub fn view(stats: store::Statistics, time_zone: String) -> StatisticsView {
    let t = stats.totals;
    let s = stats.streaks;
    let d = stats.distribution;
    StatisticsView {
        time_zone,
        today: stats.today.to_string(),
        totals: StatTotalsView {
            today: amount(t.today),
            week: amount(t.week),
            month: amount(t.month),
            all: amount(t.all),
        },
        streaks: StreaksView {
            current: s.current,
            longest: s.longest,
            longest_from: s.longest_span.map(|(from, _)| from.to_string()),
            longest_to: s.longest_span.map(|(_, to)| to.to_string()),
            practice_days: s.practice_days,
        },
        heatmap: HeatmapView {
            year: stats.heatmap.year,
            days: stats
                .heatmap
                .days
                .into_iter()
                .map(|d| DayMinutesView {
                    date: d.date.to_string(),
                    minutes: d.minutes,
                })
                .collect(),
            max_minutes: stats.heatmap.max_minutes,
        },
        trend: TrendView {
            unit: unit_view(stats.trend.unit),
            window: u32::try_from(stats.trend.window).unwrap_or(u32::MAX),
            points: stats
                .trend
                .points
                .into_iter()
                .map(|p| TrendPointView {
                    start: p.start.to_string(),
                    minutes: p.minutes,
                    sessions: p.sessions,
                    moving_average: p.moving_average,
                })
                .collect(),
        },
        distribution: DistributionView {
            period: period_view(d.period),
            total: amount(d.total),
            instruments: breakdown(d.instruments),
            types: breakdown(d.types),
            pieces: breakdown(d.pieces),
            composers: breakdown(d.composers),
        },
        week_over_week: comparison(stats.week_over_week),
        month_over_month: comparison(stats.month_over_month),
    }
}

/// The directory charts are saved to: Downloads, else `<data dir>/exports`.
pub fn export_dir(data_dir: &Path) -> PathBuf {
    dirs::download_dir().unwrap_or_else(|| data_dir.join("exports"))
}

fn kind_name(kind: ChartKind) -> &'static str {
    match kind {
        ChartKind::Heatmap => "heatmap",
        ChartKind::Trend => "trend",
        ChartKind::Distribution => "distribution",
        ChartKind::Comparison => "comparison",
    }
}

/// Decodes a chart's base64 PNG, checking that it is one.
pub fn decode_png(base64_text: &str) -> Result<Vec<u8>, IpcError> {
    if base64_text.len() > MAX_PNG_BYTES / 3 * 4 + 4 {
        return Err(IpcError::invalid("pngBase64", "the image is too large"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_text.trim())
        .map_err(|_| IpcError::invalid("pngBase64", "the image is not base64"))?;
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err(IpcError::invalid("pngBase64", "the image is not a PNG"));
    }
    Ok(bytes)
}

/// Writes `png` as `legato-<kind>-<date>.png` in `dir` (created if missing), never over an
/// existing file; returns the path written.
pub fn save_png(dir: &Path, kind: ChartKind, date: &str, png: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let stem = format!("legato-{}-{date}", kind_name(kind));
    for n in 1u32.. {
        let name = if n == 1 {
            format!("{stem}.png")
        } else {
            format!("{stem}-{n}.png")
        };
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(png)?;
                file.sync_all()?;
                return Ok(path);
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    unreachable!("u32 file numbers ran out")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

    #[test]
    fn a_png_is_checked_and_never_overwrites() {
        let png = decode_png(TINY_PNG).unwrap();
        assert!(png.starts_with(PNG_SIGNATURE));
        assert_eq!(
            decode_png("not base64!").unwrap_err().field.as_deref(),
            Some("pngBase64")
        );
        let text = base64::engine::general_purpose::STANDARD.encode(b"GIF89a....");
        assert!(decode_png(&text).unwrap_err().message.contains("not a PNG"));

        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("Downloads");
        let first = save_png(&target, ChartKind::Trend, "2026-05-14", &png).unwrap();
        let second = save_png(&target, ChartKind::Trend, "2026-05-14", &png).unwrap();
        assert_eq!(first, target.join("legato-trend-2026-05-14.png"));
        assert_eq!(second, target.join("legato-trend-2026-05-14-2.png"));
        assert_eq!(std::fs::read(&first).unwrap(), png);
    }

    #[test]
    fn the_view_carries_every_figure() {
        let store = legato_store::Store::open_in_memory().unwrap();
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let now_ms = 1_778_774_400_000; // 2026-05-14T16:00:00Z
        let request = StatisticsRequest {
            trend: TrendUnit::Week,
            period: StatsPeriod::Year,
            year: Some(2025),
        };
        let stats = store
            .statistics(&query(request, now_ms, zone.clone()))
            .unwrap();
        let view = view(stats, zone_name(&zone, now_ms));
        assert_eq!(view.time_zone, "Europe/Berlin");
        assert_eq!(view.today, "2026-05-14");
        assert_eq!(view.heatmap.year, 2025);
        assert_eq!(view.trend.unit, TrendUnit::Week);
        assert_eq!(view.trend.window, 4);
        assert_eq!(view.trend.points.last().unwrap().start, "2026-05-11");
        assert_eq!(view.distribution.period, StatsPeriod::Year);
        assert_eq!(view.streaks.longest_from, None);
        let fixed = TimeZone::fixed(jiff::tz::offset(-5));
        assert_eq!(zone_name(&fixed, now_ms), "-05");
    }
}
