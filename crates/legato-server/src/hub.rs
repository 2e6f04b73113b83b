//! Fan-out of applied changes to a user's subscribed WebSocket connections.
//!
//! Each subscribed connection has a bounded queue. Publishing never waits: when a queue is
//! full the connection is "kicked" (its token is cancelled and it is dropped from the hub) and
//! closes itself; the client reconnects and catches up from its cursor. So a slow reader costs
//! at most its queue, never unbounded memory, and never slows the writer down. A queue is
//! bounded twice: by updates (`outbound_queue`) and by the bytes of their data
//! (`outbound_bytes`), so a few large updates kick a reader as surely as many small ones.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use legato_protocol::{EntityType, UpdateData};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::db::UserId;

/// The set of entity types a connection subscribed to (empty list: all types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeSet(u8);

impl TypeSet {
    pub fn of(types: &[EntityType]) -> Self {
        if types.is_empty() {
            return TypeSet(u8::MAX);
        }
        TypeSet(types.iter().fold(0, |bits, t| bits | Self::bit(*t)))
    }

    fn bit(t: EntityType) -> u8 {
        match t {
            EntityType::Logbook => 1,
            EntityType::Repertoire => 2,
            EntityType::Goals => 4,
        }
    }

    pub fn contains(self, t: EntityType) -> bool {
        self.0 & Self::bit(t) != 0
    }
}

#[derive(Debug)]
struct Subscriber {
    id: u64,
    client_id: String,
    types: TypeSet,
    tx: mpsc::Sender<Queued>,
    kicked: CancellationToken,
    /// Bytes of the updates in the queue.
    queued: Arc<AtomicUsize>,
}

/// An update in a queue, with the bytes it counts for.
#[derive(Debug)]
struct Queued {
    update: Arc<UpdateData>,
    bytes: usize,
}

#[derive(Debug)]
pub struct Hub {
    users: Mutex<HashMap<UserId, Vec<Subscriber>>>,
    next_id: AtomicU64,
    /// Most bytes of update data one connection's queue holds.
    max_bytes: usize,
}

/// Default of `outbound_bytes`: 8 MiB per connection.
pub const DEFAULT_OUTBOUND_BYTES: usize = 8 * 1024 * 1024;

/// Bytes an update counts for in a queue: its data's JSON and a fixed envelope.
fn update_bytes(update: &UpdateData) -> usize {
    const ENVELOPE: usize = 256;
    crate::apply::serialized_len(&update.data).saturating_add(ENVELOPE)
}

/// A connection's registration. Dropping it unregisters the connection.
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<Hub>,
    user: UserId,
    id: u64,
    updates: mpsc::Receiver<Queued>,
    queued: Arc<AtomicUsize>,
    /// Cancelled when the queue overflowed: the connection must close.
    pub kicked: CancellationToken,
}

impl Subscription {
    /// The next queued update; `None` once the hub dropped this connection.
    pub async fn recv(&mut self) -> Option<Arc<UpdateData>> {
        let queued = self.updates.recv().await?;
        Some(self.taken(queued))
    }

    /// The next queued update if there is one now.
    pub fn try_recv(&mut self) -> Option<Arc<UpdateData>> {
        let queued = self.updates.try_recv().ok()?;
        Some(self.taken(queued))
    }

    fn taken(&self, queued: Queued) -> Arc<UpdateData> {
        self.queued.fetch_sub(queued.bytes, Ordering::Relaxed);
        queued.update
    }

    /// Bytes of the updates waiting in the queue.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.remove(&self.user, self.id);
    }
}

impl Hub {
    pub fn new() -> Arc<Self> {
        Hub::with_byte_limit(DEFAULT_OUTBOUND_BYTES)
    }

    /// A hub whose connections each queue at most `max_bytes` of updates (at least one
    /// update always fits, however large).
    pub fn with_byte_limit(max_bytes: usize) -> Arc<Self> {
        Arc::new(Hub {
            users: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            max_bytes,
        })
    }

