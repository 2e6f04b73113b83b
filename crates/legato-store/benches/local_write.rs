//! `local-write` benchmark (run with `cargo bench -p legato-store --bench local_write`, or
//! `cargo xtask bench local-write`): saving one logbook entry with its outbox change, one
//! transaction each, against raw rusqlite inserting one row per transaction into an
//! equivalent table, in the same run, with the same PRAGMAs, on disk.
//!
//! - ours: `Store::create` = validation (`legato_core::validate_state`) + the entity row
//!   with its derived query columns + the outbox row, in one `BEGIN IMMEDIATE` transaction.
//! - raw: `BEGIN IMMEDIATE; INSERT INTO raw_entries (entity_type, entity_id, state); COMMIT`
//!   with a cached statement, serializing the same state to JSON.
//!
//! The two alternate in blocks so that disk and CPU drift hit both alike. Both
//! `synchronous` settings are measured (the store's default is `FULL`), each under two
//! checkpoint policies, identical for both sides:
//! - `inline`: SQLite's automatic checkpoint every 1000 WAL pages, inside the commit that
//!   crosses the limit (what a bare `Store` in a tight loop gets);
//! - `idle`: automatic checkpoints off, a checkpoint between blocks, untimed (what the app
//!   gets: `StoreHandle` checkpoints when idle, so a user's save does not pay for one).
//!
//! Goal: ratio ours/raw >= 0.8 and ours p99 <= 1 ms.
//!
//! `LEGATO_BENCH_N` (or a numeric argument) sets the saves per side (default 5000),
//! `LEGATO_BENCH_DIR` the directory for the database files (default: a temp dir).

use std::time::{Duration, Instant};

use legato_protocol::{EntityType, Fields};
use legato_store::{Store, StoreOptions, Synchronous, configure_connection};
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::json;

const BLOCK: usize = 250;
const NOW: i64 = 1_764_095_400_000;

fn entry(i: usize) -> Fields {
    let value = json!({
        "timestamp": legato_store::rfc3339_ms(NOW - (i as i64) * 3_600_000),
        "duration": 1 + i % 120,
        "type": "practice",
        "instrument": "piano",
        "pieces": [{"title": "Ballade No. 1", "composer": "Chopin", "tempo": 80}],
        "techniques": ["scales"],
        "notes": format!("session {i}: slow hands-separate practice, then hands together"),
        "mood": "satisfied",
        "tags": ["morning"],
    });
    value.as_object().unwrap().clone()
}

/// Latencies of one side.
#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn record(&mut self, f: impl FnOnce()) {
        let start = Instant::now();
        f();
        self.0.push(start.elapsed());
    }

    fn per_second(&self) -> f64 {
        let total: Duration = self.0.iter().sum();
        self.0.len() as f64 / total.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index].as_secs_f64() * 1_000.0
    }

    fn line(&self, name: &str) -> String {
        format!(
            "  {name:<46} {:>8.0} entries/s   p50 {:.3} ms   p99 {:.3} ms   p99.9 {:.3} ms",
            self.per_second(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.99),
            self.percentile_ms(0.999)
        )
    }
}

struct Raw {
    conn: Connection,
}

impl Raw {
    fn open(path: &std::path::Path, options: &StoreOptions) -> Raw {
        let conn = Connection::open(path).unwrap();
        configure_connection(&conn, options).unwrap();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS raw_entries (
                 entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, state TEXT NOT NULL,
                 PRIMARY KEY (entity_type, entity_id)) STRICT",
        )
        .unwrap();
        Raw { conn }
    }

    fn insert(&mut self, state: &Fields) {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        tx.prepare_cached(
            "INSERT INTO raw_entries (entity_type, entity_id, state) VALUES (?1, ?2, ?3)",
        )
        .unwrap()
        .execute(params![
            "logbook",
            uuid::Uuid::now_v7().to_string(),
            serde_json::to_string(state).unwrap()
        ])
        .unwrap();
        tx.commit().unwrap();
    }
}

struct Report {
    label: String,
    ratio: f64,
    ours_p99_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checkpoints {
    Inline,
    Idle,
}

fn run(
    dir: &std::path::Path,
    n: usize,
    synchronous: Synchronous,
    checkpoints: Checkpoints,
) -> Report {
    let options = StoreOptions {
        synchronous,
        ..StoreOptions::default()
    };
    let label = format!("synchronous={synchronous:?} checkpoints={checkpoints:?}").to_uppercase();
    let tag = format!("{synchronous:?}-{checkpoints:?}").to_lowercase();
    let mut store = Store::open_with(dir.join(format!("ours-{tag}.db")), options).unwrap();
    let mut raw = Raw::open(&dir.join(format!("raw-{tag}.db")), &options);
    let idle = checkpoints == Checkpoints::Idle;
    if idle {
        store
            .connection()
            .execute_batch("PRAGMA wal_autocheckpoint = 0")
            .unwrap();
        raw.conn
            .execute_batch("PRAGMA wal_autocheckpoint = 0")
            .unwrap();
    }
    let states: Vec<Fields> = (0..n).map(entry).collect();

    // Warm up both (page cache, statement cache, WAL file creation).
    for state in states.iter().take(50) {
        store
            .create(EntityType::Logbook, state.clone(), NOW)
            .unwrap();
        raw.insert(state);
    }

    let (mut ours, mut theirs) = (Samples::default(), Samples::default());
    for block in states.chunks(BLOCK) {
        for state in block {
            let state = state.clone();
            ours.record(|| {
                store.create(EntityType::Logbook, state, NOW).unwrap();
            });
        }
        for state in block {
            theirs.record(|| raw.insert(state));
        }
        if idle {
            store.checkpoint().unwrap();
            raw.conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .unwrap();
        }
    }

    let ratio = ours.per_second() / theirs.per_second();
    let ours_p99_ms = ours.percentile_ms(0.99);
    println!("{label}");
    println!(
        "{}",
        ours.line("ours (validate + entity + outbox, 1 tx each)")
    );
    println!("{}", theirs.line("raw rusqlite (1 row, 1 tx each)"));
    println!(
        "  ratio ours/raw {ratio:.2} (goal >= 0.8: {})   ours p99 {ours_p99_ms:.3} ms (goal <= 1 ms: {})",
        verdict(ratio >= 0.8),
        verdict(ours_p99_ms <= 1.0),
    );
    Report {
        label,
        ratio,
        ours_p99_ms,
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn main() {
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .or_else(|| std::env::var("LEGATO_BENCH_N").ok()?.parse().ok())
        .unwrap_or(5_000);
    let temp = tempfile::tempdir().unwrap();
    let dir =
        std::env::var_os("LEGATO_BENCH_DIR").map_or_else(|| temp.path().to_owned(), Into::into);
    println!(
        "local-write: {n} saves per side, alternating blocks of {BLOCK}, databases in {}",
        dir.display()
    );
    let mut reports = Vec::new();
    for synchronous in [Synchronous::Full, Synchronous::Normal] {
        for checkpoints in [Checkpoints::Inline, Checkpoints::Idle] {
            reports.push(run(&dir, n, synchronous, checkpoints));
        }
    }
    println!("summary (ours/raw ratio, ours p99):");
    for r in &reports {
        println!(
            "  {:<44} ratio {:.2}  p99 {:.3} ms",
            r.label, r.ratio, r.ours_p99_ms
        );
    }
}
