//! [`StoreHandle`]: the store for async code. One dedicated OS thread owns the [`Store`] and
//! runs closures sent over a channel (the `tokio-rusqlite` pattern), so SQLite's blocking IO
//! never runs on an async worker thread.

use std::any::Any;
use std::future::Future;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::{Result, StoreError};
use crate::store::Store;

/// Sends a job's result; given the error of the log sync that was to make its writes
/// durable, if that failed.
type Reply = Box<dyn FnOnce(Option<&io::Error>) + Send>;

struct Job {
    run: Box<dyn FnOnce(&mut Store) -> Reply + Send>,
    /// Answer as soon as the job is done, without waiting for the log sync (see
    /// [`StoreHandle::call_ahead`]).
    ahead: bool,
}

/// Returns `false` once it wants no more calls (its listener is gone).
type WriteHook = Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Default)]
struct Shared {
    /// Called after each job of [`StoreHandle::call`] that wrote something, before its
    /// writes are synced (the sync engine: a new outbox change can go out meanwhile).
    on_write: Mutex<Vec<WriteHook>>,
    /// Syncs of the write-ahead log made for [`StoreHandle::call`] writes.
    log_syncs: AtomicU64,
}

/// A cloneable async handle to a [`Store`] running on its own thread.
///
/// Jobs run one at a time in the order [`StoreHandle::call`] was called (the job is queued
/// by `call` itself, not when the future is first polled). A job keeps running if its
/// future is dropped: an edit handed to the store is saved even if the caller gave up
/// waiting. The thread ends, closing the database, when the last handle is dropped.
///
/// **Group commit.** For a file-backed store in WAL mode with `synchronous=FULL`, the
/// thread commits with `NORMAL` (atomic, kill-safe, no fsync) and a second thread syncs the
/// log before any answer of `call` goes out: a `call` is answered only once everything
/// written up to and including its job is on disk, so the durability callers see is that of
/// `FULL`. Meanwhile the store thread serves the next job: the sync engine can read and
/// send a new change while the disk flushes it, and edits arriving together share one sync.
#[derive(Clone)]
pub struct StoreHandle {
    jobs: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreHandle").finish_non_exhaustive()
    }
}