    /// Registers a connection of `user` whose hello said `client_id`, for `types`, with a
    /// queue of `capacity` updates.
    pub fn subscribe(
        self: &Arc<Self>,
        user: &UserId,
        client_id: &str,
        types: &[EntityType],
        capacity: usize,
    ) -> Subscription {
        let (tx, updates) = mpsc::channel(capacity.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let kicked = CancellationToken::new();
        let queued = Arc::new(AtomicUsize::new(0));
        self.users
            .lock()
            .expect("hub lock poisoned")
            .entry(user.clone())
            .or_default()
            .push(Subscriber {
                id,
                client_id: client_id.to_owned(),
                types: TypeSet::of(types),
                tx,
                kicked: kicked.clone(),
                queued: Arc::clone(&queued),
            });
        Subscription {
            hub: Arc::clone(self),
            user: user.clone(),
            id,
            updates,
            queued,
            kicked,
        }
    }

    /// Queues `update` for every connection of `user` subscribed to its type, except those
    /// whose hello clientId is the change's own. Never blocks.
    pub fn publish(&self, user: &UserId, update: &Arc<UpdateData>) {
        let mut users = self.users.lock().expect("hub lock poisoned");
        let Some(subscribers) = users.get_mut(user) else {
            return;
        };
        let mut bytes = None;
        let max_bytes = self.max_bytes;
        subscribers.retain(|sub| {
            if sub.client_id == update.client_id || !sub.types.contains(update.entity_type) {
                return true;
            }
            let bytes = *bytes.get_or_insert_with(|| update_bytes(update));
            let queued = sub.queued.load(Ordering::Relaxed);
            if queued > 0 && queued.saturating_add(bytes) > max_bytes {
                tracing::warn!(user_id = %user, queued, "outbound bytes full; closing the slow connection");
                sub.kicked.cancel();
                return false;
            }
            let item = Queued {
                update: Arc::clone(update),
                bytes,
            };
            match sub.tx.try_send(item) {
                Ok(()) => {
                    sub.queued.fetch_add(bytes, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(user_id = %user, "outbound queue full; closing the slow connection");
                    sub.kicked.cancel();
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        if subscribers.is_empty() {
            users.remove(user);
        }
    }

    fn remove(&self, user: &UserId, id: u64) {
        let mut users = self.users.lock().expect("hub lock poisoned");
        if let Some(subscribers) = users.get_mut(user) {
            subscribers.retain(|sub| sub.id != id);
            if subscribers.is_empty() {
                users.remove(user);
            }
        }
    }

    /// Registered connections of `user` (for tests and diagnostics).
    pub fn subscriber_count(&self, user: &UserId) -> usize {
        self.users
            .lock()
            .expect("hub lock poisoned")
            .get(user)
            .map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use legato_protocol::{EntityId, Fields};

    use super::*;

    fn update(client: &str, t: EntityType, seq: u64) -> Arc<UpdateData> {
        Arc::new(UpdateData {
            entity_type: t,
            entity_id: EntityId::new("e1").unwrap(),
            data: Fields::new(),
            version: seq,
            deleted: false,
            seq,
            timestamp: 0,
            user_id: "ann".into(),
            client_id: client.into(),
            change_id: format!("c{seq}"),
            full: false,
        })
    }

    #[test]
    fn routes_by_user_type_and_client() {
        let hub = Hub::new();
        let ann = UserId("ann".into());
        let bob = UserId("bob".into());
        let mut laptop = hub.subscribe(&ann, "laptop", &[], 8);
        let mut phone = hub.subscribe(&ann, "phone", &[EntityType::Goals], 8);
        let mut bobs = hub.subscribe(&bob, "laptop", &[], 8);

        hub.publish(&ann, &update("phone", EntityType::Logbook, 1));
        hub.publish(&ann, &update("laptop", EntityType::Goals, 2));
        hub.publish(&ann, &update("tablet", EntityType::Goals, 3));

        assert_eq!(laptop.try_recv().unwrap().seq, 1);
        assert_eq!(laptop.try_recv().unwrap().seq, 3);
        assert!(laptop.try_recv().is_none());
        assert_eq!(phone.try_recv().unwrap().seq, 2);
        assert_eq!(phone.try_recv().unwrap().seq, 3);
        assert!(phone.try_recv().is_none(), "logbook is not subscribed");
        assert!(bobs.try_recv().is_none(), "never another user's changes");
    }

    #[test]
    fn overflow_kicks_only_the_slow_connection() {
        let hub = Hub::new();
        let ann = UserId("ann".into());
        let slow = hub.subscribe(&ann, "slow", &[], 2);
        let mut fast = hub.subscribe(&ann, "fast", &[], 16);
        for seq in 1..=3 {
            hub.publish(&ann, &update("other", EntityType::Goals, seq));
            while let Some(u) = fast.try_recv() {
                assert_eq!(u.seq, seq);
            }
        }
        assert!(slow.kicked.is_cancelled());
        assert!(!fast.kicked.is_cancelled());
        assert_eq!(hub.subscriber_count(&ann), 1);
        drop(fast);
        drop(slow);
        assert_eq!(hub.subscriber_count(&ann), 0);
        assert!(hub.users.lock().unwrap().is_empty());
    }

    /// A few large updates fill a queue by bytes long before its count: the reader is
    /// kicked, one that reads in time is not, and reading gives the bytes back.
    #[test]
    fn a_queue_is_bounded_by_bytes_too() {
        let hub = Hub::with_byte_limit(10_000);
        let ann = UserId("ann".into());
        let large = |seq| {
            let mut update = Arc::unwrap_or_clone(update("other", EntityType::Goals, seq));
            update
                .data
                .insert("notes".into(), serde_json::json!("x".repeat(4_000)));
            Arc::new(update)
        };
        let slow = hub.subscribe(&ann, "slow", &[], 1024);
        let mut reader = hub.subscribe(&ann, "reader", &[], 1024);
        hub.publish(&ann, &large(1));
        hub.publish(&ann, &large(2));
        assert!(!slow.kicked.is_cancelled());
        assert!(slow.queued_bytes() > 8_000 && slow.queued_bytes() <= 10_000);
        assert_eq!(reader.try_recv().unwrap().seq, 1);
        assert_eq!(reader.try_recv().unwrap().seq, 2);
        assert_eq!(reader.queued_bytes(), 0);
        hub.publish(&ann, &large(3));
        assert!(
            slow.kicked.is_cancelled(),
            "three large updates are over 10 000 bytes"
        );
        assert!(!reader.kicked.is_cancelled());
        assert_eq!(hub.subscriber_count(&ann), 1);

        // One update larger than the whole limit still reaches an empty queue.
        let huge = {
            let mut update = Arc::unwrap_or_clone(update("other", EntityType::Goals, 4));
            update
                .data
                .insert("notes".into(), serde_json::json!("y".repeat(50_000)));
            Arc::new(update)
        };
        assert_eq!(reader.try_recv().unwrap().seq, 3);
        hub.publish(&ann, &huge);
        assert_eq!(reader.try_recv().unwrap().seq, 4);
    }
}
