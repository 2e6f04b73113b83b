//! Seeded random histories on three devices of one account, through a real server: devices
//! go offline and back, create, edit and delete concurrently. Afterwards every device holds
//! the same state, nothing is pending, and no edit was lost: each edit appends a unique token
//! to `notes` and a unique tag, and the merge rules (notes concatenated, tags three-way) must
//! keep every token of an entry nobody deleted.

use std::collections::{BTreeMap, BTreeSet};

use legato_protocol::{EntityId, EntityType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::support::*;

const DEVICES: usize = 3;
const STEPS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_offline_histories_converge_without_losing_an_edit() {
    for seed in [1_u64, 2, 3] {
        run(seed).await;
    }
}

/// What the history did to one entry: the tokens appended to it, and whether it was deleted.
#[derive(Default)]
struct Expect {
    tokens: BTreeSet<String>,
    deleted: bool,
}

async fn run(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let server = TestServer::start().await;
    let token = server.register().await;
    let mut devices = Vec::new();
    for _ in 0..DEVICES {
        devices.push(Device::connected(&server, &token).await);
    }
    let mut online = [true; DEVICES];
    let mut expected: BTreeMap<EntityId, Expect> = BTreeMap::new();
    let mut next_token = 0;

    for step in 0..STEPS {
        let d = rng.random_range(0..DEVICES);
        let device = &devices[d];
        let live: Vec<EntityId> = {
            let mut ids = Vec::new();
            for (_, id, _) in device.everything().await {
                let id = EntityId::new(id).unwrap();
                if expected.get(&id).is_some_and(|e| !e.deleted) {
                    ids.push(id);
                }
            }
            ids
        };
        match rng.random_range(0..10) {
            0 | 1 => {
                online[d] = !online[d];
                if online[d] {
                    device.sync.resume().await.unwrap();
                } else {
                    device.sync.pause().await.unwrap();
                }
            }
            2 | 3 => {
                let tok = format!("t{next_token}");
                next_token += 1;
                let id = device
                    .create(
                        EntityType::Logbook,
                        json!({
                            "timestamp": "2026-01-15T18:00:00.000Z",
                            "duration": 10 + step,
                            "notes": tok,
                            "tags": [tok],
                        }),
                    )
                    .await;
                expected.entry(id).or_default().tokens.insert(tok);
            }
            4 if !live.is_empty() && rng.random_bool(0.3) => {
                let id = &live[rng.random_range(0..live.len())];
                device.delete(EntityType::Logbook, id).await;
                expected.get_mut(id).unwrap().deleted = true;
            }
            _ if !live.is_empty() => {
                // Append a token to this device's current notes and tags.
                let id = &live[rng.random_range(0..live.len())];
                let tok = format!("t{next_token}");
                next_token += 1;
                // Read and write in one store call: a conflict settled in between would
                // otherwise be overwritten by this stale read (that is the test's doing, not
                // a sync loss).
                let (entity_id, append, duration) = (id.clone(), tok.clone(), 10 + step);
                let patched = device
                    .store
                    .call(move |store| {
                        let Some(entity) = store.get(EntityType::Logbook, &entity_id)? else {
                            return Ok(false);
                        };
                        if entity.deleted {
                            return Ok(false);
                        }
                        let notes = entity.state.get("notes").and_then(Value::as_str);
                        let mut tags: Vec<Value> = entity
                            .state
                            .get("tags")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        tags.push(json!(append));
                        let patch = fields(json!({
                            "notes": format!("{} {append}", notes.unwrap_or("")),
                            "tags": tags,
                            "duration": duration,
                        }));
                        store.patch(EntityType::Logbook, &entity_id, patch, now_ms())?;
                        Ok(true)
                    })
                    .await
                    .unwrap();
                device.sync.notify_local_change();
                if !patched {
                    continue;
                }
                expected.get_mut(id).unwrap().tokens.insert(tok);
            }
            _ => {}
        }
        if rng.random_bool(0.2) {
            tokio::time::sleep(std::time::Duration::from_millis(rng.random_range(0..30))).await;
        }
    }

    // Everyone back online; sync until nothing moves.
    for (d, device) in devices.iter().enumerate() {
        if !online[d] {
            device.sync.resume().await.unwrap();
        }
    }
    let states = eventually(
        &format!("seed {seed}: every device settled and identical"),
        || async {
            let mut states = Vec::new();
            for device in &devices {
                device.sync.sync_now().await.ok()?;
            }
            for device in &devices {
                if device.pending().await != 0 {
                    return None;
                }
                states.push(device.everything().await);
            }
            states.windows(2).all(|w| w[0] == w[1]).then_some(states)
        },
    )
    .await;

    let state: BTreeMap<&str, &legato_protocol::Fields> = states[0]
        .iter()
        .map(|(_, id, fields)| (id.as_str(), fields))
        .collect();
    for (id, expect) in &expected {
        let Some(fields) = state.get(id.as_str()) else {
            assert!(expect.deleted, "seed {seed}: entry {id} was lost");
            continue;
        };
        if expect.deleted {
            continue;
        }
        let notes = fields.get("notes").and_then(Value::as_str).unwrap_or("");
        let tags = fields.get("tags").cloned().unwrap_or(Value::Null);
        for tok in &expect.tokens {
            assert!(
                notes.split_whitespace().any(|w| w == tok),
                "seed {seed}: entry {id} lost the edit {tok} from its notes: {notes:?}"
            );
            assert!(
                tags.as_array().is_some_and(|t| t.contains(&json!(tok))),
                "seed {seed}: entry {id} lost the tag {tok}: {tags}"
            );
        }
    }
    for device in &devices {
        let status = device.status();
        assert_eq!(status.dead_letters, 0, "seed {seed}: {status:?}");
    }
}
