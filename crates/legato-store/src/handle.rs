//! [`StoreHandle`]: the store for async code. One dedicated OS thread owns the [`Store`] and
//! runs closures sent over a channel (the `tokio-rusqlite` pattern), so SQLite's blocking IO
//! never runs on an async worker thread.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::{Result, StoreError};
use crate::store::Store;

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A cloneable async handle to a [`Store`] running on its own thread.
///
/// Jobs run one at a time in the order [`StoreHandle::call`] was called (the job is queued
/// by `call` itself, not when the future is first polled). A job keeps running if its
/// future is dropped: an edit handed to the store is saved even if the caller gave up
/// waiting. The thread ends, closing the database, when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    jobs: mpsc::Sender<Job>,
}

impl StoreHandle {
    /// Moves an open store onto a new thread.
    pub fn new(store: Store) -> Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        spawn_worker(move || Ok(store), queue, None)?;
        Ok(StoreHandle { jobs })
    }

    /// Opens the store at `path` on its own thread (opening, migrating and the first
    /// checkpoint all block, so they happen there too).
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let (jobs, queue) = mpsc::channel::<Job>();
        let (opened_tx, opened_rx) = oneshot::channel();
        spawn_worker(move || Store::open(path), queue, Some(opened_tx))?;
        opened_rx.await.map_err(|_| StoreError::Closed)??;
        Ok(StoreHandle { jobs })
    }

    /// Runs `job` on the store's thread and resolves to its result. A panic inside `job` is
    /// caught (its transaction rolls back as the stack unwinds) and comes back as
    /// [`StoreError::Panicked`]; the store keeps serving.
    pub fn call<T, F>(&self, job: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: FnOnce(&mut Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel();
        let boxed: Job = Box::new(move |store| {
            let result = catch_unwind(AssertUnwindSafe(|| job(store)))
                .unwrap_or_else(|panic| Err(StoreError::Panicked(panic_message(&*panic))));
            // The caller may have stopped waiting; the job ran all the same.
            let _ = reply_tx.send(result);
        });
        let queued = self.jobs.send(boxed);
        async move {
            queued.map_err(|_| StoreError::Closed)?;
            reply_rx.await.map_err(|_| StoreError::Closed)?
        }
    }
}

fn spawn_worker(
    open: impl FnOnce() -> Result<Store> + Send + 'static,
    queue: mpsc::Receiver<Job>,
    opened: Option<oneshot::Sender<Result<()>>>,
) -> Result<()> {
    thread::Builder::new()
        .name("legato-store".to_owned())
        .spawn(move || {
            let mut store = match open() {
                Ok(store) => store,
                Err(err) => {
                    if let Some(opened) = opened {
                        let _ = opened.send(Err(err));
                    }
                    return;
                }
            };
            if let Some(opened) = opened {
                let _ = opened.send(Ok(()));
            }
            serve(&mut store, &queue);
        })
        .map_err(|err| StoreError::Corrupt(format!("cannot start the store thread: {err}")))?;
    Ok(())
}

/// After this long without a job, the worker checkpoints the log (see [`Store::checkpoint`]).
const IDLE_CHECKPOINT_AFTER: Duration = Duration::from_millis(500);

/// Runs jobs until every handle is gone; checkpoints when idle after some work.
fn serve(store: &mut Store, queue: &mpsc::Receiver<Job>) {
    let mut worked = false;
    loop {
        match queue.recv_timeout(IDLE_CHECKPOINT_AFTER) {
            Ok(job) => {
                job(store);
                worked = true;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if std::mem::take(&mut worked)
                    && let Err(err) = store.checkpoint()
                {
                    tracing::warn!(%err, "idle checkpoint failed");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}
