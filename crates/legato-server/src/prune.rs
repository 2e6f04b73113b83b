//! Pruning the change log and tombstones (the rule: docs/server-choices.md, "Pruning").
//!
//! A background task ([`spawn`]) runs [`prune_before`] every `prune_interval` with the
//! cutoff `now - prune_after`. The work is [`Database::prune_step`]s of at most
//! [`PRUNE_STEP_ROWS`] rows each, every one its own transaction on the writer thread: other
//! users' writes queued meanwhile run between two steps, so one account with a huge log
//! holds the writer for one step at a time, never for its whole log. Nothing runs on the
//! async workers.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::db::{Database, DbError, PruneStep};
use crate::metrics::Metrics;

/// Rows (of change records, of tombstones and of conflict records) one [`Database::prune_step`]
/// prunes at most.
pub const PRUNE_STEP_ROWS: usize = 500;

/// What one [`prune_before`] did, summed over its steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub records: u64,
    pub tombstones: u64,
    pub conflicts: u64,
    pub freed_bytes: u64,
    /// Transactions it took (each at most [`PRUNE_STEP_ROWS`] records and as many tombstones).
    pub steps: u64,
}

impl PruneReport {
    fn add(&mut self, step: PruneStep) {
        self.records += step.records;
        self.tombstones += step.tombstones;
        self.conflicts += step.conflicts;
        self.freed_bytes += step.freed_bytes;
        self.steps += 1;
    }
}

/// Prunes every change record recorded, and every tombstone written, before `cutoff_ms`,
/// in steps of `step_rows` (see the module documentation).
pub async fn prune_before<D: Database>(
    db: &D,
    cutoff_ms: i64,
    step_rows: usize,
) -> Result<PruneReport, DbError> {
    let mut report = PruneReport::default();
    loop {
        let step = db.prune_step(cutoff_ms, step_rows).await?;
        report.add(step);
        if step.done {
            return Ok(report);
        }
        // The next step is queued behind whatever other tasks sent the writer meanwhile.
        tokio::task::yield_now().await;
    }
}

/// The pruning task: prunes what is older than `after` now, then every `every`, until
/// `stop` is cancelled (a step in progress finishes first: each is one transaction).
pub fn spawn<D: Database>(
    db: D,
    after: Duration,
    every: Duration,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let after_ms = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
            let cutoff = crate::sync::now_ms().saturating_sub(after_ms);
            let run = prune_before(&db, cutoff, PRUNE_STEP_ROWS);
            let result = tokio::select! {
                () = stop.cancelled() => return,
                result = run => result,
            };
            match result {
                Ok(report) => {
                    metrics.pruned_records.inc_by(report.records);
                    metrics.pruned_tombstones.inc_by(report.tombstones);
                    metrics.pruned_bytes.inc_by(report.freed_bytes);
                    if report.records + report.tombstones + report.conflicts > 0 {
                        tracing::info!(
                            records = report.records,
                            tombstones = report.tombstones,
                            conflicts = report.conflicts,
                            freed_bytes = report.freed_bytes,
                            steps = report.steps,
                            "pruned"
                        );
                    }
                }
                Err(DbError::Closed) => return,
                Err(err) => tracing::warn!(error = %err, "pruning failed; trying again later"),
            }
        }
    })
}
