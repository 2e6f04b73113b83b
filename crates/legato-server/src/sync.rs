//! Applying pushed changes: per-user ordering, timestamp clamping, fan-out, metrics.
//!
//! Both transports (WebSocket `sync` and HTTP batch) go through [`SyncService::apply`]. A
//! user's changes are applied one call at a time (a per-user async mutex, held across the
//! store transaction), and the fan-out runs right after each commit on the committing thread
//! ([`crate::db::OnCommit`]), so live updates reach other devices in `seq` order, with no
//! hand-off back to this task first, and even when the sender's connection went away
//! meanwhile. Different users never wait for each other here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use legato_protocol::{
    Change, ErrorCode, MAX_INFLATED_BYTES_PER_CHANGE, UpdateData, check_inflate_budget,
    has_deflated,
};
use tokio::sync::OwnedMutexGuard;

use crate::db::{ChangeOutcome, Database, DbError, OnCommit, UserId};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;

/// Milliseconds since the Unix epoch, server clock.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Debug)]
pub struct SyncService<D> {
    pub db: D,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    limiter: RateLimiter,
    /// Change pages read (HTTP pages, WebSocket subscribes) per user.
    read_limiter: RateLimiter,
    /// Bytes inflated for a user's `$deflate` values, in KiB (see [`INFLATE_KIB_PER_SEC`]).
    inflate_limiter: RateLimiter,
    locks: UserLocks,
}

impl<D: Database> SyncService<D> {
    pub fn new(db: D, metrics: Arc<Metrics>, limiter: RateLimiter) -> Self {
        Self::with_hub(db, metrics, limiter, Hub::new())
    }

    pub fn with_hub(db: D, metrics: Arc<Metrics>, limiter: RateLimiter, hub: Arc<Hub>) -> Self {
        SyncService {
            db,
            hub,
            metrics,
            limiter,
            read_limiter: RateLimiter::new(0.0, 1),
            inflate_limiter: RateLimiter::new(INFLATE_KIB_PER_SEC, INFLATE_KIB_BURST),
            locks: UserLocks::default(),
        }
    }

    /// Limits the change pages a user reads to `rate` a second (burst: 5 s worth).
    pub fn with_read_limit(mut self, rate: f64) -> Self {
        let burst = ((rate * 5.0).ceil() as u32).max(1);
        self.read_limiter = RateLimiter::new(rate, burst);
        self
    }

    /// Takes one page read from the user's read budget, or says how long to wait.
    pub fn check_read_rate(&self, user: &UserId) -> Result<(), Duration> {
        self.read_limiter
            .try_acquire(user.as_str(), 1, Instant::now())
    }

    /// Takes `cost` changes from the user's rate budget, or says how long to wait.
    pub fn check_rate(&self, user: &UserId, cost: usize) -> Result<(), Duration> {
        let cost = u32::try_from(cost).unwrap_or(u32::MAX);
        self.limiter
            .try_acquire(user.as_str(), cost, Instant::now())
    }

