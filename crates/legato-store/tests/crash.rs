//! Crash test: a child process saves edits in a loop and is killed with SIGKILL at random
//! moments, cycle after cycle, on the same database. After each kill the store is reopened
//! and checked exactly:
//!
//! - every edit whose save returned (`ACK` line) is present: its change is in the outbox
//!   and the entity's state is that edit's, or the one edit that was in progress at the
//!   kill (`BEGIN` without `ACK`), never an older one;
//! - nothing is duplicated: one entity per create, one create change per entity, no edit
//!   folded into a change that had been handed to the network (`SENT`);
//! - the local state equals the overlay of the entity's outbox changes (the store's
//!   invariant), and `PRAGMA integrity_check` is `ok`.
//!
//! The test binary re-executes itself; the `crash_child` test is the child's body and does
//! nothing unless `LEGATO_CRASH_CHILD` is set. `LEGATO_CRASH_CYCLES` raises the number of
//! cycles (default 100), `LEGATO_CRASH_SEED` changes the random schedule.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use legato_protocol::{EntityId, EntityType, Fields, Operation};
use legato_store::Store;
use serde_json::{Value, json};

const CHILD_ENV: &str = "LEGATO_CRASH_CHILD";
const CYCLE_ENV: &str = "LEGATO_CRASH_CYCLE";
const NOW: i64 = 1_764_095_400_000;

/// A small deterministic generator (xorshift64*): no dependency needed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------
// Child

#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    run_child(Path::new(&path), env_u64(CYCLE_ENV, 0));
}

fn logbook_state(created: u64, marker: u64) -> Fields {
    let value = json!({
        "timestamp": "2025-11-25T18:00:00.000Z",
        "duration": 1 + marker % 120,
        "notes": format!("edit {marker}"),
        "metadata": {"created": created, "marker": marker},
    });
    value.as_object().unwrap().clone()
}

