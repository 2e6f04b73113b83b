//! A seeded simulation of Legato under faults, with a history checker.
//!
//! One run (a seed) starts the real sync server and 3 to 5 real devices (store + engine),
//! each behind its own faultable link, and plays a script the seed generates: creates, edits
//! and deletes of logbook entries, undo of deletes, `$inc` / `$addToSet` / `$pull` on a
//! shared goal, syncs, offline spells, partitions (both ways and one way, held bytes), cut
//! connections, server restarts, device crashes, and a device restored from an old copy of
//! another's data dir. Every conflict strategy is used (one per run); under `manual` a
//! simulated user answers the stored conflicts. Then every fault heals, the devices sync
//! until they agree, and a fresh observer device catches up: it is the server's truth.
//!
//! The checker ([`checker`]) knows nothing of the code under test: it reads the history of
//! what the simulated users did (only edits the store said it saved) and the final states,
//! and counts what was lost, duplicated, unexpected or diverged, and which queues are wedged.
//!
//! `SEED=n` replays the same script (the trace hash is the hash of the script); thread
//! interleavings, which the real server and engines choose, are not controlled (see
//! `docs/simulation.md`).

pub mod checker;
pub mod world;

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use legato_protocol::{EntityId, EntityType, Fields};
use legato_sync::Strategy;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use checker::{Counts, History};
use world::{Device, Link, Server, sim_config};

/// One step of a script. Picks (`pick`) choose among what the device sees when the step
/// runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    CreateEntry {
        device: usize,
        marker: String,
    },
    EditEntry {
        device: usize,
        pick: usize,
        notes: String,
        duration: u32,
    },
    DeleteEntry {
        device: usize,
        pick: usize,
    },
    UndoDelete {
        device: usize,
    },
    Increment {
        device: usize,
        by: i64,
    },
    AddTag {
        device: usize,
        tag: String,
    },
    PullTag {
        device: usize,
        pick: usize,
    },
    Sync {
        device: usize,
    },
    Offline {
        device: usize,
        offline: bool,
    },
    Partition {
        device: usize,
        up: bool,
        down: bool,
    },
    Heal {
        device: usize,
    },
    Cut {
        device: usize,
    },
    RestartServer,
    Crash {
        device: usize,
    },
    Snapshot {
        device: usize,
    },
    Restore,
    Answer {
        device: usize,
    },
    Wait {
        ms: u64,
    },
    /// The device's wall clock jumps by `by_ms` (either way; the monotonic clock goes on).
    ClockJump {
        device: usize,
        by_ms: i64,
    },
}

/// The script of a seed, and its strategy and device count.
#[derive(Debug, Clone)]
pub struct Script {
    pub seed: u64,
    pub strategy: Strategy,
    pub devices: usize,
    pub steps: Vec<Step>,
}

impl Script {
    pub fn generate(seed: u64, steps: usize) -> Script {
        let mut rng = StdRng::seed_from_u64(seed);
        let strategy = [
            Strategy::Merge,
            Strategy::Local,
            Strategy::Remote,
            Strategy::Manual,
        ][rng.random_range(0..4)];
        let devices = rng.random_range(3..=5);
        let mut out = Vec::with_capacity(steps);
        let (mut markers, mut tags) = (0, 0);
        for _ in 0..steps {
            let device = rng.random_range(0..devices);
            let step = match rng.random_range(0..100) {
                0..14 => {
                    markers += 1;
                    Step::CreateEntry {
                        device,
                        marker: format!("m{markers}"),
                    }
                }
                14..26 => Step::EditEntry {
                    device,
                    pick: rng.random_range(0..8),
                    notes: format!("n{}", rng.random_range(0..1000)),
                    duration: rng.random_range(1..=120),
                },
                26..32 => Step::DeleteEntry {
                    device,
                    pick: rng.random_range(0..8),
                },
                32..34 => Step::UndoDelete { device },
                34..44 => Step::Increment {
                    device,
                    by: rng.random_range(1..=9),
                },
                44..50 => {
                    tags += 1;
                    Step::AddTag {
                        device,
                        tag: format!("t{tags}"),
                    }
                }
                50..53 => Step::PullTag {
                    device,
                    pick: rng.random_range(0..8),
                },
                53..68 => Step::Sync { device },
                68..73 => Step::Offline {
                    device,
                    offline: rng.random_bool(0.6),
                },
                73..77 => Step::Partition {
                    device,
                    up: rng.random_bool(0.7),
                    down: rng.random_bool(0.7),
                },
                77..81 => Step::Heal { device },
                81..83 => Step::Cut { device },
                83..85 => Step::RestartServer,
                85..88 => Step::Crash { device },
                88..89 => Step::Snapshot { device },
                89..90 => Step::Restore,
                90..94 => Step::Answer { device },
                94..98 => {
                    // A minute to three days, back or forward.
                    let by_ms = rng.random_range(60_000..=3 * 86_400_000);
                    Step::ClockJump {
                        device,
                        by_ms: if rng.random_bool(0.5) { -by_ms } else { by_ms },
                    }
                }
                _ => Step::Wait {
                    ms: rng.random_range(1..30),
                },
            };
            out.push(step);
        }
        Script {
            seed,
            strategy,
            devices,
            steps: out,
        }
    }

