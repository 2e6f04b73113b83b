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

/// A `call` write is answered only after the log sync; reads and `call_ahead` jobs do not
/// sync; a read queued behind a write is not answered before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_answered_after_the_log_sync_in_order() {
    use std::future::Future as _;
    use std::task::{Context, Poll, Waker};

    let dir = tempfile::tempdir().unwrap();
    let handle = StoreHandle::open(dir.path().join("g.db")).await.unwrap();
    let create = |n: u32| {
        move |store: &mut legato_store::Store| {
            store.create(
                EntityType::Logbook,
                entry("2025-11-25T18:00:00.000Z", 10 + n, "sync"),
                NOW,
            )
        }
    };
    assert_eq!(handle.log_syncs(), 0);
    handle.call(create(1)).await.unwrap();
    assert_eq!(handle.log_syncs(), 1, "the edit's answer waited for a sync");

    handle.call(|store| store.pending_count()).await.unwrap();
    handle.call_ahead(create(2)).await.unwrap();
    assert_eq!(handle.log_syncs(), 1, "reads and ahead jobs sync nothing");

    for round in 0..20 {
        let mut write = Box::pin(handle.call(create(3 + round)));
        let read = handle.call(|store| store.pending_count());
        let count = read.await.unwrap();
        assert_eq!(count, 3 + u64::from(round), "the read saw the write");
        let polled = write.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(
            matches!(polled, Poll::Ready(Ok(_))),
            "the read was answered before the write it follows"
        );
    }
    assert!(handle.log_syncs() >= 2);

    // Durable means on disk for a reopened store as well.
    drop(handle);
    let reopened = StoreHandle::open(dir.path().join("g.db")).await.unwrap();
    let count = reopened.call(|store| store.pending_count()).await.unwrap();
    assert_eq!(count, 22);
}

/// The write hook fires for `call` jobs that wrote (before their answer), not for reads
/// or `call_ahead` jobs, and is dropped once it returns `false`.
#[tokio::test]
async fn the_write_hook_sees_local_writes_only() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let handle = StoreHandle::open(dir.path().join("w.db")).await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    handle.on_write(move || seen.fetch_add(1, Ordering::SeqCst) < 1);
    let write = |store: &mut legato_store::Store| {
        store.create(
            EntityType::Logbook,
            entry("2025-11-25T18:00:00.000Z", 10, "hook"),
            NOW,
        )
    };
    handle.call(|store| store.pending_count()).await.unwrap();
    handle.call_ahead(write).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    handle.call(write).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The hook said `false` the second time: it is gone after that.
    handle.call(write).await.unwrap();
    handle.call(write).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// An in-memory store has no log to sync: answers go out directly.
#[tokio::test]
async fn an_in_memory_store_needs_no_log_sync() {
    let handle = StoreHandle::new(legato_store::Store::open_in_memory().unwrap()).unwrap();
    handle
        .call(|store| {
            store.create(
                EntityType::Logbook,
                entry("2025-11-25T18:00:00.000Z", 10, "memory"),
                NOW,
            )
        })
        .await
        .unwrap();
    assert_eq!(handle.log_syncs(), 0);
}

/// A job's own error type, as a command would have one.
#[derive(Debug, PartialEq)]
enum JobError {
    Refused(&'static str),
    Store(String),
}

impl From<StoreError> for JobError {
    fn from(err: StoreError) -> Self {
        JobError::Store(err.to_string())
    }
}

#[tokio::test]
async fn try_call_returns_the_jobs_own_error_and_the_handles_as_one_result() {
    let dir = tempfile::tempdir().unwrap();
    let handle = StoreHandle::open(dir.path().join("t.db")).await.unwrap();
    let created = handle
        .try_call(|store| -> Result<_, JobError> {
            Ok(store.create(
                EntityType::Logbook,
                entry("2025-11-25T18:00:00.000Z", 10, "t"),
                NOW,
            )?)
        })
        .await
        .unwrap();
    let refused = handle
        .try_call(|_| -> Result<(), JobError> { Err(JobError::Refused("no")) })
        .await;
    assert_eq!(refused, Err(JobError::Refused("no")));
    let found = handle
        .try_call(move |store| -> Result<_, JobError> {
            Ok(store.get(EntityType::Logbook, &created.entity_id)?)
        })
        .await
        .unwrap();
    assert!(found.is_some(), "the first job's write is there");
    let panicked = handle
        .try_call(|_| -> Result<(), JobError> { panic!("boom") })
        .await;
    assert!(matches!(panicked, Err(JobError::Store(_))), "{panicked:?}");
}