impl StoreHandle {
    /// Moves an open store onto a new thread.
    pub fn new(store: Store) -> Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let shared = Arc::new(Shared::default());
        spawn_worker(move || Ok(store), queue, None, Arc::clone(&shared))?;
        Ok(StoreHandle { jobs, shared })
    }

    /// Opens the store at `path` on its own thread (opening, migrating and the first
    /// checkpoint all block, so they happen there too).
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let (jobs, queue) = mpsc::channel::<Job>();
        let (opened_tx, opened_rx) = oneshot::channel();
        let shared = Arc::new(Shared::default());
        spawn_worker(
            move || Store::open(path),
            queue,
            Some(opened_tx),
            Arc::clone(&shared),
        )?;
        opened_rx.await.map_err(|_| StoreError::Closed)??;
        Ok(StoreHandle { jobs, shared })
    }

    /// Runs `job` on the store's thread and resolves to its result once everything it (and
    /// every earlier job) wrote is durable. A panic inside `job` is caught (its transaction
    /// rolls back as the stack unwinds) and comes back as [`StoreError::Panicked`]; the
    /// store keeps serving. If the log cannot be synced, a successful job resolves to
    /// [`StoreError::NotDurable`].
    pub fn call<T, F>(&self, job: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: FnOnce(&mut Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.queue(job, false)
    }

    /// [`StoreHandle::call`] for a job with its own error type (a command's, say): the
    /// job's error and the handle's (closed, panicked, not durable) come back as one
    /// `Result`, never nested.
    pub fn try_call<T, E, F>(&self, job: F) -> impl Future<Output = Result<T, E>> + Send + 'static
    where
        F: FnOnce(&mut Store) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let reply = self.call(move |store| Ok(job(store)));
        async move { reply.await? }
    }

    /// Like [`StoreHandle::call`], but resolves as soon as the job is done, without waiting
    /// for earlier writes to reach the disk. For the sync engine's own bookkeeping only:
    /// jobs whose writes may be lost on a power cut (re-fetchable remote data, in-flight
    /// marks; see `with_relaxed_sync`), and which may act on an edit that is not yet on
    /// disk. Sending such an edit early is safe: if the device then loses it, the server
    /// has it and the next catch-up brings it back; its author was not told it was saved.
    pub fn call_ahead<T, F>(&self, job: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: FnOnce(&mut Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.queue(job, true)
    }

    /// Calls `hook` on the store thread after every [`StoreHandle::call`] job that wrote,
    /// before its answer (and the log sync), until it returns `false`. It must be quick and
    /// must not block.
    pub fn on_write(&self, hook: impl Fn() -> bool + Send + Sync + 'static) {
        self.shared
            .on_write
            .lock()
            .expect("hook list poisoned")
            .push(Arc::new(hook));
    }

    /// How many times the log was synced for `call` writes (diagnostics and tests).
    pub fn log_syncs(&self) -> u64 {
        self.shared.log_syncs.load(Ordering::Relaxed)
    }

    fn queue<T, F>(&self, job: F, ahead: bool) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: FnOnce(&mut Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel();
        let run = Box::new(move |store: &mut Store| -> Reply {
            let result = catch_unwind(AssertUnwindSafe(|| job(store)))
                .unwrap_or_else(|panic| Err(StoreError::Panicked(panic_message(&*panic))));
            Box::new(move |sync_failed: Option<&io::Error>| {
                let result = match sync_failed {
                    Some(err) => result.and_then(|_| Err(StoreError::NotDurable(err.to_string()))),
                    None => result,
                };
                // The caller may have stopped waiting; the job ran all the same.
                let _ = reply_tx.send(result);
            })
        });
        let queued = self.jobs.send(Job { run, ahead });
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
    shared: Arc<Shared>,
) -> Result<()> {
    thread::Builder::new()
        .name("legato-store".to_owned())
        .spawn(move || {
            let started = open().and_then(|mut store| {
                let syncer = LogSyncer::start(&mut store, Arc::clone(&shared))?;
                Ok((store, syncer))
            });
            let (mut store, syncer) = match started {
                Ok(started) => started,
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
            serve(&mut store, &queue, syncer.as_ref(), &shared);
            // Every answer goes out before the database closes.
            if let Some(syncer) = syncer {
                syncer.finish();
            }
        })
        .map_err(|err| StoreError::Corrupt(format!("cannot start the store thread: {err}")))?;
    Ok(())
}

/// After this long without a job, the worker checkpoints the log (see [`Store::checkpoint`]).
const IDLE_CHECKPOINT_AFTER: Duration = Duration::from_millis(500);

/// Runs jobs until every handle is gone; checkpoints when idle after some work.
fn serve(
    store: &mut Store,
    queue: &mpsc::Receiver<Job>,
    syncer: Option<&LogSyncer>,
    shared: &Shared,
) {
    let mut worked = false;
    loop {
        match queue.recv_timeout(IDLE_CHECKPOINT_AFTER) {
            Ok(job) => {
                let before = store.conn.total_changes();
                let reply = (job.run)(store);
                let wrote = store.conn.total_changes() != before;
                worked = true;
                if wrote && !job.ahead {
                    shared
                        .on_write
                        .lock()
                        .expect("hook list poisoned")
                        .retain(|hook| hook());
                }
                match syncer {
                    // In order behind earlier answers that wait for the sync, even when
                    // this job wrote nothing.
                    Some(syncer) if !job.ahead && (wrote || syncer.busy()) => {
                        syncer.submit(reply, wrote);
                    }
                    _ => reply(None),
                }
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

/// The thread that syncs the write-ahead log behind the store thread and then sends the
/// answers that waited for it, in order. Answers queued while a sync runs share the next.
struct LogSyncer {
    queue: mpsc::Sender<(Reply, bool)>,
    /// Answers queued and not yet sent.
    waiting: Arc<AtomicUsize>,
    thread: thread::JoinHandle<()>,
}

impl LogSyncer {
    /// Starts the syncer and switches the connection to `synchronous=NORMAL` when the store
    /// is a file in WAL mode at `FULL` or stricter; `None` (commits stay as they are)
    /// otherwise: in memory, or an owner who chose `NORMAL`/`OFF`.
    fn start(store: &mut Store, shared: Arc<Shared>) -> Result<Option<LogSyncer>> {
        let conn = &store.conn;
        let wal = match conn.path() {
            Some(path) if !path.is_empty() => PathBuf::from(format!("{path}-wal")),
            _ => return Ok(None),
        };
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
        let level: i64 = conn.pragma_query_value(None, "synchronous", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") || level < 2 {
            return Ok(None);
        }
        let (queue, jobs) = mpsc::channel::<(Reply, bool)>();
        let waiting = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&waiting);
        let thread = thread::Builder::new()
            .name("legato-store-sync".to_owned())
            .spawn(move || {
                while let Ok(first) = jobs.recv() {
                    let mut batch = vec![first];
                    batch.extend(jobs.try_iter());
                    let result = if batch.iter().any(|(_, wrote)| *wrote) {
                        shared.log_syncs.fetch_add(1, Ordering::Relaxed);
                        sync_log(&wal)
                    } else {
                        Ok(())
                    };
                    if let Err(err) = &result {
                        tracing::error!(%err, log = %wal.display(), "cannot sync the write-ahead log");
                    }
                    for (reply, _) in batch {
                        reply(result.as_ref().err());
                        counter.fetch_sub(1, Ordering::Release);
                    }
                }
            })
            .map_err(|err| StoreError::Corrupt(format!("cannot start the log sync thread: {err}")))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Some(LogSyncer {
            queue,
            waiting,
            thread,
        }))
    }

    fn busy(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 0
    }

    fn submit(&self, reply: Reply, wrote: bool) {
        self.waiting.fetch_add(1, Ordering::Release);
        if let Err(mpsc::SendError((reply, _))) = self.queue.send((reply, wrote)) {
            // The sync thread is gone (it panicked): no durability to promise.
            self.waiting.fetch_sub(1, Ordering::Release);
            reply(Some(&io::Error::other("the log sync thread stopped")));
        }
    }

    fn finish(self) {
        drop(self.queue);
        let _ = self.thread.join();
    }
}

/// fdatasync of the write-ahead log through a descriptor of our own (SQLite's `FULL` syncs
/// the log at each commit; the data and the file size are what recovery reads, so the
/// inode's times need no journal commit). A missing log was checkpointed into the database, synced, and
/// removed: nothing is left to sync.
fn sync_log(wal: &std::path::Path) -> io::Result<()> {
    match std::fs::OpenOptions::new().write(true).open(wal) {
        Ok(file) => file.sync_data(),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_log_needs_no_sync_and_an_unsyncable_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(sync_log(&dir.path().join("gone.db-wal")).is_ok());
        let file = dir.path().join("x.db-wal");
        std::fs::write(&file, b"frames").unwrap();
        assert!(sync_log(&file).is_ok());
        // A directory cannot be opened for writing.
        assert!(sync_log(dir.path()).is_err());
    }
}