    /// The hash of the script: the same seed gives the same hash.
    pub fn trace_hash(&self) -> String {
        let mut text = format!("{:?} {}\n", self.strategy, self.devices);
        for step in &self.steps {
            let _ = writeln!(text, "{step:?}");
        }
        let digest = Sha256::digest(text.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What one seed gave.
#[derive(Debug, Clone)]
pub struct Report {
    pub seed: u64,
    pub strategy: Strategy,
    pub devices: usize,
    pub trace_hash: String,
    pub counts: Counts,
    /// What the checker found, one line each (empty when the run is clean).
    pub findings: Vec<String>,
}

/// How long the devices get to agree once every fault has healed.
const CONVERGE_WITHIN: Duration = Duration::from_secs(20);

/// Runs one seed's script against the real server and devices and checks the history.
pub async fn run_seed(seed: u64, steps: usize) -> Result<Report> {
    let script = Script::generate(seed, steps);
    let mut sim = Sim::start(&script).await?;
    let mut answers = StdRng::seed_from_u64(seed ^ 0x5eed);
    for step in &script.steps {
        sim.play(step, &mut answers)
            .await
            .with_context(|| format!("seed {seed}: {step:?}"))?;
    }
    sim.converge(&mut answers).await?;
    let (counts, findings) = sim.check().await?;
    Ok(Report {
        seed,
        strategy: script.strategy,
        devices: script.devices,
        trace_hash: script.trace_hash(),
        counts,
        findings,
    })
}

/// The running world of one seed.
struct Sim {
    server: Server,
    token: String,
    strategy: Strategy,
    devices: Vec<Device>,
    goal: EntityId,
    history: History,
    snapshot: Option<tempfile::TempDir>,
    restored: bool,
    /// Each device's latest delete, for an undo.
    last_deleted: std::collections::HashMap<usize, EntityId>,
}

impl Sim {
    async fn start(script: &Script) -> Result<Sim> {
        let server = Server::start().await?;
        let token = server.register().await?;
        let mut devices = Vec::new();
        for n in 0..script.devices {
            devices
                .push(new_device(&server, &token, script.strategy, format!("d{n}"), None).await?);
        }
        // The shared goal, on every device before the script starts.
        let goal = json!({"title": "Practice", "type": "practice_time", "progress": 0, "tags": []});
        let goal_id = devices[0]
            .store()
            .call(move |s| s.create(EntityType::Goals, object(goal), now_ms()))
            .await?
            .entity_id;
        devices[0].sync().notify_local_change();
        for device in &devices {
            let id = goal_id.clone();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), device.sync().sync_now()).await;
                let id = id.clone();
                if device
                    .store()
                    .call(move |s| s.get(EntityType::Goals, &id))
                    .await?
                    .is_some()
                {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    bail!("the goal never reached {}", device.name);
                }
            }
        }
        Ok(Sim {
            server,
            token,
            strategy: script.strategy,
            devices,
            goal: goal_id,
            history: History::default(),
            snapshot: None,
            restored: false,
            last_deleted: Default::default(),
        })
    }

