//! Fan-out of applied changes to a user's subscribed WebSocket connections.
//!
//! Each subscribed connection has a bounded queue. Publishing never waits: when a queue is
//! full the connection is "kicked" (its token is cancelled and it is dropped from the hub) and
//! closes itself; the client reconnects and catches up from its cursor. So a slow reader costs
//! at most its queue, never unbounded memory, and never slows the writer down. A queue is
//! bounded twice: by updates (`outbound_queue`) and by the bytes of their data
//! (`outbound_bytes`), so a few large updates kick a reader as surely as many small ones.
//!
//! A hub of a node among several on one database ([`Hub::clustered`], PostgreSQL) also
//! keeps, per connection, the seq up to which the connection has everything (its catch-up's
//! `sync_complete` seq, then what it was queued since), and queues only changes that follow
//! on from it, in seq order. A commit of this node that does not follow on (another node
//! committed in between), a poke from another node ([`Hub::poke`]) and a connection whose
//! catch-up ended before the last seq heard of all ask for a pull: [`crate::cluster`] reads
//! the changes after that seq from the database and hands them out with
//! [`Hub::publish_pulled`] (docs/server-choices.md, "Several nodes").

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use legato_protocol::{EntityType, UpdateData};
use tokio::sync::{Notify, mpsc};
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
    /// Clustered hub only: the connection has every change up to this seq (queued or sent),
    /// `None` until its catch-up ended ([`Subscription::caught_up`]).
    covered: Option<u64>,
}

/// A user's connections on this node.
#[derive(Debug, Default)]
struct Account {
    subscribers: Vec<Subscriber>,
    /// Clustered hub only: the highest seq of the user heard of (this node's commits and
    /// other nodes' pokes) since the account's first connection registered.
    heard: u64,
}

/// Users whose connections need changes read from the database (clustered hub only).
#[derive(Debug, Default)]
struct Pulls {
    wanted: Mutex<HashSet<UserId>>,
    wake: Notify,
}

/// An update in a queue, with the bytes it counts for.
#[derive(Debug)]
struct Queued {
    update: Arc<UpdateData>,
    bytes: usize,
}

#[derive(Debug)]
pub struct Hub {
    users: Mutex<HashMap<UserId, Account>>,
    next_id: AtomicU64,
    /// Most bytes of update data one connection's queue holds.
    max_bytes: usize,
    /// Set for a node among several on one database: see the module's docs.
    pulls: Option<Pulls>,
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

