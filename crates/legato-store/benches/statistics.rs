//! `statistics` benchmark (`cargo xtask bench stats`, or `cargo bench -p legato-store
//! --bench statistics`): [`Store::statistics`] (everything the statistics screen shows, in
//! one call) over a logbook of 50 000 entries in a store on disk, beside two baselines
//! measured in the same run on the same rows:
//!
//! - `sum`: `SELECT SUM(duration_min)` over the live entries (the time index alone, the
//!   least any statistic can cost);
//! - `json`: `SELECT SUM(json_extract(state, '$.duration'))`, reading every entry's JSON
//!   state once (what a distribution by instrument or piece has to do).
//!
//! The entries are spread over four years before `now` (about 34 a day: denser than any
//! musician, so the heatmap's year, the trend and the streaks are all full), with three
//! instruments, all entry types and one to three of 300 pieces by 40 composers each; the
//! zone is Europe/Berlin (DST changes in every year). Measured: each trend unit with the
//! distribution over everything (the slowest), and the default screen (days, this month).
//!
//! Goal: the median of every `statistics` line at most 50 ms (release build). Each line
//! says whether it meets it, in wall time and in the thread's CPU time (on a shared,
//! loaded machine the wall time includes waiting for a core).
//!
//! `LEGATO_BENCH_N` (or a numeric argument) sets the entries (default 50 000),
//! `LEGATO_BENCH_ROUNDS` the timed calls per line (default 30), `LEGATO_BENCH_DIR` a
//! directory to keep the seeded database in (default: a temp dir).

use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use legato_protocol::{EntityId, EntityType, Fields, UpdateData};
use legato_store::{StatsPeriod, StatsQuery, Store, TrendUnit};
use serde_json::json;

/// 2026-11-25T18:30:00.000Z.
const NOW: i64 = 1_764_095_400_000 + 365 * 86_400_000;
const SPAN_MS: i64 = 4 * 365 * 86_400_000;
const GOAL_MS: f64 = 50.0;

const INSTRUMENTS: [&str; 3] = ["piano", "violin", "voice"];
const TYPES: [&str; 5] = ["practice", "practice", "lesson", "technique", "rehearsal"];

fn entry(i: usize, n: usize) -> Fields {
    let step = SPAN_MS / i64::try_from(n).unwrap();
    let at = NOW - SPAN_MS + i64::try_from(i).unwrap() * step + (i as i64 * 7_919) % 3_600_000;
    let pieces: Vec<_> = (0..1 + i % 3)
        .map(|k| {
            let piece = (i * 31 + k * 97) % 300;
            json!({"title": format!("Piece {piece}"), "composer": format!("Composer {}", piece % 40), "tempo": 60 + piece % 80})
        })
        .collect();
    let value = json!({
        "timestamp": legato_store::rfc3339_ms(at),
        "duration": 5 + i % 115,
        "type": TYPES[i % TYPES.len()],
        "instrument": INSTRUMENTS[i % INSTRUMENTS.len()],
        "pieces": pieces,
        "techniques": ["scales"],
        "notes": format!("session {i}: slow hands-separate practice, then hands together"),
        "mood": "satisfied",
        "tags": ["morning"],
    });
    value.as_object().unwrap().clone()
}