    async fn play(&mut self, step: &Step, answers: &mut StdRng) -> Result<()> {
        tracing::debug!(?step, "step");
        match step {
            Step::CreateEntry { device, marker } => {
                let Some(d) = running(&self.devices, *device) else {
                    return Ok(());
                };
                let state = object(json!({
                    "timestamp": "2026-01-15T18:00:00.000Z",
                    "duration": 30,
                    "notes": "new",
                    "metadata": {"marker": marker},
                }));
                let now = d.now_ms();
                let saved = d
                    .store()
                    .call(move |s| {
                        let edit = s.create(EntityType::Logbook, state, now)?;
                        let seen = s.get(EntityType::Logbook, &edit.entity_id)?;
                        Ok(seen.is_some_and(|e| !e.deleted))
                    })
                    .await?;
                d.sync().notify_local_change();
                self.history.created(marker, saved);
            }
            Step::EditEntry {
                device,
                pick,
                notes,
                duration,
            } => {
                let Some(d) = running(&self.devices, *device) else {
                    return Ok(());
                };
                let Some((id, _)) = pick_entry(d, *pick).await? else {
                    return Ok(());
                };
                let patch = object(json!({"notes": notes, "duration": duration}));
                let expect = notes.clone();
                let now = d.now_ms();
                let outcome = d
                    .store()
                    .call(move |s| {
                        let queued = s.patch(EntityType::Logbook, &id, patch, now);
                        let seen = s.get(EntityType::Logbook, &id)?;
                        Ok((
                            queued.is_ok(),
                            seen.map(|e| e.state.get("notes") == Some(&json!(expect))),
                        ))
                    })
                    .await?;
                if let (true, Some(false)) = outcome {
                    self.history
                        .unexpected("an edit not visible on its own device");
                }
                d.sync().notify_local_change();
            }
            Step::DeleteEntry { device, pick } => {
                let Some(d) = running(&self.devices, *device) else {
                    return Ok(());
                };
                let Some((id, marker)) = pick_entry(d, *pick).await? else {
                    return Ok(());
                };
                let id_for_undo = id.clone();
                let now = d.now_ms();
                let deleted = d
                    .store()
                    .call(move |s| {
                        let done = s.delete(EntityType::Logbook, &id, now).is_ok();
                        let seen = s.get(EntityType::Logbook, &id)?;
                        Ok((done, seen.is_none_or(|e| e.deleted)))
                    })
                    .await?;
                match deleted {
                    (true, true) => {
                        self.history.deleted(&marker);
                        self.last_deleted.insert(*device, id_for_undo);
                    }
                    (true, false) => self
                        .history
                        .unexpected("a delete not visible on its own device"),
                    _ => {}
                }
                d.sync().notify_local_change();
            }
            Step::UndoDelete { device } => {
                let Some(d) = running(&self.devices, *device) else {
                    return Ok(());
                };
                let Some(id) = self.last_deleted.remove(device) else {
                    return Ok(());
                };
                let now = d.now_ms();
                let undone = d
                    .store()
                    .call(move |s| Ok(s.undo_delete(EntityType::Logbook, &id, now).is_ok()))
                    .await?;
                if undone {
                    d.sync().notify_local_change();
                }
            }
            Step::Increment { device, by } => {
                let Some(d) = running(&self.devices, *device) else {
                    return Ok(());
                };
                let (goal, by) = (self.goal.clone(), *by);
                let now = d.now_ms();
                let saved = d
                    .store()
                    .call(move |s| {
                        let before = progress(s, &goal)?;
                        let patch = object(json!({"progress": {"$inc": by}}));
                        let queued = s.patch(EntityType::Goals, &goal, patch, now)?;
                        Ok((queued.is_some(), progress(s, &goal)? - before))
                    })
                    .await?;
                if saved.0 {
                    self.history.incremented(by);
                    if saved.1 != by {
                        self.history
                            .unexpected("an increment not visible on its own device");
                    }
                }
                d.sync().notify_local_change();
            }
            Step::AddTag { device, tag } => {
                let Some(d) = running(&self.devices, *device) else {
                    return Ok(());
                };
                let goal = self.goal.clone();
                let patch = object(json!({"tags": {"$addToSet": [tag]}}));
                let now = d.now_ms();
                let saved = d
                    .store()
                    .call(move |s| Ok(s.patch(EntityType::Goals, &goal, patch, now)?.is_some()))
                    .await?;
                if saved {
                    self.history.tag_added(tag);
                }
                d.sync().notify_local_change();
            }
            Step::PullTag { device, pick } => {
                let Some(d) = running(&self.devices, *device) else {
                    return Ok(());
                };
                let goal = self.goal.clone();
                let pick = *pick;
                let now = d.now_ms();
                let pulled = d
                    .store()
                    .call(move |s| {
                        let tags = goal_tags(s, &goal)?;
                        let Some(tag) = (!tags.is_empty()).then(|| tags[pick % tags.len()].clone())
                        else {
                            return Ok(None);
                        };
                        let patch = object(json!({"tags": {"$pull": [tag]}}));
                        let queued = s.patch(EntityType::Goals, &goal, patch, now)?;
                        Ok(queued.map(|_| tag))
                    })
                    .await?;
                if let Some(tag) = pulled {
                    self.history.tag_pulled(&tag);
                }
                d.sync().notify_local_change();
            }
            Step::Sync { device } => {
                let Some(d) = running(&self.devices, *device) else {
                    return Ok(());
                };
                let _ = tokio::time::timeout(Duration::from_millis(150), d.sync().sync_now()).await;
            }
            Step::Offline { device, offline } => {
                let Some(d) = running(&self.devices, *device) else {
                    return Ok(());
                };
                let _ = if *offline {
                    d.sync().pause().await
                } else {
                    d.sync().resume().await
                };
            }
            Step::Partition { device, up, down } => {
                if let Some(d) = self.devices.get(*device) {
                    d.link.set(|s| {
                        s.hold_up = *up;
                        s.hold_down = *down;
                    });
                }
            }
            Step::Heal { device } => {
                if let Some(d) = self.devices.get(*device) {
                    d.link.heal();
                }
            }
            Step::Cut { device } => {
                if let Some(d) = self.devices.get(*device) {
                    d.link.set(|s| s.cuts += 1);
                }
            }
            Step::RestartServer => self.server.restart().await?,
            Step::Crash { device } => {
                if let Some(d) = self.devices.get_mut(*device) {
                    d.crash().await;
                    d.start().await?;
                }
            }
            Step::Snapshot { device } => {
                if self.snapshot.is_none()
                    && let Some(d) = running(&self.devices, *device)
                {
                    self.snapshot = Some(d.snapshot().await?);
                }
            }
            Step::Restore => {
                if !self.restored
                    && let Some(dir) = self.snapshot.take()
                {
                    self.restored = true;
                    let name = format!("d{}-restored", self.devices.len());
                    let device =
                        new_device(&self.server, &self.token, self.strategy, name, Some(dir))
                            .await?;
                    self.devices.push(device);
                }
            }
            Step::Answer { device } => {
                if let Some(d) = running(&self.devices, *device) {
                    answer_conflicts(d, answers).await?;
                }
            }
            Step::Wait { ms } => tokio::time::sleep(Duration::from_millis(*ms)).await,
            Step::ClockJump { device, by_ms } => {
                if let Some(d) = self.devices.get(*device) {
                    d.jump_clock(*by_ms);
                }
            }
        }
        Ok(())
    }

