//! The history checker: what the simulated users did, and what must hold once every fault
//! has healed. It reads only the history it was told and the final local states of the
//! devices (and of a fresh observer: the server's truth); it shares no logic with the code
//! under test.
//!
//! - Every entry a user created (the store said it saved it) and nobody deleted is live on
//!   the server exactly once; a deleted one at most once (a delete may lose to a concurrent
//!   edit, or an edit live on as a re-creation, by the written rules of
//!   `docs/core-choices.md`); never twice.
//! - The shared goal's `progress` is exactly the sum of the saved `$inc` operations.
//! - Its `tags` are exactly the added tags minus the pulled ones (every tag is added once).
//! - Every device holds what the server holds (no divergence) with nothing left queued,
//!   dead-lettered or waiting for the user (no wedged queue).
//! - Read-your-writes: every saved edit was visible on its own device at once (checked as
//!   the edit is made; the simulation reports violations here as `unexpected`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::Result;
use legato_protocol::{EntityId, EntityType, Fields};
use legato_store::StoreHandle;
use serde_json::Value;

/// Jepsen-style counts of one run (or of many, added up).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub lost: u64,
    pub duplicated: u64,
    pub unexpected: u64,
    pub diverged: u64,
    pub wedged: u64,
}

impl Counts {
    pub fn is_clean(&self) -> bool {
        *self == Counts::default()
    }

    pub fn add(&mut self, other: &Counts) {
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.unexpected += other.unexpected;
        self.diverged += other.diverged;
        self.wedged += other.wedged;
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lost {} duplicated {} unexpected {} diverged {} wedged {}",
            self.lost, self.duplicated, self.unexpected, self.diverged, self.wedged
        )
    }
}

/// What the simulated users did, as far as their devices said it was saved.
#[derive(Debug, Default)]
pub struct History {
    created: BTreeSet<String>,
    deleted: BTreeSet<String>,
    increments: i64,
    increment_count: u64,
    added: BTreeSet<String>,
    pulled: BTreeSet<String>,
    unexpected: Vec<String>,
}

impl History {
    pub fn created(&mut self, marker: &str, visible: bool) {
        self.created.insert(marker.to_owned());
        if !visible {
            self.unexpected("a created entry not visible on its own device");
        }
    }

    pub fn deleted(&mut self, marker: &str) {
        self.deleted.insert(marker.to_owned());
    }

    pub fn incremented(&mut self, by: i64) {
        self.increments += by;
        self.increment_count += 1;
    }

    pub fn tag_added(&mut self, tag: &str) {
        self.added.insert(tag.to_owned());
    }

    pub fn tag_pulled(&mut self, tag: &str) {
        self.pulled.insert(tag.to_owned());
    }

    pub fn unexpected(&mut self, what: &str) {
        self.unexpected.push(what.to_owned());
    }

