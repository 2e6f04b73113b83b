//! Sync health metrics (the seed's set plus dead letters, oldest pending age, last error).

use std::collections::VecDeque;

use serde::Serialize;

/// How many recent round-trip latencies `averageLatency` is computed over.
const LATENCY_WINDOW: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Degraded,
    Unhealthy,
}

/// The rule: success rate > 0.95 healthy, > 0.8 degraded, else unhealthy. No attempts yet
/// counts as healthy (nothing has failed).
pub fn health_for(successful: u64, total: u64) -> Health {
    if total == 0 {
        return Health::Healthy;
    }
    let rate = successful as f64 / total as f64;
    if rate > 0.95 {
        Health::Healthy
    } else if rate > 0.8 {
        Health::Degraded
    } else {
        Health::Unhealthy
    }
}

/// A snapshot, serialised with the seed's names for the UI and `status --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncMetrics {
    pub total_syncs: u64,
    pub successful_syncs: u64,
    pub failed_syncs: u64,
    pub conflicts: u64,
    /// Milliseconds, over the last 100 round trips.
    pub average_latency: f64,
    pub queue_size: u64,
    /// Milliseconds since the Unix epoch of the last successful sync.
    pub last_sync_time: Option<i64>,
    pub dead_letters: u64,
    pub oldest_pending_age_ms: Option<i64>,
    pub last_error: Option<crate::SyncProblem>,
    pub health: Health,
}

/// Accumulates the counters; the engine owns one.
#[derive(Debug, Clone, Default)]
pub struct MetricsRecorder {
    total: u64,
    successful: u64,
    failed: u64,
    conflicts: u64,
    latencies: VecDeque<f64>,
    last_sync_time: Option<i64>,
    last_error: Option<crate::SyncProblem>,
}

impl MetricsRecorder {
    /// A sync (one change round trip or one batch) that succeeded.
    pub fn success(&mut self, latency_ms: f64, now_ms: i64) {
        self.total += 1;
        self.successful += 1;
        if self.latencies.len() == LATENCY_WINDOW {
            self.latencies.pop_front();
        }
        self.latencies.push_back(latency_ms);
        self.last_sync_time = Some(now_ms);
    }

    pub fn failure(&mut self, problem: crate::SyncProblem) {
        self.total += 1;
        self.failed += 1;
        self.last_error = Some(problem);
    }

    pub fn conflict(&mut self) {
        self.conflicts += 1;
    }

    pub fn snapshot(
        &self,
        queue_size: u64,
        dead_letters: u64,
        oldest_pending_age_ms: Option<i64>,
    ) -> SyncMetrics {
        let average_latency = if self.latencies.is_empty() {
            0.0
        } else {
            self.latencies.iter().sum::<f64>() / self.latencies.len() as f64
        };
        SyncMetrics {
            total_syncs: self.total,
            successful_syncs: self.successful,
            failed_syncs: self.failed,
            conflicts: self.conflicts,
            average_latency,
            queue_size,
            last_sync_time: self.last_sync_time,
            dead_letters,
            oldest_pending_age_ms,
            last_error: self.last_error.clone(),
            health: health_for(self.successful, self.total),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_thresholds() {
        assert_eq!(health_for(0, 0), Health::Healthy);
        assert_eq!(health_for(96, 100), Health::Healthy);
        assert_eq!(health_for(95, 100), Health::Degraded);
        assert_eq!(health_for(81, 100), Health::Degraded);
        assert_eq!(health_for(80, 100), Health::Unhealthy);
        assert_eq!(health_for(0, 3), Health::Unhealthy);
    }

    #[test]
    fn recorder_counts_and_averages_a_window() {
        let mut m = MetricsRecorder::default();
        for i in 0..150 {
            m.success(if i < 50 { 1000.0 } else { 2.0 }, i);
        }
        m.failure(crate::SyncProblem::new(
            crate::ProblemKind::Other,
            true,
            "boom",
        ));
        m.conflict();
        let s = m.snapshot(3, 1, Some(500));
        assert_eq!(
            (s.total_syncs, s.successful_syncs, s.failed_syncs),
            (151, 150, 1)
        );
        assert_eq!(s.average_latency, 2.0, "only the last 100 latencies count");
        assert_eq!(s.last_sync_time, Some(149));
        assert_eq!(
            s.last_error.as_ref().map(|p| p.detail.as_str()),
            Some("boom")
        );
        assert_eq!(s.health, Health::Healthy);
        let json = serde_json::to_value(&s).unwrap();
        for key in [
            "totalSyncs",
            "successfulSyncs",
            "failedSyncs",
            "conflicts",
            "averageLatency",
            "queueSize",
            "lastSyncTime",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }
}