    /// Heals every fault and lets the devices sync until they agree (or time runs out: the
    /// checker then reports the divergence).
    async fn converge(&mut self, answers: &mut StdRng) -> Result<()> {
        for device in &mut self.devices {
            device.link.heal();
            if device.running.is_none() {
                device.start().await?;
            }
            let _ = device.sync().resume().await;
        }
        let deadline = tokio::time::Instant::now() + CONVERGE_WITHIN;
        loop {
            for device in &self.devices {
                answer_conflicts(device, answers).await?;
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), device.sync().sync_now()).await;
            }
            let mut states = Vec::new();
            let mut settled = true;
            for device in &self.devices {
                let snapshot = checker::snapshot(device.store()).await?;
                settled &= snapshot.queued == 0;
                states.push(snapshot.entities);
            }
            if settled && states.windows(2).all(|w| w[0] == w[1]) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    async fn check(&mut self) -> Result<(Counts, Vec<String>)> {
        let observer = new_device(
            &self.server,
            &self.token,
            Strategy::Merge,
            "observer".into(),
            None,
        )
        .await?;
        let _ = tokio::time::timeout(Duration::from_secs(5), observer.sync().sync_now()).await;
        let truth = checker::snapshot(observer.store()).await?;
        let mut replicas = Vec::new();
        for device in &self.devices {
            replicas.push((
                device.name.clone(),
                checker::snapshot(device.store()).await?,
            ));
        }
        Ok(self.history.check(&truth, &replicas, &self.goal))
    }
}

