//! What to send now: a pure function of the pending outbox, the clock and the configuration,
//! so the rules (throttling per entity type, batching after being offline, coalescing) are
//! table-tested without a network.

use std::collections::HashMap;
use std::time::Duration;

use legato_protocol::EntityType;

#[derive(Debug, Clone, PartialEq)]
pub struct PlanConfig {
    /// At least this many sendable changes go through `POST /api/sync/batch`; fewer go one by
    /// one over the WebSocket (live edits).
    pub batch_threshold: usize,
    /// Changes per batch request (the seed: 50).
    pub batch_size: usize,
    /// Edits arriving within this window of the last send are held and sent together.
    pub coalesce: Duration,
    /// Minimum time between sends per entity type (the seed: logbook immediate, repertoire
    /// and goals every 30 s). Missing types are immediate.
    pub throttle: HashMap<EntityType, Duration>,
    /// Most changes awaiting their ack at once.
    pub max_in_flight: usize,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            batch_threshold: 10,
            batch_size: 50,
            coalesce: Duration::from_millis(100),
            throttle: HashMap::from([
                (EntityType::Repertoire, Duration::from_secs(30)),
                (EntityType::Goals, Duration::from_secs(30)),
            ]),
            max_in_flight: 500,
        }
    }
}

/// One outbox row as the planner sees it, in outbox order.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub change_id: String,
    pub entity_type: EntityType,
    pub in_flight: bool,
}

/// The planner's view of time and history, all in milliseconds on one clock.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanState {
    pub now_ms: u64,
    /// When changes of each type were last sent.
    pub last_sent_ms: HashMap<EntityType, u64>,
    /// When anything was last sent (for coalescing).
    pub last_send_ms: Option<u64>,
    /// "Sync now" or shutting down: ignore throttles and the coalescing window.
    pub flush: bool,
}

/// How changes go to the server; the engine keeps it for each change in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// One change as a WebSocket `sync` message.
    WebSocket,
    /// One `POST /api/sync/batch` with the changes, in order.
    Batch,
}

/// One send of a [`Plan`]: a WebSocket `sync` of one change, or one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    pub route: Route,
    pub change_ids: Vec<String>,
}

impl Dispatch {
    pub fn websocket(change_id: impl Into<String>) -> Self {
        Dispatch {
            route: Route::WebSocket,
            change_ids: vec![change_id.into()],
        }
    }