    /// Applies `changes` in order, fans the written ones out to the user's other
    /// connections, and returns one outcome per change.
    ///
    /// The `$deflate` values are checked against their per-change budget first, on a
    /// blocking thread and before the user's turn: a change over it is answered `too_large`
    /// and never reaches the writer. The rest is applied in chunks of at most
    /// [`CHUNK_INFLATED_BYTES`] inflated bytes (one transaction each, all in the user's one
    /// turn, so order holds), so no request holds the one writer thread for long, however
    /// many large values it carries; other users' writes run between the chunks.
    pub async fn apply(
        &self,
        user: &UserId,
        changes: Vec<Change>,
    ) -> Result<Vec<ChangeOutcome>, DbError> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        // A user in inflate debt has its compressed changes answered `rate_limited` (retried
        // later, unchanged) without inflating them; the others go on.
        let in_debt = self
            .inflate_limiter
            .check_positive(user.as_str(), Instant::now())
            .err();
        let screened = screen(changes, in_debt).await?;
        let inflated: usize = screened
            .iter()
            .map(|s| match s {
                Screened::Ok { inflated, .. } => *inflated,
                // Over the budget: the check stopped there.
                Screened::Rejected { inflated, .. } => *inflated,
            })
            .sum();
        self.inflate_limiter
            .charge(user.as_str(), inflated as f64 / 1024.0, Instant::now());
        let mut outcomes = Vec::with_capacity(screened.len());
        {
            let _turn = self.locks.lock(user).await;
            let mut screened = screened.into_iter().peekable();
            while screened.peek().is_some() {
                // One chunk: answers for the rejected, and the changes to write, in order.
                let mut slots: Vec<Option<ChangeOutcome>> = Vec::new();
                let mut chunk = Vec::new();
                let mut inflated = 0usize;
                while let Some(next) = screened.next_if(|next| match next {
                    Screened::Ok { inflated: size, .. } => {
                        chunk.is_empty() || inflated + size <= CHUNK_INFLATED_BYTES
                    }
                    Screened::Rejected { .. } => true,
                }) {
                    match next {
                        Screened::Ok {
                            change,
                            inflated: size,
                        } => {
                            inflated += size;
                            chunk.push(change);
                            slots.push(None);
                        }
                        Screened::Rejected { outcome, .. } => slots.push(Some(outcome)),
                    }
                }
                let mut written = self.write_chunk(user, chunk).await?.into_iter();
                outcomes.extend(slots.into_iter().map(|slot| {
                    slot.unwrap_or_else(|| written.next().expect("one outcome per change"))
                }));
            }
        }
        self.metrics.observe_apply(started.elapsed());
        for outcome in &outcomes {
            match outcome {
                ChangeOutcome::Applied { .. } => {
                    self.metrics.changes_applied.inc();
                }
                ChangeOutcome::Duplicate { .. } => {
                    self.metrics.duplicates.inc();
                }
                ChangeOutcome::Conflict(_) => {
                    self.metrics.conflicts.inc();
                }
                ChangeOutcome::Rejected { code, .. } => self.metrics.error(*code),
            }
        }
        Ok(outcomes)
    }

    /// One transaction of the user's turn: clamps timestamps to "now" (the write time) and
    /// publishes each written change right after the commit.
    async fn write_chunk(
        &self,
        user: &UserId,
        mut changes: Vec<Change>,
    ) -> Result<Vec<ChangeOutcome>, DbError> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        for change in &mut changes {
            change.timestamp = change.timestamp.min(now);
        }
        let (hub, publisher) = (Arc::clone(&self.hub), user.clone());
        let publish: OnCommit = Box::new(move |outcomes| {
            let updates: Vec<Arc<UpdateData>> = outcomes
                .iter_mut()
                .filter_map(|outcome| match outcome {
                    ChangeOutcome::Applied { update, .. } => update.take().map(Arc::new),
                    _ => None,
                })
                .collect();
            hub.publish_commit(&publisher, &updates);
        });
        self.db
            .apply_changes_then(user, changes, now, publish)
            .await
    }

    pub fn count_error(&self, code: ErrorCode) {
        self.metrics.error(code);
    }
}

/// Most inflated `$deflate` bytes one writer transaction takes (a chunk holds at least one
/// change, and a change at most [`MAX_INFLATED_BYTES_PER_CHANGE`]).
pub const CHUNK_INFLATED_BYTES: usize = 4 * MAX_INFLATED_BYTES_PER_CHANGE;

/// A change after the budget check.
enum Screened {
    Ok {
        change: Change,
        inflated: usize,
    },
    Rejected {
        outcome: ChangeOutcome,
        /// What checking it inflated.
        inflated: usize,
    },
}

/// `$deflate` inflation a user may cost the server, in KiB a second (32 MiB/s), with a
/// burst of [`INFLATE_KIB_BURST`] (64 MiB): far above any person's edits, and a cap on what
/// a stream of bombs (each stopped at its 1 MiB budget) can cost a core.
pub const INFLATE_KIB_PER_SEC: f64 = 32.0 * 1024.0;
pub const INFLATE_KIB_BURST: u32 = 64 * 1024;