    /// The connection's catch-up sent everything up to `seq` (its `sync_complete`): from
    /// now on it is queued the changes after it (clustered hub; a no-op otherwise).
    pub fn caught_up(&self, seq: u64) {
        self.hub.caught_up(&self.user, self.id, seq);
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
            pulls: None,
        })
    }

    /// The hub of a node among several on one database: connections are queued only
    /// changes that follow on from what they have, and gaps become pulls (module docs).
    pub fn clustered(max_bytes: usize) -> Arc<Self> {
        Arc::new(Hub {
            users: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            max_bytes,
            pulls: Some(Pulls::default()),
        })
    }

    /// Whether this is a [`Hub::clustered`] hub.
    pub fn is_clustered(&self) -> bool {
        self.pulls.is_some()
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
            .subscribers
            .push(Subscriber {
                id,
                client_id: client_id.to_owned(),
                types: TypeSet::of(types),
                tx,
                kicked: kicked.clone(),
                queued: Arc::clone(&queued),
                covered: None,
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
        let Some(account) = users.get_mut(user) else {
            return;
        };
        let mut bytes = None;
        let max_bytes = self.max_bytes;
        account
            .subscribers
            .retain(|sub| offer(sub, update, &mut bytes, max_bytes, user));
        if account.subscribers.is_empty() {
            users.remove(user);
        }
    }

    /// Fans out the written changes of one commit of this node (`updates`: in seq order,
    /// consecutive seqs, as one transaction writes them). Not clustered: each is published.
    /// Clustered: a connection that has everything up to the seq before the first is queued
    /// them at once; one that lacks changes of another node before them asks for a pull
    /// (which brings these too); one still catching up gets them from [`Hub::caught_up`]'s
    /// pull. Never blocks.
    pub fn publish_commit(&self, user: &UserId, updates: &[Arc<UpdateData>]) {
        if !self.is_clustered() {
            for update in updates {
                self.publish(user, update);
            }
            return;
        }
        let (Some(first), Some(last)) = (updates.first(), updates.last()) else {
            return;
        };
        let before = first.seq.saturating_sub(1);
        let mut users = self.users.lock().expect("hub lock poisoned");
        let Some(account) = users.get_mut(user) else {
            return;
        };
        account.heard = account.heard.max(last.seq);
        let mut behind = false;
        let mut sizes = vec![None; updates.len()];
        let max_bytes = self.max_bytes;
        account.subscribers.retain_mut(|sub| {
            let Some(covered) = sub.covered else {
                return true;
            };
            if covered < before {
                behind = true;
                return true;
            }
            for (update, bytes) in updates.iter().zip(sizes.iter_mut()) {
                if update.seq > covered && !offer(sub, update, bytes, max_bytes, user) {
                    return false;
                }
            }
            sub.covered = Some(covered.max(last.seq));
            true
        });
        let empty = account.subscribers.is_empty();
        if empty {
            users.remove(user);
        }
        drop(users);
        if behind && !empty {
            self.want(user);
        }
    }

    /// Another node committed `user`'s changes up to `seq` (a hint: maybe stale, maybe one
    /// of several that were coalesced, maybe this node's own): a pull is asked for when a
    /// connection of the user lacks any of them. Clustered hub only.
    pub fn poke(&self, user: &UserId, seq: u64) {
        let mut users = self.users.lock().expect("hub lock poisoned");
        let Some(account) = users.get_mut(user) else {
            return;
        };
        account.heard = account.heard.max(seq);
        let lacking = account
            .subscribers
            .iter()
            .any(|sub| sub.covered.is_some_and(|covered| covered < seq));
        drop(users);
        if lacking {
            self.want(user);
        }
    }

    /// Asks for a pull of every user with a connection here (the pokes of a while may have
    /// been missed: the bus was down). Clustered hub only.
    pub fn poke_all(&self) {
        let users: Vec<UserId> = self
            .users
            .lock()
            .expect("hub lock poisoned")
            .keys()
            .cloned()
            .collect();
        for user in &users {
            self.want(user);
        }
    }

    fn caught_up(&self, user: &UserId, id: u64, seq: u64) {
        if !self.is_clustered() {
            return;
        }
        let mut users = self.users.lock().expect("hub lock poisoned");
        let Some(account) = users.get_mut(user) else {
            return;
        };
        if let Some(sub) = account.subscribers.iter_mut().find(|sub| sub.id == id)
            && sub.covered.is_none()
        {
            sub.covered = Some(seq);
        }
        let lacking = account.heard > seq;
        drop(users);
        if lacking {
            self.want(user);
        }
    }

    /// Where a pull of `user` starts: the least seq up to which a caught-up connection has
    /// everything; `None` when no connection of the user waits for changes.
    pub fn pull_from(&self, user: &UserId) -> Option<u64> {
        self.users
            .lock()
            .expect("hub lock poisoned")
            .get(user)?
            .subscribers
            .iter()
            .filter_map(|sub| sub.covered)
            .min()
    }

    /// Hands out a page a pull read: `updates`, the user's entities changed after `since`
    /// in seq order, and `upto`, the seq the page covers (its last entity's when more
    /// follow, else the user's latest seq in the page's snapshot). A connection that has
    /// everything up to some seq at or after `since` is queued the entities after that seq
    /// and then has everything up to `upto`; one further behind waits for another pull
    /// (asked for here). Never blocks.
    pub fn publish_pulled(
        &self,
        user: &UserId,
        since: u64,
        updates: &[Arc<UpdateData>],
        upto: u64,
    ) {
        let mut users = self.users.lock().expect("hub lock poisoned");
        let Some(account) = users.get_mut(user) else {
            return;
        };
        let mut behind = false;
        let mut sizes = vec![None; updates.len()];
        let max_bytes = self.max_bytes;
        account.subscribers.retain_mut(|sub| {
            let Some(covered) = sub.covered else {
                return true;
            };
            if covered < since {
                behind = true;
                return true;
            }
            for (update, bytes) in updates.iter().zip(sizes.iter_mut()) {
                if update.seq > covered && !offer(sub, update, bytes, max_bytes, user) {
                    return false;
                }
            }
            sub.covered = Some(covered.max(upto));
            true
        });
        let empty = account.subscribers.is_empty();
        if empty {
            users.remove(user);
        }
        drop(users);
        if behind && !empty {
            self.want(user);
        }
    }

    /// Users to pull, waiting until there is one. Clustered hub only (never resolves on
    /// another).
    pub async fn wanted(&self) -> Vec<UserId> {
        let Some(pulls) = &self.pulls else {
            return std::future::pending().await;
        };
        loop {
            {
                let mut wanted = pulls.wanted.lock().expect("hub pulls poisoned");
                if !wanted.is_empty() {
                    return wanted.drain().collect();
                }
            }
            // A `notify_one` with nobody waiting leaves a permit: no wake-up is lost.
            pulls.wake.notified().await;
        }
    }

    /// Asks for a pull of `user` (again: a failed pull). Clustered hub only.
    pub fn want(&self, user: &UserId) {
        if let Some(pulls) = &self.pulls {
            pulls
                .wanted
                .lock()
                .expect("hub pulls poisoned")
                .insert(user.clone());
            pulls.wake.notify_one();
        }
    }

    fn remove(&self, user: &UserId, id: u64) {
        let mut users = self.users.lock().expect("hub lock poisoned");
        if let Some(account) = users.get_mut(user) {
            account.subscribers.retain(|sub| sub.id != id);
            if account.subscribers.is_empty() {
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
            .map_or(0, |account| account.subscribers.len())
    }
}

/// Queues `update` for `sub` when it is subscribed to its type and is not the change's own
/// client (`bytes`: the update's size, worked out on first need); false when `sub` must leave
/// the hub (kicked for a full queue, or gone).
fn offer(
    sub: &Subscriber,
    update: &Arc<UpdateData>,
    bytes: &mut Option<usize>,
    max_bytes: usize,
    user: &UserId,
) -> bool {
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

    fn seqs(sub: &mut Subscription) -> Vec<u64> {
        std::iter::from_fn(|| sub.try_recv().map(|u| u.seq)).collect()
    }

    fn wanted_now(hub: &Hub) -> Vec<UserId> {
        futures_util::FutureExt::now_or_never(hub.wanted()).unwrap_or_default()
    }

    /// A clustered hub queues a connection only what follows on from what it has, in seq
    /// order; a gap (another node's commit in between) asks for a pull instead, and the pull
    /// brings the missing changes and the held-back ones, once each.
    #[test]
    fn a_clustered_hub_queues_in_order_and_pulls_gaps() {
        let hub = Hub::clustered(DEFAULT_OUTBOUND_BYTES);
        let ann = UserId("ann".into());
        let mut laptop = hub.subscribe(&ann, "laptop", &[], 64);
        // Still catching up: nothing is queued, but the seq is heard of.
        hub.publish_commit(&ann, &[update("phone", EntityType::Goals, 3)]);
        assert!(seqs(&mut laptop).is_empty());
        assert!(wanted_now(&hub).is_empty());
        // Its catch-up ended at 2: seq 3 is missing, so a pull is asked for.
        laptop.caught_up(2);
        assert_eq!(wanted_now(&hub), vec![ann.clone()]);
        assert_eq!(hub.pull_from(&ann), Some(2));
        hub.publish_pulled(&ann, 2, &[update("phone", EntityType::Goals, 3)], 3);
        assert_eq!(seqs(&mut laptop), vec![3]);
        // A commit following on goes out at once.
        hub.publish_commit(
            &ann,
            &[
                update("phone", EntityType::Goals, 4),
                update("phone", EntityType::Goals, 5),
            ],
        );
        assert_eq!(seqs(&mut laptop), vec![4, 5]);
        // Another node committed 6 (its poke may be late); this node's 7 must wait.
        hub.publish_commit(&ann, &[update("phone", EntityType::Goals, 7)]);
        assert!(seqs(&mut laptop).is_empty(), "7 before 6 would lose 6");
        assert_eq!(wanted_now(&hub), vec![ann.clone()]);
        // The late poke, own or stale pokes: nothing to do, or a pull.
        hub.poke(&ann, 5);
        assert!(wanted_now(&hub).is_empty(), "a stale poke pulls nothing");
        hub.poke(&ann, 6);
        assert_eq!(wanted_now(&hub), vec![ann.clone()]);
        // The pull reads 6 and 7 in one page, the next one nothing more.
        assert_eq!(hub.pull_from(&ann), Some(5));
        hub.publish_pulled(
            &ann,
            5,
            &[
                update("phone", EntityType::Goals, 6),
                update("phone", EntityType::Goals, 7),
            ],
            7,
        );
        assert_eq!(seqs(&mut laptop), vec![6, 7]);
        hub.publish_pulled(&ann, 7, &[], 7);
        hub.publish_commit(&ann, &[update("phone", EntityType::Goals, 7)]);
        assert!(seqs(&mut laptop).is_empty(), "never twice");
        hub.poke_all();
        assert_eq!(wanted_now(&hub), vec![ann.clone()]);
    }

    /// A page read from a seq after what a connection has is not for it: it waits for a
    /// pull from its own seq. A connection's own client's changes still move its seq on.
    #[test]
    fn a_pulled_page_reaches_only_connections_it_follows_on_from() {
        let hub = Hub::clustered(DEFAULT_OUTBOUND_BYTES);
        let ann = UserId("ann".into());
        let mut ahead = hub.subscribe(&ann, "ahead", &[], 64);
        let mut behind = hub.subscribe(&ann, "behind", &[], 64);
        ahead.caught_up(10);
        behind.caught_up(4);
        let _ = wanted_now(&hub);
        assert_eq!(hub.pull_from(&ann), Some(4));
        hub.publish_pulled(&ann, 10, &[update("x", EntityType::Goals, 11)], 11);
        assert_eq!(seqs(&mut ahead), vec![11]);
        assert!(seqs(&mut behind).is_empty());
        assert_eq!(
            wanted_now(&hub),
            vec![ann.clone()],
            "the one behind is pulled"
        );
        hub.publish_pulled(
            &ann,
            4,
            &[
                update("x", EntityType::Goals, 8),
                update("behind", EntityType::Goals, 9),
                update("x", EntityType::Goals, 11),
            ],
            11,
        );
        assert!(seqs(&mut ahead).is_empty(), "already has up to 11");
        assert_eq!(
            seqs(&mut behind),
            vec![8, 11],
            "its own change 9 is not sent"
        );
        hub.publish_commit(&ann, &[update("behind", EntityType::Goals, 12)]);
        assert_eq!(seqs(&mut ahead), vec![12]);
        assert!(seqs(&mut behind).is_empty());
        hub.publish_commit(&ann, &[update("x", EntityType::Goals, 13)]);
        assert_eq!(seqs(&mut behind), vec![13], "its own 12 moved it on");
    }
}