/// Device `n`, if it is running (a step on a crashed device is skipped: it restarts at
/// once, but a restored copy may not exist yet).
fn running(devices: &[Device], n: usize) -> Option<&Device> {
    devices.get(n).filter(|d| d.running.is_some())
}

async fn new_device(
    server: &Server,
    token: &str,
    strategy: Strategy,
    name: String,
    dir: Option<tempfile::TempDir>,
) -> Result<Device> {
    let link = Link::start(server.addr).await?;
    let config = sim_config(&link.url(), token, strategy)?;
    let dir = match dir {
        Some(dir) => dir,
        None => tempfile::tempdir()?,
    };
    Device::new(name, dir, link, config).await
}

/// The simulated user answers every stored conflict: keep mine (the local state) or take
/// theirs, at random.
async fn answer_conflicts(device: &Device, answers: &mut StdRng) -> Result<()> {
    let conflicts = device.store().call(|s| s.conflicts()).await?;
    for conflict in conflicts {
        let data = &conflict.conflict;
        let keep_mine = answers.random_bool(0.5);
        let (entity_type, id) = (data.entity_type, data.entity_id.clone());
        let local = device
            .store()
            .call(move |s| s.get(entity_type, &id))
            .await?;
        let result = match local {
            Some(local) if keep_mine && !local.deleted => device
                .sync()
                .apply_user_decision(conflict.id, local.state)
                .await
                .map(|_| ()),
            _ => device.sync().discard_conflict(conflict.id).await,
        };
        if let Err(err) = result {
            tracing::debug!(%err, "a simulated user's answer failed");
        }
    }
    Ok(())
}

/// The `pick`-th live logbook entry of a device (by id), with its marker.
async fn pick_entry(device: &Device, pick: usize) -> Result<Option<(EntityId, String)>> {
    let entries = device.store().call(|s| s.list(EntityType::Logbook)).await?;
    let live: Vec<_> = entries.into_iter().filter(|e| !e.deleted).collect();
    if live.is_empty() {
        return Ok(None);
    }
    let entry = &live[pick % live.len()];
    Ok(Some((entry.id.clone(), checker::marker(&entry.state))))
}

fn progress(store: &legato_store::Store, goal: &EntityId) -> legato_store::Result<i64> {
    Ok(store
        .get(EntityType::Goals, goal)?
        .and_then(|g| g.state.get("progress").and_then(Value::as_i64))
        .unwrap_or(0))
}

fn goal_tags(store: &legato_store::Store, goal: &EntityId) -> legato_store::Result<Vec<String>> {
    Ok(store
        .get(EntityType::Goals, goal)?
        .and_then(|g| serde_json::from_value(g.state.get("tags")?.clone()).ok())
        .unwrap_or_default())
}

fn object(value: Value) -> Fields {
    match value {
        Value::Object(map) => map,
        _ => Fields::new(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
