//! The async handle: SQLite on its own thread, never on a runtime worker.

use legato_protocol::EntityType;
use legato_store::{StoreError, StoreHandle};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_run_on_the_store_thread_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let handle = StoreHandle::open(dir.path().join("h.db")).await.unwrap();
    let thread = handle
        .call(|_| Ok(std::thread::current().name().map(str::to_owned)))
        .await
        .unwrap();
    assert_eq!(thread.as_deref(), Some("legato-store"));

    let mut tasks = Vec::new();
    for n in 0..20 {
        let handle = handle.clone();
        tasks.push(tokio::spawn(async move {
            handle
                .call(move |store| {
                    store.create(
                        EntityType::Logbook,
                        entry("2025-11-25T18:00:00.000Z", 10 + n, "async"),
                        NOW,
                    )
                })
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let count = handle
        .call(|store| Ok(store.list(EntityType::Logbook)?.len()))
        .await
        .unwrap();
    assert_eq!(count, 20);
}

#[tokio::test]
async fn a_panicking_call_rolls_back_and_the_store_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let handle = StoreHandle::open(dir.path().join("p.db")).await.unwrap();
    let result: Result<(), _> = handle
        .call(|store| {
            store.create(
                EntityType::Logbook,
                entry("2025-11-25T18:00:00.000Z", 10, "x"),
                NOW,
            )?;
            panic!("bug in a caller");
        })
        .await;
    assert!(matches!(result, Err(StoreError::Panicked(ref m)) if m.contains("bug in a caller")));
    // The create committed before the panic (its own transaction); the store still works.
    let count = handle.call(|store| store.pending_count()).await.unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn opening_a_bad_path_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let err = StoreHandle::open(dir.path().join("missing/dir/x.db"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlite(_)), "{err:?}");
}

#[tokio::test]
async fn the_log_is_checkpointed_when_the_store_is_idle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idle.db");
    let handle = StoreHandle::open(&path).await.unwrap();
    let db_size = || std::fs::metadata(&path).unwrap().len();
    let wal_size = || {
        std::fs::metadata(path.with_extension("db-wal"))
            .unwrap()
            .len()
    };
    let before = db_size();
    handle
        .call(|store| {
            for n in 0..50 {
                store.create(
                    EntityType::Logbook,
                    entry("2025-11-25T18:00:00.000Z", 10 + n, "idle"),
                    NOW,
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    assert!(wal_size() > 0);
    assert_eq!(
        db_size(),
        before,
        "new pages live in the log until a checkpoint"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    assert!(
        db_size() > before,
        "the idle worker copied the log into the database"
    );
}