/// Checks every change's `$deflate` budget (on a blocking thread when any has one: it is
/// CPU work of up to the budget per change). A user `in_debt` of inflate work has each change
/// with a `$deflate` answered `rate_limited` (transient: sent again later) uninflated.
async fn screen(changes: Vec<Change>, in_debt: Option<Duration>) -> Result<Vec<Screened>, DbError> {
    if let Some(wait) = in_debt {
        let secs = crate::ratelimit::retry_after_secs(wait);
        return Ok(changes
            .into_iter()
            .map(|change| {
                if has_deflated(&change.data) {
                    Screened::Rejected {
                        outcome: ChangeOutcome::Rejected {
                            code: ErrorCode::RateLimited,
                            message: format!(
                                "too much compressed data from this account; retry in {secs} s"
                            ),
                        },
                        inflated: 0,
                    }
                } else {
                    Screened::Ok {
                        change,
                        inflated: 0,
                    }
                }
            })
            .collect());
    }
    if !changes.iter().any(|change| has_deflated(&change.data)) {
        return Ok(changes
            .into_iter()
            .map(|change| Screened::Ok {
                change,
                inflated: 0,
            })
            .collect());
    }
    tokio::task::spawn_blocking(move || changes.into_iter().map(screen_one).collect())
        .await
        .map_err(|err| DbError::Backend(Box::new(err)))
}

fn screen_one(change: Change) -> Screened {
    match check_inflate_budget(&change.data) {
        Ok(inflated) => Screened::Ok { change, inflated },
        // Only the budget is decided here; a malformed value is the apply rule's `invalid`.
        Err(err) if !err.error.is_too_large() => Screened::Ok {
            change,
            inflated: 0,
        },
        Err(err) => Screened::Rejected {
            outcome: ChangeOutcome::Rejected {
                code: ErrorCode::TooLarge,
                message: err.to_string(),
            },
            inflated: MAX_INFLATED_BYTES_PER_CHANGE,
        },
    }
}

/// One async mutex per user with a pending or running apply; entries go away when unused.
#[derive(Debug, Default)]
struct UserLocks {
    map: Mutex<HashMap<UserId, Arc<tokio::sync::Mutex<()>>>>,
}

struct UserTurn<'a> {
    locks: &'a UserLocks,
    user: UserId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl UserLocks {
    async fn lock(&self, user: &UserId) -> UserTurn<'_> {
        let lock = Arc::clone(
            self.map
                .lock()
                .expect("user locks poisoned")
                .entry(user.clone())
                .or_default(),
        );
        UserTurn {
            locks: self,
            user: user.clone(),
            guard: Some(lock.lock_owned().await),
        }
    }
}

impl Drop for UserTurn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.map.lock().expect("user locks poisoned");
        // Only the map holds it: nobody is waiting or running (clones are taken under this
        // same lock, so the count cannot grow behind our back).
        if map
            .get(&self.user)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            map.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use legato_protocol::Operation;

    use super::*;
    use crate::SqliteDatabase;
    use crate::conformance;

    /// The sender's task may be dropped while its change is applied (its connection went
    /// away): the change still commits, and the other devices must hear of it live.
    #[tokio::test]
    async fn a_committed_change_fans_out_even_when_its_sender_stopped_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(dir.path().join("fanout.db"))
            .await
            .unwrap();
        let (ann, _) = conformance::new_user(&db, "ann@example.com").await;
        let sync = SyncService::new(db, Arc::new(Metrics::new()), RateLimiter::new(0.0, 1));
        let mut other = sync.hub.subscribe(&ann, "other-device", &[], 8);
        let change = conformance::change(
            "c1",
            "g1",
            Operation::Create,
            serde_json::json!({"title": "t"}),
            0,
        );
        // Polled exactly once (the write is queued on the writer thread), then dropped.
        let _ = futures_util::FutureExt::now_or_never(sync.apply(&ann, vec![change]));
        let update = tokio::time::timeout(Duration::from_secs(10), other.recv())
            .await
            .expect("the committed change was never fanned out")
            .expect("subscription open");
        assert_eq!((update.seq, update.entity_id.as_str()), (1, "g1"));
    }

    #[tokio::test]
    async fn user_locks_serialise_one_user_and_clean_up() {
        let locks = UserLocks::default();
        let ann = UserId("ann".into());
        let bob = UserId("bob".into());
        let first = locks.lock(&ann).await;
        // Another user is not blocked.
        let other = tokio::time::timeout(Duration::from_millis(50), locks.lock(&bob)).await;
        assert!(other.is_ok());
        drop(other);
        // The same user is.
        let second = tokio::time::timeout(Duration::from_millis(50), locks.lock(&ann)).await;
        assert!(second.is_err());
        drop(first);
        let third = tokio::time::timeout(Duration::from_millis(50), locks.lock(&ann)).await;
        assert!(third.is_ok());
        drop(third);
        assert!(locks.map.lock().unwrap().is_empty());
    }
}