    /// The checks, against the server's truth (`truth`, read by a fresh device) and every
    /// device's replica.
    pub fn check(
        &self,
        truth: &Snapshot,
        replicas: &[(String, Snapshot)],
        goal: &EntityId,
    ) -> (Counts, Vec<String>) {
        let mut counts = Counts::default();
        let mut findings = Vec::new();
        for what in &self.unexpected {
            counts.unexpected += 1;
            findings.push(format!("read-your-writes: {what}"));
        }
        for (name, replica) in replicas {
            if replica.entities != truth.entities {
                counts.diverged += 1;
                findings.push(format!(
                    "{name} differs from the server: {}",
                    diff(truth, replica)
                ));
            }
            if replica.queued != 0 {
                counts.wedged += 1;
                findings.push(format!(
                    "{name} still holds {} unsettled changes",
                    replica.queued
                ));
            }
        }

        let Some(goal_state) = truth.get(EntityType::Goals, goal) else {
            counts.lost += 1;
            findings.push("the shared goal is gone".into());
            return (counts, findings);
        };
        let progress = goal_state
            .get("progress")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if progress < self.increments {
            counts.lost += 1;
            findings.push(format!(
                "progress {progress}, but {} increments sum to {}",
                self.increment_count, self.increments
            ));
        } else if progress > self.increments {
            counts.duplicated += 1;
            findings.push(format!(
                "progress {progress}, but {} increments sum to {}",
                self.increment_count, self.increments
            ));
        }

        let tags: Vec<String> = goal_state
            .get("tags")
            .and_then(|t| serde_json::from_value(t.clone()).ok())
            .unwrap_or_default();
        let present: BTreeSet<String> = tags.iter().cloned().collect();
        if present.len() != tags.len() {
            counts.duplicated += 1;
            findings.push(format!("a tag twice: {tags:?}"));
        }
        for tag in self.added.difference(&self.pulled) {
            if !present.contains(tag) {
                counts.lost += 1;
                findings.push(format!("tag {tag} was added and never pulled, but is gone"));
            }
        }
        for tag in &present {
            if self.pulled.contains(tag) {
                counts.unexpected += 1;
                findings.push(format!("tag {tag} was pulled, but is back"));
            } else if !self.added.contains(tag) {
                counts.unexpected += 1;
                findings.push(format!("tag {tag} was never added"));
            }
        }

        let mut live: BTreeMap<String, usize> = BTreeMap::new();
        for (entity_type, _, state) in &truth.entities {
            if *entity_type == EntityType::Logbook {
                *live.entry(marker(state)).or_default() += 1;
            }
        }
        for marker in &self.created {
            let count = live.get(marker).copied().unwrap_or(0);
            if count == 0 && !self.deleted.contains(marker) {
                counts.lost += 1;
                findings.push(format!("entry {marker} was never deleted, but is gone"));
            }
            if count > 1 {
                counts.duplicated += 1;
                findings.push(format!("entry {marker} is there {count} times"));
            }
        }
        for marker in live.keys() {
            if !self.created.contains(marker) {
                counts.unexpected += 1;
                findings.push(format!("entry {marker} was never created"));
            }
        }
        (counts, findings)
    }
}

/// A device's live entities and how much it still holds unsettled.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// (type, id, state), sorted.
    pub entities: Vec<(EntityType, String, Fields)>,
    /// Outbox rows, dead letters and stored conflicts.
    pub queued: u64,
}

impl Snapshot {
    fn get(&self, entity_type: EntityType, id: &EntityId) -> Option<&Fields> {
        self.entities
            .iter()
            .find(|(t, i, _)| *t == entity_type && i == id.as_str())
            .map(|(_, _, state)| state)
    }
}

/// Reads a device's snapshot in one store job.
pub async fn snapshot(store: &StoreHandle) -> Result<Snapshot> {
    Ok(store
        .call(|s| {
            let mut entities = Vec::new();
            for entity_type in EntityType::ALL {
                for entity in s.list(entity_type)? {
                    entities.push((entity_type, entity.id.to_string(), entity.state));
                }
            }
            entities.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            let queued = s.pending_count()? + s.dead_letter_count()? + s.conflicts()?.len() as u64;
            Ok(Snapshot { entities, queued })
        })
        .await?)
}

/// The marker a simulated user put into an entry's `metadata` when creating it.
pub fn marker(state: &Fields) -> String {
    state
        .get("metadata")
        .and_then(|m| m.get("marker"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned()
}

/// A short account of how a replica differs from the truth.
fn diff(truth: &Snapshot, replica: &Snapshot) -> String {
    let ids = |s: &Snapshot| -> BTreeSet<String> {
        s.entities
            .iter()
            .map(|(t, i, _)| format!("{t}/{i}"))
            .collect()
    };
    let (t, r) = (ids(truth), ids(replica));
    let missing: Vec<_> = t.difference(&r).collect();
    let extra: Vec<_> = r.difference(&t).collect();
    let changed: Vec<String> = truth
        .entities
        .iter()
        .filter_map(|(ty, id, state)| {
            let (_, _, other) = replica
                .entities
                .iter()
                .find(|(t2, i2, s2)| t2 == ty && i2 == id && s2 != state)?;
            // The fields that differ, the server's value first.
            let fields: Vec<String> = state
                .keys()
                .chain(other.keys())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter(|k| state.get(*k) != other.get(*k))
                .map(|k| format!("{k}: {:?} / {:?}", state.get(k), other.get(k)))
                .collect();
            Some(format!("{ty}/{id} {{{}}}", fields.join(", ")))
        })
        .collect();
    format!(
        "missing {missing:?}, extra {extra:?}, {} with other values {changed:?}",
        changed.len()
    )
}
