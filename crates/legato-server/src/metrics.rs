//! Counters served at `GET /metrics` (OpenMetrics text, which Prometheus scrapes natively).
//!
//! One registry per server instance (no globals), so several servers in one test process
//! count separately.

use std::time::Duration;

use legato_protocol::ErrorCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub ws_connections: Gauge,
    pub changes_applied: Counter,
    pub duplicates: Counter,
    pub conflicts: Counter,
    errors: Family<CodeLabel, Counter>,
    /// Time to apply one WebSocket `sync` or one HTTP batch (lock wait + transaction).
    pub apply_seconds: Histogram,
    /// Change records and tombstones whose payload pruning dropped, and the bytes freed.
    pub pruned_records: Counter,
    pub pruned_tombstones: Counter,
    pub pruned_bytes: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("legato");
        let ws_connections = Gauge::default();
        let changes_applied = Counter::default();
        let duplicates = Counter::default();
        let conflicts = Counter::default();
        let errors = Family::<CodeLabel, Counter>::default();
        // 100 µs .. ~3.3 s.
        let apply_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "ws_connections",
            "Open WebSocket connections",
            ws_connections.clone(),
        );
        registry.register(
            "changes_applied",
            "Changes applied (new versions written)",
            changes_applied.clone(),
        );
        registry.register(
            "changes_duplicate",
            "Changes answered `duplicate` (change id seen before)",
            duplicates.clone(),
        );
        registry.register(
            "conflicts",
            "Changes answered `conflict`",
            conflicts.clone(),
        );
        registry.register(
            "errors",
            "Error replies (HTTP and WebSocket), by code",
            errors.clone(),
        );
        let (pruned_records, pruned_tombstones, pruned_bytes) =
            (Counter::default(), Counter::default(), Counter::default());
        registry.register(
            "pruned_records",
            "Change records whose payload was pruned (the record of the id stays)",
            pruned_records.clone(),
        );
        registry.register(
            "pruned_tombstones",
            "Tombstones whose last state was pruned (the tombstone stays)",
            pruned_tombstones.clone(),
        );
        registry.register(
            "pruned_bytes",
            "Bytes of stored data pruning freed",
            pruned_bytes.clone(),
        );
        registry.register(
            "apply_duration_seconds",
            "Time to apply one WebSocket sync or one HTTP batch",
            apply_seconds.clone(),
        );
        Metrics {
            registry,
            ws_connections,
            changes_applied,
            duplicates,
            conflicts,
            errors,
            apply_seconds,
            pruned_records,
            pruned_tombstones,
            pruned_bytes,
        }
    }

    pub fn error(&self, code: ErrorCode) {
        self.errors
            .get_or_create(&CodeLabel {
                code: code.as_str(),
            })
            .inc();
    }

    pub fn observe_apply(&self, elapsed: Duration) {
        self.apply_seconds.observe(elapsed.as_secs_f64());
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::new();
        m.changes_applied.inc_by(3);
        m.error(ErrorCode::Invalid);
        m.ws_connections.inc();
        m.observe_apply(Duration::from_millis(2));
        let text = m.render();
        assert!(text.contains("legato_changes_applied_total 3"), "{text}");
        assert!(
            text.contains("legato_errors_total{code=\"invalid\"} 1"),
            "{text}"
        );
        assert!(text.contains("legato_ws_connections 1"), "{text}");
        assert!(
            text.contains("legato_apply_duration_seconds_count 1"),
            "{text}"
        );
    }
}