/// Seeds `n` entries as one catch-up would (pages of 1000 full states).
fn seed(store: &mut Store, n: usize) {
    let mut seq = 0;
    for page in (0..n).collect::<Vec<_>>().chunks(1000) {
        let updates: Vec<UpdateData> = page
            .iter()
            .map(|&i| {
                seq += 1;
                UpdateData {
                    entity_type: EntityType::Logbook,
                    entity_id: EntityId::new(format!("entry-{i}")).unwrap(),
                    data: entry(i, n),
                    version: 1,
                    deleted: false,
                    seq,
                    timestamp: NOW,
                    user_id: "bench".into(),
                    client_id: "seed".into(),
                    change_id: format!("change-{i}"),
                    full: true,
                }
            })
            .collect();
        store.apply_remote_batch(&updates, Some(seq)).unwrap();
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This thread's time on a CPU so far (Linux: `/proc/thread-self/schedstat`, ns), `None`
/// elsewhere. On a loaded machine the wall time of a call includes the time it waited for
/// a core; its CPU time does not, and is what the call costs.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

struct Line {
    name: String,
    samples: Vec<Duration>,
    cpu: Vec<Duration>,
}

fn percentile_ms(samples: &[Duration], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1_000.0
}

impl Line {
    fn measure(name: &str, rounds: usize, mut f: impl FnMut()) -> Line {
        f(); // warm: statement cache, pages in the OS cache
        let mut samples = Vec::with_capacity(rounds);
        let mut cpu = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let (start, cpu_start) = (Instant::now(), thread_cpu());
            f();
            samples.push(start.elapsed());
            if let (Some(before), Some(after)) = (cpu_start, thread_cpu()) {
                cpu.push(after.saturating_sub(before));
            }
        }
        Line {
            name: name.to_string(),
            samples,
            cpu,
        }
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        percentile_ms(&self.samples, p)
    }

    fn cpu_ms(&self) -> f64 {
        percentile_ms(&self.cpu, 0.5)
    }

    fn print(&self, baseline_ms: f64) -> f64 {
        let median = self.percentile_ms(0.5);
        println!(
            "  {:<44} p50 {:>7.2} ms   p95 {:>7.2} ms   max {:>7.2} ms   cpu p50 {:>7.2} ms   {:>6.1}x sum",
            self.name,
            median,
            self.percentile_ms(0.95),
            self.percentile_ms(1.0),
            self.cpu_ms(),
            median / baseline_ms
        );
        median
    }
}

fn main() {
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or_else(|| env_number("LEGATO_BENCH_N", 50_000));
    let rounds = env_number("LEGATO_BENCH_ROUNDS", 30).max(1);
    let temp = tempfile::tempdir().unwrap();
    let dir =
        std::env::var_os("LEGATO_BENCH_DIR").map_or_else(|| temp.path().to_path_buf(), Into::into);
    let path = dir.join("stats.db");
    let _ = std::fs::remove_file(&path);
    let mut store = Store::open(&path).unwrap();
    let seeding = Instant::now();
    seed(&mut store, n);
    println!(
        "statistics over {n} entries (seeded in {:.1} s), {rounds} calls per line, Europe/Berlin:",
        seeding.elapsed().as_secs_f64()
    );

    let conn = store.connection();
    let sum = Line::measure("baseline sum: SUM(duration_min)", rounds, || {
        let total: i64 = conn
            .prepare_cached(
                "SELECT SUM(duration_min) FROM entities INDEXED BY entities_logbook_time
                 WHERE entity_type = 'logbook' AND deleted = 0",
            )
            .unwrap()
            .query_row([], |r| r.get(0))
            .unwrap();
        assert!(total > 0);
    });
    let json_sum = Line::measure("baseline json: SUM(json_extract(state))", rounds, || {
        let total: i64 = conn
            .prepare_cached(
                "SELECT SUM(json_extract(state, '$.duration')) FROM entities
                 WHERE entity_type = 'logbook' AND deleted = 0",
            )
            .unwrap()
            .query_row([], |r| r.get(0))
            .unwrap();
        assert!(total > 0);
    });

    let zone = TimeZone::get("Europe/Berlin").unwrap();
    let query = |trend, distribution| StatsQuery {
        now_ms: NOW,
        zone: zone.clone(),
        trend,
        heatmap_year: None,
        distribution,
    };
    let mut lines = Vec::new();
    for (name, trend, period) in [
        (
            "statistics: days, this month (the screen)",
            TrendUnit::Day,
            StatsPeriod::Month,
        ),
        (
            "statistics: weeks, this month",
            TrendUnit::Week,
            StatsPeriod::Month,
        ),
        (
            "statistics: months, this month",
            TrendUnit::Month,
            StatsPeriod::Month,
        ),
        (
            "statistics: days, this year",
            TrendUnit::Day,
            StatsPeriod::Year,
        ),
        (
            "statistics: days, all (distribution of all)",
            TrendUnit::Day,
            StatsPeriod::All,
        ),
    ] {
        let q = query(trend, period);
        let stats = store.statistics(&q).unwrap();
        assert_eq!(stats.totals.all.sessions, n as u64);
        lines.push(Line::measure(name, rounds, || {
            store.statistics(&q).unwrap();
        }));
    }
    let summary = Line::measure("summary (the logbook's totals and streak)", rounds, || {
        store.summary(NOW, &zone).unwrap();
    });

    let base = sum.percentile_ms(0.5);
    sum.print(base);
    json_sum.print(base);
    let medians: Vec<f64> = lines.iter().map(|line| line.print(base)).collect();
    summary.print(base);
    let verdict = |ms: f64| if ms <= GOAL_MS { "met" } else { "NOT met" };
    for (line, median) in lines.iter().zip(&medians) {
        println!(
            "goal p50 <= {GOAL_MS} ms, {:<44} wall {:<8} cpu {}",
            line.name,
            verdict(*median),
            verdict(line.cpu_ms())
        );
    }
}