/// Saves edits until killed; prints `BEGIN` before and `ACK` after each save, `SENT` after
/// marking a change in flight. Each line is one `write` (atomic on a pipe), then flushed.
fn run_child(path: &Path, cycle: u64) {
    let mut store = Store::open(path).unwrap();
    // As the app does at start-up: whatever was in flight before the crash is pending again.
    store.reset_in_flight().unwrap();
    let mut ids: Vec<(EntityId, u64)> = store
        .list(EntityType::Logbook)
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.state["metadata"]["created"].as_u64().unwrap()))
        .collect();
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| {
        out.write_all(format!("{line}\n").as_bytes()).unwrap();
        out.flush().unwrap();
    };
    // libtest has printed `test crash_child ... ` without a newline: start a fresh line.
    say("\nREADY".to_owned());
    let mut rng = Rng::new(cycle + 1);
    let started = Instant::now();
    let mut n = 0;
    // The parent kills us long before this; the limit only guards against an orphan.
    while started.elapsed() < Duration::from_secs(20) {
        n += 1;
        let marker = cycle * 1_000_000 + n;
        let now = NOW + i64::try_from(marker).unwrap();
        if ids.is_empty() || rng.below(3) == 0 {
            say(format!("BEGIN create {marker}"));
            let edit = store
                .create(EntityType::Logbook, logbook_state(marker, marker), now)
                .unwrap();
            say(format!(
                "ACK create {} {} {marker}",
                edit.entity_id, edit.change_id
            ));
            ids.push((edit.entity_id, marker));
        } else {
            let (id, created) = ids[usize::try_from(rng.below(ids.len() as u64)).unwrap()].clone();
            say(format!("BEGIN update {id} {marker}"));
            let patch = logbook_state(created, marker);
            let change_id = store
                .patch(EntityType::Logbook, &id, patch, now)
                .unwrap()
                .expect("every edit changes the marker");
            say(format!("ACK update {id} {change_id} {marker}"));
            if rng.below(4) == 0 {
                // Hand the change to the "network": later edits must not fold into it.
                store.mark_in_flight(&[&change_id]).unwrap();
                say(format!("SENT {change_id}"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parent

/// What the parent knows from the children's output, across all cycles.
#[derive(Default)]
struct Ledger {
    /// entity id -> (created marker, last acknowledged marker).
    entities: HashMap<String, (u64, u64)>,
    /// Acknowledged edits: (entity id, change id, marker).
    acked: Vec<(String, String, u64)>,
    /// Change ids handed to the network.
    sent: HashSet<String>,
    /// Edits folded into a change that had been sent (must stay 0).
    folded_into_sent: u64,
}

/// The edit in progress when a child was killed (`BEGIN` without `ACK`).
#[derive(Debug, Clone, PartialEq)]
enum InProgress {
    Create { marker: u64 },
    Update { id: String, marker: u64 },
}

impl Ledger {
    /// Reads one child's complete lines; returns the edit in progress at the kill, if any.
    fn absorb(&mut self, lines: &[String]) -> Option<InProgress> {
        let mut in_progress = None;
        for line in lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["BEGIN", "create", marker] => {
                    in_progress = Some(InProgress::Create {
                        marker: marker.parse().unwrap(),
                    })
                }
                ["BEGIN", "update", id, marker] => {
                    in_progress = Some(InProgress::Update {
                        id: (*id).to_owned(),
                        marker: marker.parse().unwrap(),
                    })
                }
                ["ACK", kind, id, change_id, marker] => {
                    let marker: u64 = marker.parse().unwrap();
                    if *kind == "create" {
                        self.entities.insert((*id).to_owned(), (marker, marker));
                    } else {
                        self.entities
                            .get_mut(*id)
                            .expect("update of a known entity")
                            .1 = marker;
                        if self.sent.contains(*change_id) {
                            self.folded_into_sent += 1;
                        }
                    }
                    self.acked
                        .push(((*id).to_owned(), (*change_id).to_owned(), marker));
                    in_progress = None;
                }
                ["SENT", change_id] => {
                    self.sent.insert((*change_id).to_owned());
                }
                _ => {} // READY, and the test harness's own lines
            }
        }
        in_progress
    }
}

#[derive(Debug, Default)]
struct Findings {
    lost: u64,
    duplicated: u64,
    invariant: u64,
}

/// One outbox row as the check needs it.
struct Row {
    change_id: String,
    entity_id: String,
    operation: Operation,
    data: Fields,
}

fn outbox_rows(store: &Store) -> Vec<Row> {
    let mut stmt = store
        .connection()
        .prepare("SELECT change_id, entity_id, operation, data FROM outbox ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| {
        let op: String = r.get(2)?;
        let data: String = r.get(3)?;
        Ok(Row {
            change_id: r.get(0)?,
            entity_id: r.get(1)?,
            operation: serde_json::from_value(Value::String(op)).unwrap(),
            data: serde_json::from_str(&data).unwrap(),
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn marker_of(state: &Fields) -> (u64, u64) {
    let meta = &state["metadata"];
    (
        meta["created"].as_u64().unwrap(),
        meta["marker"].as_u64().unwrap(),
    )
}

/// Reopens the store after a kill and checks it against the ledger. A create that was in
/// progress and did commit is adopted into the ledger.
fn check(path: &Path, ledger: &mut Ledger, in_progress: Option<&InProgress>) -> Findings {
    let store = Store::open(path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let mut findings = Findings::default();
    let rows = outbox_rows(&store);
    let live = store.list(EntityType::Logbook).unwrap();

    // Nothing duplicated: one entity per create marker, one create change per entity.
    let mut created_markers = HashSet::new();
    for entity in &live {
        let (created, marker) = marker_of(&entity.state);
        if !created_markers.insert(created) {
            findings.duplicated += 1;
        }
        if !ledger.entities.contains_key(entity.id.as_str()) {
            match in_progress {
                // Committed, killed before the ACK line: legitimately present.
                Some(InProgress::Create { marker: m }) if *m == created && *m == marker => {
                    ledger
                        .entities
                        .insert(entity.id.to_string(), (created, marker));
                }
                _ => findings.duplicated += 1,
            }
        }
    }
    let mut creates_per_entity: HashMap<&str, u32> = HashMap::new();
    for row in rows.iter().filter(|r| r.operation == Operation::Create) {
        *creates_per_entity.entry(&row.entity_id).or_default() += 1;
    }
    findings.duplicated += creates_per_entity.values().filter(|n| **n > 1).count() as u64;
    let distinct: HashSet<&str> = rows.iter().map(|r| r.change_id.as_str()).collect();
    findings.duplicated += (rows.len() - distinct.len()) as u64;

    // Nothing lost: every acknowledged edit's change is queued for its entity, and the state
    // is the last acknowledged edit or the one in progress at the kill.
    let by_change: HashMap<&str, &Row> = rows.iter().map(|r| (r.change_id.as_str(), r)).collect();
    for (entity_id, change_id, _) in &ledger.acked {
        if by_change
            .get(change_id.as_str())
            .is_none_or(|r| &r.entity_id != entity_id)
        {
            findings.lost += 1;
        }
    }
    let by_id: HashMap<&str, &Fields> = live.iter().map(|e| (e.id.as_str(), &e.state)).collect();
    for (id, (created, last_acked)) in ledger.entities.iter_mut() {
        let Some(state) = by_id.get(id.as_str()) else {
            findings.lost += 1;
            continue;
        };
        let (stored_created, marker) = marker_of(state);
        let was_in_progress = matches!(in_progress, Some(InProgress::Update { id: i, marker: m }) if i == id && *m == marker);
        if stored_created != *created || (marker != *last_acked && !was_in_progress) {
            findings.lost += 1;
        }
        *last_acked = marker;
    }

    // The invariant: local state = overlay of the entity's changes (no base: never synced).
    for entity in &live {
        let mut overlay = Fields::new();
        for row in rows.iter().filter(|r| r.entity_id == entity.id.as_str()) {
            overlay.extend(row.data.clone());
        }
        if overlay != entity.state {
            findings.invariant += 1;
        }
    }
    findings
}

fn run_cycle(path: &Path, cycle: u64, delay: Duration) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .env(CYCLE_ENV, cycle.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // Wait until the child has opened the store, then let it write for `delay`.
    let mut lines = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        assert!(
            stdout.read_until(b'\n', &mut buf).unwrap() > 0,
            "child died before READY"
        );
        if buf == b"READY\n" || buf.ends_with(b"\nREADY\n") {
            break;
        }
    }
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        // Only complete lines count: a line cut by the kill was never fully written.
        while stdout.read_until(b'\n', &mut buf).unwrap_or(0) > 0 && buf.ends_with(b"\n") {
            lines.push(String::from_utf8_lossy(&buf).trim_end().to_owned());
            buf.clear();
        }
        lines
    });
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    reader.join().unwrap()
}

#[test]
fn killed_writers_lose_and_duplicate_nothing() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let cycles = env_u64("LEGATO_CRASH_CYCLES", 100);
    let seed = env_u64("LEGATO_CRASH_SEED", 0x1e9a70);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let mut rng = Rng::new(seed);
    let mut ledger = Ledger::default();
    let mut totals = Findings::default();
    let started = Instant::now();
    for cycle in 1..=cycles {
        let delay = Duration::from_millis(rng.below(41));
        let lines = run_cycle(&path, cycle, delay);
        let in_progress = ledger.absorb(&lines);
        let findings = check(&path, &mut ledger, in_progress.as_ref());
        totals.lost += findings.lost;
        totals.duplicated += findings.duplicated;
        totals.invariant += findings.invariant;
        assert_eq!(
            (findings.lost, findings.duplicated, findings.invariant),
            (0, 0, 0),
            "cycle {cycle} (seed {seed}, killed after {delay:?}, in progress {in_progress:?})"
        );
    }
    println!(
        "crash test: cycles={cycles} acknowledged={} lost={} duplicated={} \
         folded_into_sent={} entities={} seed={seed} elapsed={:.1}s",
        ledger.acked.len(),
        totals.lost,
        totals.duplicated,
        ledger.folded_into_sent,
        ledger.entities.len(),
        started.elapsed().as_secs_f64(),
    );
    assert!(
        ledger.acked.len() as u64 >= cycles,
        "the children barely wrote anything"
    );
    assert_eq!(totals.lost, 0);
    assert_eq!(totals.duplicated, 0);
    assert_eq!(ledger.folded_into_sent, 0);
}
