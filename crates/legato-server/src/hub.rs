//! Fan-out of applied changes to a user's subscribed WebSocket connections.
//!
//! Each subscribed connection has a bounded queue. Publishing never waits: when a queue is
//! full the connection is "kicked" (its token is cancelled and it is dropped from the hub) and
//! closes itself; the client reconnects and catches up from its cursor. So a slow reader costs
//! at most its queue, never unbounded memory, and never slows the writer down.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
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
    tx: mpsc::Sender<Arc<UpdateData>>,
    kicked: CancellationToken,
}

#[derive(Debug, Default)]
pub struct Hub {
    users: Mutex<HashMap<UserId, Vec<Subscriber>>>,
    next_id: AtomicU64,
}

/// A connection's registration. Dropping it unregisters the connection.
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<Hub>,
    user: UserId,
    id: u64,
    pub updates: mpsc::Receiver<Arc<UpdateData>>,
    /// Cancelled when the queue overflowed: the connection must close.
    pub kicked: CancellationToken,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.remove(&self.user, self.id);
    }
}

impl Hub {
    pub fn new() -> Arc<Self> {
        Arc::new(Hub::default())
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
            });
        Subscription {
            hub: Arc::clone(self),
            user: user.clone(),
            id,
            updates,
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
        subscribers.retain(|sub| {
            if sub.client_id == update.client_id || !sub.types.contains(update.entity_type) {
                return true;
            }
            match sub.tx.try_send(Arc::clone(update)) {
                Ok(()) => true,
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

        assert_eq!(laptop.updates.try_recv().unwrap().seq, 1);
        assert_eq!(laptop.updates.try_recv().unwrap().seq, 3);
        assert!(laptop.updates.try_recv().is_err());
        assert_eq!(phone.updates.try_recv().unwrap().seq, 2);
        assert_eq!(phone.updates.try_recv().unwrap().seq, 3);
        assert!(
            phone.updates.try_recv().is_err(),
            "logbook is not subscribed"
        );
        assert!(
            bobs.updates.try_recv().is_err(),
            "never another user's changes"
        );
    }

    #[test]
    fn overflow_kicks_only_the_slow_connection() {
        let hub = Hub::new();
        let ann = UserId("ann".into());
        let slow = hub.subscribe(&ann, "slow", &[], 2);
        let mut fast = hub.subscribe(&ann, "fast", &[], 16);
        for seq in 1..=3 {
            hub.publish(&ann, &update("other", EntityType::Goals, seq));
            while let Ok(u) = fast.updates.try_recv() {
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
}
