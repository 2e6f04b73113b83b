//! Against a server that prunes everything at once (docs/server-choices.md, "Pruning"):
//! the change log's payloads and the tombstones' last states are gone by the time a copy of
//! a device's data dir, restored from a backup, sends the changes it holds again.

use std::time::Duration;

use legato_protocol::EntityType;
use legato_server::Settings;
use serde_json::{Value, json};

use crate::support::{Device, TestServer, eventually, test_config};

/// Prune everything recorded, every 50 ms.
fn prune_at_once(settings: &mut Settings) {
    settings.prune_after = Some(Duration::ZERO);
    settings.prune_interval = Duration::from_millis(50);
}

async fn wait_pruned(server: &TestServer, records: f64) {
    eventually("the server pruned its change log", || async {
        (server.metric("legato_pruned_records_total").await >= records).then_some(())
    })
    .await;
}

/// Copies a closed device's data dir (a restored backup).
fn copy_dir(dir: &tempfile::TempDir) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for name in ["device.db", "device.db-wal", "device.db-shm"] {
        let from = dir.path().join(name);
        if from.exists() {
            std::fs::copy(&from, copy.path().join(name)).unwrap();
        }
    }
    copy
}

/// A backup of device A holds an increment A sent after the backup was taken. The server
/// applied it and pruned its record. The restored copy sends it again: it is a `duplicate`
/// (the increment counts once), answered with the entity's current version as `unchanged`,
/// and the copy settles it without claiming that version and catches up, so it ends with
/// the server's state: progress 5, not 0 (its base without the resolved increment) nor 10.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_copy_resending_a_pruned_increment_counts_it_once_and_converges() {
    let server = TestServer::start_with(prune_at_once).await;
    let token = server.register().await;
    let a = Device::connected(&server, &token).await;
    let goal = a
        .create(
            EntityType::Goals,
            json!({"title": "Scales daily", "type": "practice_time", "progress": 0}),
        )
        .await;
    a.sync.sync_now().await.unwrap();
    a.sync.pause().await.unwrap();
    a.patch(EntityType::Goals, &goal, json!({"progress": {"$inc": 5}}))
        .await;
    let dir = a.close().await;
    let backup = copy_dir(&dir);
    let a = Device::in_dir(dir, test_config(&server.url(), &token)).await;
    a.sync.sync_now().await.unwrap();
    assert_eq!(a.pending().await, 0);
    wait_pruned(&server, 2.0).await;

    let restored = Device::in_dir(backup, test_config(&server.url(), &token)).await;
    restored.sync.sync_now().await.unwrap();
    let progress = eventually("the restored copy has the server's state", || async {
        let value = restored.field(EntityType::Goals, &goal, "progress").await;
        (restored.pending().await == 0 && value == json!(5)).then_some(value)
    })
    .await;
    assert_eq!(progress, json!(5));
    let observer = Device::connected(&server, &token).await;
    assert_eq!(
        observer.field(EntityType::Goals, &goal, "progress").await,
        json!(5),
        "the increment counted once"
    );
    assert_eq!(restored.everything().await, observer.everything().await);
}

/// An entry deleted on another device and pruned (its last state gone from the server) is
/// edited on a device that was away: the `conflict` answer carries `remote: {}`, and the
/// device re-creates the entry from its own last copy of it plus its edit (merge strategy),
/// so the edit and the fields it did not touch both survive, and every device agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_of_an_entry_whose_tombstone_was_pruned_is_re_created_whole() {
    let server = TestServer::start_with(prune_at_once).await;
    let token = server.register().await;
    let a = Device::connected(&server, &token).await;
    let b = Device::connected(&server, &token).await;
    let entry = a.entry("slow practice").await;
    a.sync.sync_now().await.unwrap();
    eventually("B has the entry", || async {
        b.get(EntityType::Logbook, &entry).await.map(|_| ())
    })
    .await;
    b.sync.pause().await.unwrap();
    b.patch(EntityType::Logbook, &entry, json!({"duration": 90}))
        .await;
    a.delete(EntityType::Logbook, &entry).await;
    a.sync.sync_now().await.unwrap();
    wait_pruned(&server, 2.0).await;
    eventually("the tombstone lost its last state", || async {
        (server.metric("legato_pruned_tombstones_total").await >= 1.0).then_some(())
    })
    .await;

    b.sync.resume().await.unwrap();
    b.sync.sync_now().await.unwrap();
    let everything = eventually("A and B agree on one re-created entry", || async {
        a.sync.sync_now().await.ok()?;
        let (on_a, on_b) = (a.everything().await, b.everything().await);
        (on_a.len() == 1 && on_a == on_b && b.pending().await == 0).then_some(on_a)
    })
    .await;
    let state = &everything[0].2;
    assert_eq!(state["duration"], json!(90), "B's edit: {state:?}");
    assert_eq!(
        state["notes"],
        Value::from("slow practice"),
        "what B's edit did not touch comes from B's own last copy: {state:?}"
    );
    assert_ne!(
        everything[0].1,
        entry.to_string(),
        "a new id: no resurrection"
    );
    assert_eq!(b.status().conflicts, 0, "nothing left for the user");
}