    pub fn batch(change_ids: Vec<String>) -> Self {
        Dispatch {
            route: Route::Batch,
            change_ids,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub sends: Vec<Dispatch>,
    /// When to plan again for changes held back now (throttle or coalescing window).
    pub wake_at_ms: Option<u64>,
}

/// Decides what to send. Changes keep outbox order; a held type never blocks another type,
/// and since an entity has one type, the order of one entity's changes is always kept.
pub fn plan(pending: &[Pending], state: &PlanState, config: &PlanConfig) -> Plan {
    let in_flight = pending.iter().filter(|p| p.in_flight).count();
    let room = config.max_in_flight.saturating_sub(in_flight);
    let mut wake_at: Option<u64> = None;
    let mut hold_until = |at: u64| wake_at = Some(wake_at.map_or(at, |w| w.min(at)));

    if let (false, Some(last)) = (state.flush, state.last_send_ms) {
        let open_at = last + config.coalesce.as_millis() as u64;
        if state.now_ms < open_at && pending.iter().any(|p| !p.in_flight) {
            hold_until(open_at);
            return Plan {
                sends: Vec::new(),
                wake_at_ms: wake_at,
            };
        }
    }

    let mut ready: Vec<&Pending> = Vec::new();
    for item in pending.iter().filter(|p| !p.in_flight) {
        match throttled_until(item.entity_type, state, config) {
            Some(at) if !state.flush => hold_until(at),
            _ => ready.push(item),
        }
    }
    ready.truncate(room);

    let ids = ready.iter().map(|p| p.change_id.clone());
    let sends = if ready.len() >= config.batch_threshold {
        let ids: Vec<String> = ids.collect();
        ids.chunks(config.batch_size.max(1))
            .map(|chunk| Dispatch::batch(chunk.to_vec()))
            .collect()
    } else {
        ids.map(Dispatch::websocket).collect()
    };
    Plan {
        sends,
        wake_at_ms: wake_at,
    }
}

/// When `entity_type` may next be sent, if that is still in the future.
fn throttled_until(entity_type: EntityType, state: &PlanState, config: &PlanConfig) -> Option<u64> {
    let interval = config.throttle.get(&entity_type)?.as_millis() as u64;
    let last = *state.last_sent_ms.get(&entity_type)?;
    let at = last + interval;
    (state.now_ms < at).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, entity_type: EntityType) -> Pending {
        Pending {
            change_id: id.into(),
            entity_type,
            in_flight: false,
        }
    }

    fn ws(ids: &[&str]) -> Vec<Dispatch> {
        ids.iter().map(|id| Dispatch::websocket(*id)).collect()
    }

    #[test]
    fn a_live_logbook_edit_goes_at_once_over_the_websocket() {
        let plan = plan(
            &[item("a", EntityType::Logbook)],
            &PlanState::default(),
            &PlanConfig::default(),
        );
        assert_eq!(
            plan,
            Plan {
                sends: ws(&["a"]),
                wake_at_ms: None
            }
        );
    }

    #[test]
    fn repertoire_and_goals_wait_for_their_throttle_but_logbook_does_not() {
        let state = PlanState {
            now_ms: 40_000,
            last_sent_ms: HashMap::from([
                (EntityType::Repertoire, 20_000),
                (EntityType::Goals, 5_000),
            ]),
            ..PlanState::default()
        };
        let pending = [
            item("r", EntityType::Repertoire),
            item("l", EntityType::Logbook),
            item("g", EntityType::Goals),
        ];
        let plan = plan(&pending, &state, &PlanConfig::default());
        assert_eq!(plan.sends, ws(&["l", "g"]));
        assert_eq!(plan.wake_at_ms, Some(50_000));
    }

    #[test]
    fn flush_ignores_throttle_and_coalescing() {
        let state = PlanState {
            now_ms: 1_000,
            last_sent_ms: HashMap::from([(EntityType::Goals, 900)]),
            last_send_ms: Some(990),
            flush: true,
        };
        let plan = plan(
            &[item("g", EntityType::Goals)],
            &state,
            &PlanConfig::default(),
        );
        assert_eq!(
            plan,
            Plan {
                sends: ws(&["g"]),
                wake_at_ms: None
            }
        );
    }

    #[test]
    fn rapid_edits_are_coalesced_for_100_ms() {
        let state = PlanState {
            now_ms: 1_050,
            last_send_ms: Some(1_000),
            ..PlanState::default()
        };
        let plan = plan(
            &[item("a", EntityType::Logbook)],
            &state,
            &PlanConfig::default(),
        );
        assert_eq!(
            plan,
            Plan {
                sends: vec![],
                wake_at_ms: Some(1_100)
            }
        );
    }

    #[test]
    fn a_backlog_goes_in_batches_of_50_in_order() {
        let pending: Vec<_> = (0..120)
            .map(|i| item(&format!("c{i:03}"), EntityType::Logbook))
            .collect();
        let plan = plan(&pending, &PlanState::default(), &PlanConfig::default());
        let sizes: Vec<usize> = plan
            .sends
            .iter()
            .map(|s| match s.route {
                Route::Batch => s.change_ids.len(),
                Route::WebSocket => 0,
            })
            .collect();
        assert_eq!(sizes, [50, 50, 20]);
        let first = &plan.sends[0];
        assert_eq!(
            (first.route, first.change_ids[0].as_str()),
            (Route::Batch, "c000")
        );
        let last = &plan.sends[2];
        assert_eq!(
            (last.route, last.change_ids.last().unwrap().as_str()),
            (Route::Batch, "c119")
        );
    }

    #[test]
    fn in_flight_items_are_not_resent_and_the_window_is_respected() {
        let mut pending: Vec<_> = (0..5)
            .map(|i| item(&format!("c{i}"), EntityType::Logbook))
            .collect();
        pending[0].in_flight = true;
        pending[1].in_flight = true;
        let config = PlanConfig {
            max_in_flight: 3,
            ..PlanConfig::default()
        };
        let plan = plan(&pending, &PlanState::default(), &config);
        assert_eq!(plan.sends, ws(&["c2"]));
    }

    #[test]
    fn nothing_pending_plans_nothing() {
        let state = PlanState {
            now_ms: 5,
            last_send_ms: Some(4),
            ..PlanState::default()
        };
        assert_eq!(plan(&[], &state, &PlanConfig::default()), Plan::default());
    }
}
